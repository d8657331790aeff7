package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/store"
)

func eventString(ev store.Event, withPrev bool) string {
	var b strings.Builder
	switch ev.Type {
	case store.EventPut:
		fmt.Fprintf(&b, "PUT %s", kvString(ev.KV))
	case store.EventDelete:
		fmt.Fprintf(&b, "DEL %s@%d", ev.KV.Key, ev.KV.ModRevision)
		if len(ev.KV.Value) != 0 {
			fmt.Fprintf(&b, " value=%q", ev.KV.Value)
		}
	default:
		fmt.Fprintf(&b, "type%d %s", ev.Type, kvString(ev.KV))
	}
	if withPrev && ev.PrevKV != nil {
		fmt.Fprintf(&b, " prev=%s", kvString(*ev.PrevKV))
	}
	if !withPrev && ev.PrevKV != nil {
		b.WriteString(" UNWANTED-PREV")
	}
	return b.String()
}

func eventsString(evs []store.Event, withPrev bool) string {
	parts := make([]string, len(evs))
	for i, ev := range evs {
		parts[i] = eventString(ev, withPrev)
	}
	return strings.Join(parts, "\n")
}

// next receives one response; it fails the test if the watch ends first.
func next(t *testing.T, w store.Watcher) store.WatchResponse {
	t.Helper()
	select {
	case resp, ok := <-w.Responses():
		if !ok {
			t.Fatalf("watch ended unexpectedly: %v", w.Err())
		}
		return resp
	case <-time.After(wait):
		t.Fatal("no watch response")
	}
	panic("unreachable")
}

// collect receives responses until it has n events, checking that revisions are whole
// and ordered. Progress notifications are skipped.
func collect(t *testing.T, w store.Watcher, n int) []store.Event {
	t.Helper()
	var evs []store.Event
	for len(evs) < n {
		resp := next(t, w)
		checkResponse(t, resp, evs)
		evs = append(evs, resp.Events...)
	}
	if len(evs) != n {
		t.Fatalf("got %d events, want %d:\n%s", len(evs), n, eventsString(evs, true))
	}
	return evs
}

// checkResponse checks one response against the events received before it.
func checkResponse(t *testing.T, resp store.WatchResponse, before []store.Event) {
	t.Helper()
	if resp.Progress && len(resp.Events) > 0 {
		t.Fatalf("progress notification with events: %+v", resp)
	}
	for i, ev := range resp.Events {
		if ev.KV.ModRevision > resp.Revision {
			t.Fatalf("event at %d in a response covering up to %d", ev.KV.ModRevision, resp.Revision)
		}
		if i > 0 && ev.KV.ModRevision < resp.Events[i-1].KV.ModRevision {
			t.Fatalf("events out of order in one response")
		}
	}
	if len(before) > 0 && len(resp.Events) > 0 {
		if last, first := before[len(before)-1].KV.ModRevision, resp.Events[0].KV.ModRevision; first <= last {
			t.Fatalf("revision %d split or repeated across responses (previous response ended at %d)", first, last)
		}
	}
}

// drain reads until the watch ends, failing if it does not.
func drain(t *testing.T, w store.Watcher) []store.WatchResponse {
	t.Helper()
	var resps []store.WatchResponse
	deadline := time.After(wait)
	for {
		select {
		case resp, ok := <-w.Responses():
			if !ok {
				return resps
			}
			resps = append(resps, resp)
		case <-deadline:
			t.Fatal("watch did not end")
		}
	}
}

// untilProgress requests progress and reads until a notification at or above rev,
// returning the events received on the way.
func untilProgress(t *testing.T, w store.Watcher, rev int64) []store.Event {
	t.Helper()
	var evs []store.Event
	w.RequestProgress()
	deadline := time.After(wait)
	for {
		select {
		case resp, ok := <-w.Responses():
			if !ok {
				t.Fatalf("watch ended unexpectedly: %v", w.Err())
			}
			checkResponse(t, resp, evs)
			evs = append(evs, resp.Events...)
			if resp.Progress {
				if resp.Revision >= rev {
					return evs
				}
				w.RequestProgress()
			}
		case <-deadline:
			t.Fatalf("no progress notification at or above %d", rev)
		}
	}
}

func mustWatch(t *testing.T, s store.Interface, prefix string, from int64, opts store.WatchOptions) store.Watcher {
	t.Helper()
	w, err := s.Watch(ctxT(t), prefix, from, opts)
	if err != nil {
		t.Fatalf("Watch(%q, %d): %v", prefix, from, err)
	}
	t.Cleanup(w.Close)
	return w
}

func wantEvents(t *testing.T, got []store.Event, withPrev bool, want ...string) {
	t.Helper()
	if g, w := eventsString(got, withPrev), strings.Join(want, "\n"); g != w {
		t.Fatalf("events:\n%s\nwant:\n%s", g, w)
	}
}

func testWatchLive(t *testing.T, open Open) {
	s := open(t)
	w := mustWatch(t, s, "a/", 0, store.WatchOptions{})
	mustCreate(t, s, "a/1", "x") // 1
	mustCreate(t, s, "b/1", "x") // 2
	mustCreate(t, s, "a/2", "y") // 3
	mustUpdate(t, s, "a/1", "z") // 4
	mustDelete(t, s, "a/2")      // 5
	wantEvents(t, collect(t, w, 4), false,
		`PUT {a/1="x" c1 m1}`,
		`PUT {a/2="y" c3 m3}`,
		`PUT {a/1="z" c1 m4}`,
		`DEL a/2@5`)
}

func testWatchFromRevision(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "k1", "a") // 1
	mustCreate(t, s, "k2", "a") // 2
	mustUpdate(t, s, "k1", "b") // 3
	mustDelete(t, s, "k2")      // 4
	w := mustWatch(t, s, "", 2, store.WatchOptions{})
	mustCreate(t, s, "k3", "a") // 5
	mustUpdate(t, s, "k3", "b") // 6
	wantEvents(t, collect(t, w, 5), false,
		`PUT {k2="a" c2 m2}`,
		`PUT {k1="b" c1 m3}`,
		`DEL k2@4`,
		`PUT {k3="a" c5 m5}`,
		`PUT {k3="b" c5 m6}`)
	// Nothing else may follow: no duplicate between replay and live delivery.
	if evs := untilProgress(t, w, 6); len(evs) != 0 {
		t.Fatalf("unexpected events after the history:\n%s", eventsString(evs, false))
	}
}

func testWatchFutureRevision(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "k1", "a") // 1
	w := mustWatch(t, s, "", 4, store.WatchOptions{})
	mustCreate(t, s, "k2", "a") // 2
	mustCreate(t, s, "k3", "a") // 3
	mustCreate(t, s, "k4", "a") // 4
	mustCreate(t, s, "k5", "a") // 5
	wantEvents(t, collect(t, w, 2), false, `PUT {k4="a" c4 m4}`, `PUT {k5="a" c5 m5}`)
}

func testWatchPrevKV(t *testing.T, open Open) {
	s := open(t)
	live := mustWatch(t, s, "", 0, store.WatchOptions{PrevKV: true})
	without := mustWatch(t, s, "", 0, store.WatchOptions{})
	mustCreate(t, s, "k", "1") // 1
	mustUpdate(t, s, "k", "2") // 2
	mustDelete(t, s, "k")      // 3
	mustCreate(t, s, "k", "3") // 4
	want := []string{
		`PUT {k="1" c1 m1}`,
		`PUT {k="2" c1 m2} prev={k="1" c1 m1}`,
		`DEL k@3 prev={k="2" c1 m2}`,
		`PUT {k="3" c4 m4}`,
	}
	wantEvents(t, collect(t, live, 4), true, want...)
	wantEvents(t, collect(t, without, 4), false,
		`PUT {k="1" c1 m1}`, `PUT {k="2" c1 m2}`, `DEL k@3`, `PUT {k="3" c4 m4}`)
	replay := mustWatch(t, s, "", 1, store.WatchOptions{PrevKV: true})
	wantEvents(t, collect(t, replay, 4), true, want...)
}

func testWatchTxnIsOneResponse(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "t/0", "x") // 1
	w := mustWatch(t, s, "t/", 0, store.WatchOptions{})
	res, err := s.Txn(ctxT(t), []store.Op{
		{Type: store.OpCreate, Key: "t/1", Value: []byte("a")},
		{Type: store.OpCreate, Key: "u/1", Value: []byte("a")},
		{Type: store.OpUpdate, Key: "t/0", Value: []byte("b")},
		{Type: store.OpCreate, Key: "t/2", Value: []byte("a")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, watch := range []store.Watcher{w, mustWatch(t, s, "t/", 2, store.WatchOptions{})} {
		resp := next(t, watch)
		if len(resp.Events) != 3 {
			t.Fatalf("transaction split: first response has %d events:\n%s", len(resp.Events), eventsString(resp.Events, false))
		}
		for _, ev := range resp.Events {
			if ev.KV.ModRevision != res.Revision {
				t.Fatalf("event at %d, transaction at %d", ev.KV.ModRevision, res.Revision)
			}
		}
	}
}

func testWatchRequestProgress(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "p/1", "x")
	w := mustWatch(t, s, "p/", 0, store.WatchOptions{})
	mustCreate(t, s, "q/1", "x")
	mustCreate(t, s, "q/2", "x")
	if evs := untilProgress(t, w, 3); len(evs) != 0 {
		t.Fatalf("unexpected events:\n%s", eventsString(evs, false))
	}
	// A watch still replaying history delivers all of it before the notification.
	replay := mustWatch(t, s, "", 1, store.WatchOptions{})
	if evs := untilProgress(t, replay, 3); len(evs) != 3 {
		t.Fatalf("progress notification before the history was delivered:\n%s", eventsString(evs, false))
	}
}

func testWatchProgressNotify(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "a", "x")
	w := mustWatch(t, s, "b/", 0, store.WatchOptions{ProgressNotify: true})
	for {
		resp := next(t, w)
		if len(resp.Events) != 0 {
			t.Fatalf("unexpected events: %+v", resp)
		}
		if resp.Progress {
			if resp.Revision < 1 {
				t.Fatalf("progress notification at %d, below the current revision 1", resp.Revision)
			}
			break
		}
	}
	mustCreate(t, s, "b/1", "x")
	wantEvents(t, collect(t, w, 1), false, `PUT {b/1="x" c2 m2}`)
}

func testWatchClose(t *testing.T, open Open) {
	s := open(t)
	w := mustWatch(t, s, "", 0, store.WatchOptions{})
	mustCreate(t, s, "a", "x")
	w.Close()
	drain(t, w)
	if err := w.Err(); err != nil {
		t.Fatalf("Err after Close = %v, want nil", err)
	}
	w.Close() // idempotent
	mustCreate(t, s, "b", "x")
}

func testWatchContextCancel(t *testing.T, open Open) {
	s := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.Watch(ctx, "", 0, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "a", "x")
	cancel()
	drain(t, w)
	if err := w.Err(); err != nil {
		t.Fatalf("Err after cancellation = %v, want nil", err)
	}
}

// testWatchSlowConsumer writes many revisions to a watcher that does not read, then
// reads: every event must arrive, in order.
func testWatchSlowConsumer(t *testing.T, open Open) {
	s := open(t)
	w := mustWatch(t, s, "s/", 0, store.WatchOptions{PrevKV: true})
	const n = 300
	for i := range n {
		mustCreate(t, s, fmt.Sprintf("s/%03d", i), "v")
		if i%3 == 0 {
			mustCreate(t, s, fmt.Sprintf("other/%03d", i), "v")
		}
	}
	evs := collect(t, w, n)
	for i, ev := range evs {
		if ev.KV.Key != fmt.Sprintf("s/%03d", i) {
			t.Fatalf("event %d is %s", i, eventString(ev, true))
		}
	}
}

// testWatchSlowBehindCompaction lets a watcher fall behind, compacts past it, then
// reads: the watcher delivers an unbroken prefix of the history and, if it stops before
// the end, ends with ErrCompacted. It never skips a revision silently.
func testWatchSlowBehindCompaction(t *testing.T, open Open) {
	s := open(t)
	w := mustWatch(t, s, "", 0, store.WatchOptions{})
	const n = 300
	for i := range n {
		mustCreate(t, s, fmt.Sprintf("k%03d", i), "v")
	}
	if err := s.Compact(ctxT(t), n); err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	for _, resp := range drainUntil(t, w, n) {
		checkResponse(t, resp, evs)
		evs = append(evs, resp.Events...)
	}
	for i, ev := range evs {
		if ev.KV.ModRevision != int64(i+1) {
			t.Fatalf("event %d at revision %d: a revision was skipped", i, ev.KV.ModRevision)
		}
	}
	if len(evs) < n {
		wantErr(t, fmt.Sprintf("watch ended after %d of %d events", len(evs), n), w.Err(), store.ErrCompacted)
	}
}

// drainUntil reads until the watch ends or has delivered revision rev.
func drainUntil(t *testing.T, w store.Watcher, rev int64) []store.WatchResponse {
	t.Helper()
	var resps []store.WatchResponse
	deadline := time.After(wait)
	for {
		select {
		case resp, ok := <-w.Responses():
			if !ok {
				return resps
			}
			resps = append(resps, resp)
			if n := len(resp.Events); n > 0 && resp.Events[n-1].KV.ModRevision >= rev {
				return resps
			}
		case <-deadline:
			t.Fatal("watch neither ended nor caught up")
		}
	}
}

func testWatchCompacted(t *testing.T, open Open) {
	s := open(t)
	for i := range 5 {
		mustCreate(t, s, fmt.Sprintf("k%d", i), "v")
	}
	if err := s.Compact(ctxT(t), 3); err != nil {
		t.Fatal(err)
	}
	for _, from := range []int64{1, 2, 3} {
		_, err := s.Watch(ctxT(t), "", from, store.WatchOptions{})
		wantErr(t, fmt.Sprintf("Watch from %d after compaction at 3", from), err, store.ErrCompacted)
	}
	w := mustWatch(t, s, "", 4, store.WatchOptions{PrevKV: true})
	wantEvents(t, collect(t, w, 2), true, `PUT {k3="v" c4 m4}`, `PUT {k4="v" c5 m5}`)
	mustWatch(t, s, "", 0, store.WatchOptions{})
}
