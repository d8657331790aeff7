package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestQueue() (*Queue, *fakeClock) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return NewQueue(QueueConfig{Now: clock.Now}), clock
}

func keys(ps []QueuedPod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

// popNow pops what is ready without waiting.
func popNow(t *testing.T, q *Queue, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	return keys(q.PopBatch(ctx, n))
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueueOrder(t *testing.T) {
	q, clock := newTestQueue()
	t0 := clock.Now()
	q.Add(QueuedPod{Key: "ns/old-low", Created: t0})
	q.Add(QueuedPod{Key: "ns/new-high", Priority: 100, Created: t0.Add(2 * time.Second)})
	q.Add(QueuedPod{Key: "ns/new-low", Created: t0.Add(time.Second)})
	q.Add(QueuedPod{Key: "ns/old-high", Priority: 100, Created: t0.Add(time.Second)})
	if got, want := popNow(t, q, 10), []string{"ns/old-high", "ns/new-high", "ns/old-low", "ns/new-low"}; !equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	// An update changes a queued pod's place.
	q2, _ := newTestQueue()
	q2.Add(QueuedPod{Key: "a", Created: t0})
	q2.Add(QueuedPod{Key: "b", Created: t0.Add(time.Second)})
	q2.Add(QueuedPod{Key: "b", Priority: 5, Created: t0.Add(time.Second)})
	if got := popNow(t, q2, 1); !equal(got, []string{"b"}) {
		t.Fatalf("after a priority raise: %v", got)
	}
}

func TestQueueBackoff(t *testing.T) {
	q, clock := newTestQueue()
	q.Add(QueuedPod{Key: "p"})
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := popNow(t, q, 1); !equal(got, []string{"p"}) {
			t.Fatalf("attempt %d: popped %v", i, got)
		}
		q.Requeue("p")
		clock.Advance(want - time.Millisecond)
		if got := popNow(t, q, 1); len(got) != 0 {
			t.Fatalf("attempt %d: ready before its %v backoff", i, want)
		}
		clock.Advance(time.Millisecond)
	}
}

func TestQueueUnschedulable(t *testing.T) {
	q, clock := newTestQueue()
	q.Add(QueuedPod{Key: "p"})
	popNow(t, q, 1)
	q.Unschedulable("p")
	clock.Advance(time.Minute)
	if got := popNow(t, q, 1); len(got) != 0 {
		t.Fatal("an unschedulable pod came back without an event")
	}
	if _, _, u := q.Len(); u != 1 {
		t.Fatalf("unschedulable count %d", u)
	}
	q.MoveAll()
	if got := popNow(t, q, 1); !equal(got, []string{"p"}) {
		t.Fatalf("after an event: %v", got)
	}
	// An event during the attempt: the pod goes back at once, not to wait.
	q.MoveAll()
	q.Unschedulable("p")
	clock.Advance(2 * time.Second)
	if got := popNow(t, q, 1); !equal(got, []string{"p"}) {
		t.Fatalf("after an event during the attempt: %v", got)
	}
	// A pod changed during its attempt is retried too.
	q.Add(QueuedPod{Key: "p", Priority: 1})
	q.Unschedulable("p")
	clock.Advance(4 * time.Second)
	if got := popNow(t, q, 1); !equal(got, []string{"p"}) {
		t.Fatalf("after an update during the attempt: %v", got)
	}
	// Without any event, it is retried after UnschedulableWait.
	q.Unschedulable("p")
	clock.Advance(5*time.Minute + time.Second)
	if got := popNow(t, q, 1); !equal(got, []string{"p"}) {
		t.Fatalf("after the unschedulable wait: %v", got)
	}
}

func TestQueueDelete(t *testing.T) {
	q, _ := newTestQueue()
	q.Add(QueuedPod{Key: "queued"})
	q.Add(QueuedPod{Key: "flying"})
	q.Delete("queued")
	if got := popNow(t, q, 5); !equal(got, []string{"flying"}) {
		t.Fatalf("popped %v", got)
	}
	q.Delete("flying") // bound by someone else while we tried
	q.Requeue("flying")
	if a, b, u := q.Len(); a+b+u != 0 {
		t.Fatalf("a deleted pod came back: %d %d %d", a, b, u)
	}
}

func TestQueueWaits(t *testing.T) {
	q, _ := newTestQueue()
	got := make(chan []QueuedPod, 1)
	go func() { got <- q.PopBatch(context.Background(), 4) }()
	time.Sleep(20 * time.Millisecond)
	q.Add(QueuedPod{Key: "late"})
	select {
	case ps := <-got:
		if !equal(keys(ps), []string{"late"}) {
			t.Fatalf("popped %v", keys(ps))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PopBatch did not wake for an added pod")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.PopBatch(ctx, 1); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("PopBatch ignored its context")
	}
}
