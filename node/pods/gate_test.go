package pods

import (
	"context"
	"testing"
	"time"
)

func TestStartGateOrder(t *testing.T) {
	g := newStartGate(1, time.Hour)
	ctx := context.Background()
	first, _, err := g.acquire(ctx, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan uint64, 3)
	for _, prio := range []uint64{9, 3, 7} {
		go func() {
			rel, _, err := g.acquire(ctx, prio, nil)
			if err != nil {
				t.Error(err)
				return
			}
			got <- prio
			rel()
		}()
		// Queued one after the other, so that order comes from prio alone.
		for !waiting(g, prio) {
			time.Sleep(time.Millisecond)
		}
	}
	first()
	first() // a second release is a no-op
	for _, want := range []uint64{3, 7, 9} {
		if p := <-got; p != want {
			t.Fatalf("turn went to prio %d, want %d", p, want)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.free != 1 || len(g.waiters) != 0 {
		t.Fatalf("free=%d waiters=%d after all released, want 1 and 0", g.free, len(g.waiters))
	}
}

func TestStartGateLeaseExpires(t *testing.T) {
	g := newStartGate(1, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := g.acquire(ctx, 1, nil); err != nil { // never released
		t.Fatal(err)
	}
	rel, _, err := g.acquire(ctx, 2, nil)
	if err != nil {
		t.Fatalf("slot of a hung holder never came back: %v", err)
	}
	rel()
}

func TestStartGateWakeAndCancel(t *testing.T) {
	g := newStartGate(1, time.Hour)
	hold, _, _ := g.acquire(context.Background(), 1, nil)
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	if rel, woke, err := g.acquire(context.Background(), 2, wake); !woke || rel != nil || err != nil {
		t.Fatalf("acquire with a pending wake-up: woke=%v err=%v, want woke and no slot", woke, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := g.acquire(ctx, 3, nil); err == nil {
		t.Fatal("acquire with a cancelled context got a slot")
	}
	hold()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.free != 1 || len(g.waiters) != 0 {
		t.Fatalf("free=%d waiters=%d, want 1 and 0: abandoned waits must leave the queue", g.free, len(g.waiters))
	}
}

func waiting(g *startGate, prio uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.waiters {
		if w.prio == prio {
			return true
		}
	}
	return false
}
