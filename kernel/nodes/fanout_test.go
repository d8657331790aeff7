package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/nodelink"
	"weft.dev/weft/store"
)

const fanPrefix = "/pods/"

func fanStore(t *testing.T) *store.DB {
	t.Helper()
	st, err := store.Open("/db", store.Options{FS: vfs.NewMem(), Logger: slog.New(slog.DiscardHandler), ProgressInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func fanDecode(kv store.KV) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(kv.Value, &u.Object); err != nil {
		return nil, err
	}
	u.SetResourceVersion(strconv.FormatInt(kv.ModRevision, 10))
	return u, nil
}

func nodeNameKey(u *unstructured.Unstructured) string {
	n, _, _ := unstructured.NestedString(u.Object, "spec", "nodeName")
	return n
}

func fanPod(name, node string, gen int) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"name": name, "generation": gen}, "spec": map[string]any{"nodeName": node}})
	return b
}

// seen is what one subscriber received, bookmarks left out.
type seen struct {
	mu     sync.Mutex
	events []string
	last   uint64
}

func (s *seen) send(ev nodelink.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = ev.Revision
	if ev.Type == nodelink.Bookmark {
		return nil
	}
	var u unstructured.Unstructured
	if err := json.Unmarshal(ev.Object, &u.Object); err != nil {
		return err
	}
	if u.GetResourceVersion() != strconv.FormatUint(ev.Revision, 10) {
		return fmt.Errorf("event at %d carries resourceVersion %s", ev.Revision, u.GetResourceVersion())
	}
	s.events = append(s.events, fmt.Sprintf("%d %s %s", ev.Revision, ev.Type, u.GetName()))
	return nil
}

// await waits until s has seen exactly want, failing at deadline.
func (s *seen) await(t *testing.T, who string, want []string, deadline time.Time) {
	t.Helper()
	for {
		got, _ := s.get()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s saw %v, want %v", who, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *seen) get() ([]string, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events), s.last
}

// fanModel is a field-selected watch per node, worked out from the writes.
type fanModel struct {
	where  map[string]string // pod -> node ("" unbound)
	events map[string][]string
	revs   map[string][]int64
}

func (m *fanModel) record(node string, rev int64, typ nodelink.EventType, name string) {
	if node == "" {
		return
	}
	m.events[node] = append(m.events[node], fmt.Sprintf("%d %s %s", rev, typ, name))
	m.revs[node] = append(m.revs[node], rev)
}

func (m *fanModel) after(node string, rev int64) []string {
	var out []string
	for i, r := range m.revs[node] {
		if r > rev {
			out = append(out, m.events[node][i])
		}
	}
	return out
}

// TestFanoutMatchesPerNodeWatches drives random pod writes (creates, binds, moves,
// updates, deletes) and checks that every node's subscription, including one started
// late from a past revision and one dropped for not reading, sees exactly what a
// field-selected watch of spec.nodeName would have shown it.
func TestFanoutMatchesPerNodeWatches(t *testing.T) {
	st := fanStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A pod that exists before the fanout starts: its first update must still be
	// attributed to the node it was on.
	pre, err := st.Create(ctx, fanPrefix+"pre", fanPod("pre", "n0", 0))
	if err != nil {
		t.Fatal(err)
	}
	f := newFanout(slog.New(slog.DiscardHandler), st, fanPrefix, fanDecode, nodeNameKey)
	f.subBuffer = 8
	f.bookmarkAge = 0 // idle subscribers are followed to the end below
	if err := f.start(ctx); err != nil {
		t.Fatal(err)
	}
	start := pre.ModRevision
	nodes := []string{"n0", "n1", "n2"}
	subs := map[string]*seen{}
	var wg sync.WaitGroup
	// serve follows a node's watch as the node's client does: a subscriber dropped
	// for falling behind asks again from the last revision it took.
	serve := func(node string, from int64, s *seen) {
		sub, err := f.subscribe(node, from)
		if err != nil {
			t.Fatalf("subscribe %s from %d: %v", node, from, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := f.serve(ctx, sub, s.send); err != nil {
					t.Errorf("serve %s: %v", node, err)
					return
				}
				if ctx.Err() != nil {
					return
				}
				_, last := s.get()
				if last == 0 {
					last = uint64(from)
				}
				if sub, err = f.subscribe(node, int64(last)); err != nil {
					t.Errorf("resubscribe %s from %d: %v", node, last, err)
					return
				}
			}
		}()
	}
	for _, n := range nodes {
		subs[n] = &seen{}
		serve(n, start, subs[n])
	}
	// n0's second subscriber reads nothing until the end, so it is dropped.
	stuck := &seen{}
	stuckSub, err := f.subscribe("n0", start)
	if err != nil {
		t.Fatal(err)
	}

	m := &fanModel{where: map[string]string{"pre": "n0"}, events: map[string][]string{}, revs: map[string][]int64{}}
	rng := rand.New(rand.NewPCG(1, 2))
	var mid int64
	for i := range 400 {
		name := fmt.Sprintf("p%d", rng.IntN(12))
		if i < 5 {
			name = "pre"
		}
		cur, exists := m.where[name]
		target := []string{"", "n0", "n1", "n2"}[rng.IntN(4)]
		switch {
		case !exists:
			kv, err := st.Create(ctx, fanPrefix+name, fanPod(name, target, i))
			if err != nil {
				t.Fatal(err)
			}
			m.where[name] = target
			m.record(target, kv.ModRevision, nodelink.Added, name)
		case rng.IntN(5) == 0:
			_, rev, err := st.Delete(ctx, fanPrefix+name, 0)
			if err != nil {
				t.Fatal(err)
			}
			delete(m.where, name)
			m.record(cur, rev, nodelink.Deleted, name)
		default:
			if rng.IntN(2) == 0 {
				target = cur // an update that stays on its node
			}
			kv, err := st.Update(ctx, fanPrefix+name, fanPod(name, target, i), 0)
			if err != nil {
				t.Fatal(err)
			}
			m.where[name] = target
			if cur == target {
				m.record(cur, kv.ModRevision, nodelink.Modified, name)
			} else {
				m.record(cur, kv.ModRevision, nodelink.Deleted, name)
				m.record(target, kv.ModRevision, nodelink.Added, name)
			}
		}
		if i == 200 {
			mid = st.CurrentRevision()
		}
	}
	// Late subscribers, from a past revision and from now.
	late, now := &seen{}, &seen{}
	serve("n1", mid, late)
	serve("n2", st.CurrentRevision(), now)

	final := st.CurrentRevision()
	waitFor := func(s *seen, rev int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, last := s.get(); int64(last) >= rev {
				return
			}
			if time.Now().After(deadline) {
				_, last := s.get()
				t.Fatalf("subscriber stuck at %d, want %d", last, rev)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, n := range nodes {
		waitFor(subs[n], final) // bookmarks carry idle subscribers to the end
		got, _ := subs[n].get()
		if want := m.after(n, start); !slices.Equal(got, want) {
			t.Errorf("%s saw\n%v\nwant\n%v", n, got, want)
		}
	}
	waitFor(late, final)
	if got, want := must(late.get()), m.after("n1", mid); !slices.Equal(got, want) {
		t.Errorf("late n1 saw\n%v\nwant\n%v", got, want)
	}
	if got := must(now.get()); len(got) != 0 {
		t.Errorf("a subscriber from the current revision saw %v", got)
	}

	// The stuck subscriber was dropped; serving it delivers what it had queued, then
	// ends, and resuming from there yields the rest with no gap and no duplicate.
	f.mu.Lock()
	dropped := stuckSub.dropped
	f.mu.Unlock()
	if !dropped {
		t.Fatal("a subscriber that never read was not dropped")
	}
	if err := f.serve(ctx, stuckSub, stuck.send); err != nil {
		t.Fatal(err)
	}
	_, last := stuck.get()
	resumed, err := f.subscribe("n0", int64(last))
	if err != nil {
		t.Fatalf("resume from %d: %v", last, err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = f.serve(ctx, resumed, stuck.send) }()
	waitFor(stuck, final)
	if got, want := must(stuck.get()), m.after("n0", start); !slices.Equal(got, want) {
		t.Errorf("dropped and resumed n0 saw\n%v\nwant\n%v", got, want)
	}
	cancel()
	wg.Wait()
}

func must[T any](v T, _ uint64) T { return v }

// TestFanoutRingAndBroadcast: a kind without a key goes to every subscriber; a
// revision older than the ring is refused, so the caller reads history instead.
func TestFanoutRingAndBroadcast(t *testing.T) {
	st := fanStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := st.CurrentRevision()
	if _, err := st.Create(ctx, fanPrefix+"old", fanPod("old", "", 0)); err != nil {
		t.Fatal(err)
	}
	f := newFanout(slog.New(slog.DiscardHandler), st, fanPrefix, fanDecode, nil)
	if err := f.start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.subscribe("", before); err != errTooOld {
		t.Fatalf("subscribe from before the fanout started: %v", err)
	}
	a, b := &seen{}, &seen{}
	for _, s := range []*seen{a, b} {
		sub, err := f.subscribe("", st.CurrentRevision())
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = f.serve(ctx, sub, s.send) }()
	}
	kv, _ := st.Update(ctx, fanPrefix+"old", fanPod("old", "x", 1), 0)
	kv2, _ := st.Create(ctx, fanPrefix+"new", fanPod("new", "", 0))
	_, rev, _ := st.Delete(ctx, fanPrefix+"old", 0)
	want := []string{
		fmt.Sprintf("%d MODIFIED old", kv.ModRevision),
		fmt.Sprintf("%d ADDED new", kv2.ModRevision),
		fmt.Sprintf("%d DELETED old", rev),
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range []*seen{a, b} {
		s.await(t, "a subscriber", want, deadline)
	}

	// Push the first revisions out of the ring.
	r := fanRing{}
	for i := range fanRingEvents + 10 {
		r.push(fanEntry{rev: int64(i/2 + 1)})
	}
	if r.len() > fanRingEvents || r.evicted == 0 || r.at(0).rev != r.evicted+1 {
		t.Fatalf("ring: %d entries, evicted through %d, oldest %d", r.len(), r.evicted, r.at(0).rev)
	}
}

// TestBookmarkOnlyWhenNeeded: a quiet subscriber gets a bookmark only once the ring is
// about to evict its resume point, or once it has been sent nothing for bookmarkAge.
func TestBookmarkOnlyWhenNeeded(t *testing.T) {
	f := newFanout(slog.New(slog.DiscardHandler), nil, fanPrefix, fanDecode, nil)
	sub := func(key string, age time.Duration) *fanSub {
		s := &fanSub{key: key, wake: make(chan struct{}, 1), sentRev: 10, sentAt: time.Now().Add(-age)}
		f.subs[key] = map[*fanSub]struct{}{s: {}}
		return s
	}
	fresh, quiet := sub("fresh", time.Second), sub("quiet", 2*f.bookmarkAge)
	for i := range 20 {
		f.ring.push(fanEntry{rev: int64(i + 1)})
	}
	f.rev = 20
	f.bookmark()
	if len(fresh.queue) != 0 {
		t.Fatalf("a subscriber sent something a second ago was bookmarked: %v", fresh.queue)
	}
	if len(quiet.queue) != 1 || quiet.queue[0].Type != nodelink.Bookmark || quiet.queue[0].Revision != 20 {
		t.Fatalf("a subscriber sent nothing for %v got %v, want one bookmark at 20", 2*f.bookmarkAge, quiet.queue)
	}
	quiet.queue = nil
	f.bookmark()
	if len(quiet.queue) != 0 {
		t.Fatalf("bookmarked again right after a bookmark: %v", quiet.queue)
	}
	// Fill the ring past half: fresh's resume point is now in the half evicted first.
	for i := range fanRingEvents / 2 {
		f.ring.push(fanEntry{rev: int64(21 + i)})
	}
	f.rev = int64(20 + fanRingEvents/2)
	f.bookmark()
	if len(fresh.queue) != 1 || fresh.queue[0].Revision != uint64(f.rev) {
		t.Fatalf("a subscriber about to fall out of the ring got %v, want a bookmark at %d", fresh.queue, f.rev)
	}
}

// TestFanoutLeavesOutEchoes: a node is not sent the version its own expected status
// write made, and is sent everything else: a write by someone else on the version it
// named, a status the store holds otherwise than written, a write after withdrawal,
// and the echo itself on a replay from the ring.
func TestFanoutLeavesOutEchoes(t *testing.T) {
	st := fanStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFanout(slog.New(slog.DiscardHandler), st, fanPrefix, fanDecode, nodeNameKey)
	if err := f.start(ctx); err != nil {
		t.Fatal(err)
	}
	from := st.CurrentRevision()
	n1, other := &seen{}, &seen{}
	for node, s := range map[string]*seen{"n1": n1, "n2": other} {
		sub, err := f.subscribe(node, from)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = f.serve(ctx, sub, s.send) }()
	}
	pod := func(status string, labels string) []byte {
		return []byte(`{"metadata":{"name":"p","labels":{` + labels + `}},"spec":{"nodeName":"n1"}` + status + `}`)
	}
	status := func(phase string) map[string]any { return map[string]any{"phase": phase} }
	key := fanPrefix + "p"
	created, err := st.Create(ctx, key, pod("", ""))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, fmt.Sprintf("%d ADDED p", created.ModRevision))

	// The node's own write on the version it named: left out.
	f.expectEcho(key, created.ModRevision, "n1", status("Pending"))
	own, _ := st.Update(ctx, key, pod(`,"status":{"phase":"Pending"}`, ""), created.ModRevision)
	// Someone else's write on the version the node named: sent.
	f.expectEcho(key, own.ModRevision, "n1", status("Running"))
	label, _ := st.Update(ctx, key, pod(`,"status":{"phase":"Pending"}`, `"a":"b"`), own.ModRevision)
	want = append(want, fmt.Sprintf("%d MODIFIED p", label.ModRevision))
	// The node's write then lands on that one, which it did not name: sent.
	running, _ := st.Update(ctx, key, pod(`,"status":{"phase":"Running"}`, `"a":"b"`), label.ModRevision)
	want = append(want, fmt.Sprintf("%d MODIFIED p", running.ModRevision))
	// Stored otherwise than written (a field pruned): sent.
	f.expectEcho(key, running.ModRevision, "n1", map[string]any{"phase": "Running", "extra": "x"})
	pruned, _ := st.Update(ctx, key, pod(`,"status":{"phase":"Running"}`, `"a":"b"`), running.ModRevision)
	want = append(want, fmt.Sprintf("%d MODIFIED p", pruned.ModRevision))
	// Withdrawn before the write: sent.
	f.expectEcho(key, pruned.ModRevision, "n1", status("Succeeded"))
	f.withdrawEcho(key, pruned.ModRevision, "n1")
	late, _ := st.Update(ctx, key, pod(`,"status":{"phase":"Succeeded"}`, `"a":"b"`), pruned.ModRevision)
	want = append(want, fmt.Sprintf("%d MODIFIED p", late.ModRevision))

	deadline := time.Now().Add(10 * time.Second)
	for {
		got, last := n1.get()
		if last >= uint64(late.ModRevision) {
			if !slices.Equal(got, want) {
				t.Fatalf("n1 saw %v, want %v", got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 saw %v by revision %d, want %v", got, last, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, _ := other.get(); len(got) != 0 {
		t.Fatalf("n2 saw %v", got)
	}

	// A replay carries the echo: a reconnecting node cannot tell what it had applied.
	replay := &seen{}
	sub, err := f.subscribe("n1", from)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.serve(ctx, sub, replay.send) }()
	want = slices.Insert(want, 1, fmt.Sprintf("%d MODIFIED p", own.ModRevision))
	replay.await(t, "the replay", want, deadline)
}

// BenchmarkSameButStatus is the fanout's check that a pod's new version is its node's
// own status write, on a small pod as the scheduling benchmarks make them.
func BenchmarkSameButStatus(b *testing.B) {
	pod := func(status string) map[string]any {
		var m map[string]any
		raw := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u","labels":{"app":"bench"},"creationTimestamp":"2026-11-22T00:00:00Z"},
			"spec":{"nodeName":"n1","schedulerName":"default-scheduler","restartPolicy":"Always","dnsPolicy":"ClusterFirst","terminationGracePeriodSeconds":30,
			"containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent","resources":{"requests":{"cpu":"100m"}}}]},"status":` + status + `}`
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			b.Fatal(err)
		}
		return m
	}
	const running = `{"phase":"Running","podIP":"10.0.0.9","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-11-22T00:00:01Z"}],
		"containerStatuses":[{"name":"c","ready":true,"restartCount":0,"image":"busybox","imageID":"sim://busybox","state":{"running":{"startedAt":"2026-11-22T00:00:01Z"}}}]}`
	prev, cur := pod(`{"phase":"Pending"}`), pod(running)
	status := pod(running)["status"]
	for b.Loop() {
		if !sameButStatus(prev, cur, status) {
			b.Fatal("not the same")
		}
	}
}
