package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"weft.dev/weft/store/internal/leaktest"
)

// recv returns the next response of w, failing the test if the watch ends or stalls.
func recv(t *testing.T, w Watcher) WatchResponse {
	t.Helper()
	select {
	case resp, ok := <-w.Responses():
		if !ok {
			t.Fatalf("watch ended: %v", w.Err())
		}
		return resp
	case <-time.After(20 * time.Second):
		t.Fatal("no watch response")
	}
	panic("unreachable")
}

func mkChunk(first int64, evs ...Event) *chunk {
	c := &chunk{first: first, last: first - 1, events: evs}
	for _, ev := range evs {
		c.last = max(c.last, ev.KV.ModRevision)
	}
	return c
}

func put(key string, rev int64) Event {
	return Event{Type: EventPut, KV: KV{Key: key, ModRevision: rev, CreateRevision: rev},
		PrevKV: &KV{Key: key, ModRevision: rev - 1}}
}

func segString(segs []segment) string {
	s := ""
	for _, seg := range segs {
		s += "["
		for _, ev := range seg.events {
			s += fmt.Sprintf("%s@%d ", ev.KV.Key, ev.KV.ModRevision)
		}
		s += fmt.Sprintf("..%d]", seg.last)
	}
	return s
}

func TestCut(t *testing.T) {
	chunks := []*chunk{
		mkChunk(1, put("a/1", 1), put("b/1", 1), put("a/2", 2)),
		mkChunk(3, put("b/2", 3)),
		mkChunk(4, put("a/3", 4), put("a/4", 5), put("a/5", 5), put("a/6", 6)),
	}
	tests := []struct {
		name               string
		rev, start         int64
		prefix             string
		maxEvents, maxSegs int
		want               string
	}{
		{"everything", 1, 0, "", 100, 10, "[a/1@1 b/1@1 a/2@2 b/2@3 a/3@4 a/4@5 a/5@5 a/6@6 ..6]"},
		{"prefix", 1, 0, "a/", 100, 10, "[a/1@1 a/2@2 a/3@4 a/4@5 a/5@5 a/6@6 ..6]"},
		{"from the middle of a chunk", 2, 0, "", 100, 10, "[a/2@2 b/2@3 a/3@4 a/4@5 a/5@5 a/6@6 ..6]"},
		{"no match still advances", 1, 0, "c/", 100, 10, "[..6]"},
		{"start revision", 1, 5, "a/", 100, 10, "[a/4@5 a/5@5 a/6@6 ..6]"},
		{"split at revision boundaries", 1, 0, "a/", 2, 10, "[a/1@1 a/2@2 ..3][a/3@4 ..4][a/4@5 a/5@5 ..5][a/6@6 ..6]"},
		{"a revision larger than the limit stays whole", 5, 0, "", 1, 10, "[a/4@5 a/5@5 ..5][a/6@6 ..6]"},
		{"segment cap", 1, 0, "a/", 2, 2, "[a/1@1 a/2@2 ..3][a/3@4 ..4]"},
		{"past the end", 7, 0, "", 100, 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := segString(cut(chunks, tt.rev, tt.start, tt.prefix, true, tt.maxEvents, tt.maxSegs))
			if got != tt.want {
				t.Fatalf("cut = %s\nwant  %s", got, tt.want)
			}
		})
	}
	// A chunk whose events all match is shared, not copied.
	segs := cut(chunks[1:2], 3, 0, "b/", true, 100, 10)
	if &segs[0].events[0] != &chunks[1].events[0] {
		t.Fatal("a fully matching chunk was copied")
	}
	if segs := cut(chunks, 1, 0, "", false, 100, 10); segs[0].events[0].PrevKV != nil {
		t.Fatal("PrevKV delivered to a watcher that did not ask for it")
	}
}

func TestRingBudget(t *testing.T) {
	r := ring{maxBytes: 3000}
	for i := int64(1); i <= 5000; i++ {
		r.push(mkChunk(i, put(fmt.Sprint(i), i)))
		if r.bytes > r.maxBytes && len(r.chunks)-r.head > 1 {
			t.Fatalf("ring over budget: %d bytes", r.bytes)
		}
	}
	start := r.start()
	if start <= 1 || start > 5000 {
		t.Fatalf("ring starts at %d", start)
	}
	if got := r.from(start - 1); got != nil {
		t.Fatalf("from(%d) below the start returned %d chunks", start-1, len(got))
	}
	if got := r.from(4990); len(got) != 11 || got[0].first != 4990 {
		t.Fatalf("from(4990) = %d chunks", len(got))
	}
}

// TestSharedEvents checks that watchers of one prefix receive the same events slice:
// fan-out must not copy per watcher.
func TestSharedEvents(t *testing.T) {
	leaktest.Check(t)
	db := openTest(t, "db", testOptions(vfs.NewMem()))
	ctx := bg(t)
	var ws []Watcher
	for i := range 100 {
		w, err := db.Watch(ctx, "s/", 0, WatchOptions{PrevKV: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	if _, err := db.Create(ctx, "s/1", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var first [2]*Event
	for i, w := range ws {
		resp := recv(t, w)
		ev := &resp.Events[0]
		if first[i%2] == nil {
			first[i%2] = ev
		} else if first[i%2] != ev {
			t.Fatalf("watcher %d got its own copy of the events", i)
		}
	}
}

// TestSlowWatcherGroups drives one watcher through the slow and unsynced groups and
// back to synced, without losing or repeating a revision.
func TestSlowWatcherGroups(t *testing.T) {
	leaktest.Check(t)
	opts := testOptions(vfs.NewMem())
	opts.hooks = &testHooks{ringBytes: 1} // the ring keeps one chunk: catch up from the log
	db := openTest(t, "db", opts)
	ctx := bg(t)
	w, err := db.Watch(ctx, "", 0, WatchOptions{PrevKV: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3 * watchBuffer
	for i := range n {
		if _, err := db.Create(ctx, fmt.Sprintf("k%03d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if s := db.Stats(); s.SlowWatchers+s.UnsyncedWatchers != 1 {
		t.Fatalf("a watcher that does not read is not slow: %+v", s)
	}
	var got int64
	for got < n {
		resp := recv(t, w)
		for _, ev := range resp.Events {
			if got++; ev.KV.ModRevision != got {
				t.Fatalf("event %d at revision %d", got, ev.KV.ModRevision)
			}
		}
	}
	waitFor(t, "the watcher to be synced again", func() bool { return db.Stats().SyncedWatchers == 1 })
	if _, err := db.Create(ctx, "last", nil); err != nil {
		t.Fatal(err)
	}
	if resp := recv(t, w); len(resp.Events) != 1 || resp.Events[0].KV.Key != "last" {
		t.Fatalf("after catching up: %+v", resp)
	}
}

// TestSlowWatcherCompacted checks the deterministic case of a watcher falling behind a
// compaction: it had not read past revision watchBuffer when history up to n went.
func TestSlowWatcherCompacted(t *testing.T) {
	leaktest.Check(t)
	db := openTest(t, "db", testOptions(vfs.NewMem()))
	ctx := bg(t)
	w, err := db.Watch(ctx, "", 0, WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3 * watchBuffer
	for i := range n {
		if _, err := db.Create(ctx, fmt.Sprintf("k%03d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact(ctx, n); err != nil {
		t.Fatal(err)
	}
	var last int64
	for resp := range w.Responses() {
		for _, ev := range resp.Events {
			if ev.KV.ModRevision != last+1 {
				t.Fatalf("revision %d after %d", ev.KV.ModRevision, last)
			}
			last = ev.KV.ModRevision
		}
	}
	if !errors.Is(w.Err(), ErrCompacted) || last >= n {
		t.Fatalf("watch ended after revision %d with %v, want ErrCompacted before %d", last, w.Err(), n)
	}
}

// TestReplayAfterReopen replays a history that is only in the event log and larger than
// one log read, while new revisions keep coming: the watcher must cross from the log to
// the ring to live delivery in several rounds, with every response within the size
// limit, revisions whole, and no revision missed or repeated.
func TestReplayAfterReopen(t *testing.T) {
	leaktest.Check(t)
	mem := vfs.NewMem()
	db := openTest(t, "db", testOptions(mem))
	ctx := bg(t)
	const txns, perTxn = 120, 100 // 12000 events, revisions of 100
	for i := range txns {
		ops := make([]Op, perTxn)
		for j := range ops {
			ops[j] = Op{Type: OpCreate, Key: fmt.Sprintf("t%03d/%03d", i, j), Value: []byte("v")}
		}
		if _, err := db.Txn(ctx, ops); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db = openTest(t, "db", testOptions(mem))
	w, err := db.Watch(ctx, "", 1, WatchOptions{PrevKV: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const extra = 300
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range extra {
			if _, err := db.Create(ctx, fmt.Sprintf("x/%03d", i), nil); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var got, last int64
	for got < txns*perTxn+extra {
		resp := recv(t, w)
		if len(resp.Events) > maxResponseEvents {
			t.Fatalf("response of %d events, limit %d", len(resp.Events), maxResponseEvents)
		}
		for i, ev := range resp.Events {
			rev := ev.KV.ModRevision
			if rev != last && rev != last+1 {
				t.Fatalf("revision %d after %d", rev, last)
			}
			if i == 0 && rev == last {
				t.Fatalf("revision %d split across responses", rev)
			}
			last = rev
			got++
		}
	}
	wg.Wait()
	if last != txns+extra {
		t.Fatalf("last revision %d, want %d", last, txns+extra)
	}
}

// TestWatcherLifecycleNoLeak opens and ends watchers in every way while writes go on,
// then closes the store: no goroutine may remain.
func TestWatcherLifecycleNoLeak(t *testing.T) {
	leaktest.Check(t)
	db := openTest(t, "db", testOptions(vfs.NewMem()))
	ctx := bg(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wctx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		w, err := db.Watch(wctx, fmt.Sprintf("p%d/", i%5), int64(i%3), WatchOptions{ProgressNotify: true})
		if err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 0:
			w.Close()
		case 1:
			cancel()
		case 2: // left open, never read: ended by the store's Close
		case 3:
			wg.Go(func() {
				for range w.Responses() {
				}
			})
		}
		if _, err := db.Create(ctx, fmt.Sprintf("p%d/%d", i%5, i), nil); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	wg.Wait()
}
