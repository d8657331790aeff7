package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"weft.dev/weft/store"
)

// history records every committed write by revision, from the writers' own results.
type history struct {
	mu   sync.Mutex
	revs map[int64][]store.Event // events of one revision, in op order
}

func (h *history) add(rev int64, evs []store.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.revs[rev]; dup {
		return fmt.Errorf("revision %d acknowledged to two transactions", rev)
	}
	h.revs[rev] = evs
	return nil
}

// events returns every event up to last, in order, with PrevKV filled in by replaying
// the history. It fails if a revision is missing: every write of the test is known.
func (h *history) events(last int64) ([]store.Event, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	state := make(map[string]store.KV)
	var all []store.Event
	for rev := int64(1); rev <= last; rev++ {
		evs, ok := h.revs[rev]
		if !ok {
			return nil, fmt.Errorf("revision %d was never acknowledged", rev)
		}
		for _, ev := range evs {
			if prev, ok := state[ev.KV.Key]; ok {
				ev.PrevKV = &prev
			}
			if ev.Type == store.EventPut {
				state[ev.KV.Key] = ev.KV
			} else {
				delete(state, ev.KV.Key)
			}
			all = append(all, ev)
		}
	}
	return all, nil
}

// propWatcher is one watcher of the property test and what it received.
type propWatcher struct {
	prefix     string
	prevKV     bool
	from       int64 // as requested
	lo, hi     int64 // CurrentRevision before and after Watch, for from == 0
	w          store.Watcher
	resps      []store.WatchResponse
	done       chan struct{}
	err        error
	stopAtProg atomic.Int64
}

func (pw *propWatcher) read() {
	defer close(pw.done)
	deadline := time.After(2 * wait)
	for {
		select {
		case resp, ok := <-pw.w.Responses():
			if !ok {
				pw.err = fmt.Errorf("watch ended: %v", pw.w.Err())
				return
			}
			pw.resps = append(pw.resps, resp)
			if f := pw.stopAtProg.Load(); f > 0 && resp.Progress && resp.Revision >= f {
				return
			}
		case <-deadline:
			pw.err = errors.New("no final progress notification")
			return
		}
	}
}

// testWatchProperty runs concurrent writers of random operations and watchers of
// random prefixes created at random moments from random revisions. Each watcher must
// receive exactly the committed events of its prefix from its start revision, in
// order, each revision whole in one response, with correct PrevKVs.
func testWatchProperty(t *testing.T, open Open) {
	s := open(t)
	const (
		writers  = 6
		opsEach  = 60
		watchers = 12
	)
	prefixes := []string{"", "p0/", "p1/", "p2/", "p3/x/", "p3/", "p", "none/"}
	keys := func(r *rand.Rand) string {
		return []string{"p0/", "p1/", "p2/", "p3/x/", "p3/y/"}[r.IntN(5)] + fmt.Sprint(r.IntN(6))
	}
	h := &history{revs: make(map[int64][]store.Event)}

	var wg sync.WaitGroup
	for wr := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(wr), 7))
			ctx := ctxT(t)
			for i := range opsEach {
				val := []byte(fmt.Sprintf("w%d-%d", wr, i))
				var (
					res store.TxnResult
					ops []store.Op
					err error
				)
				switch p := r.IntN(100); {
				case p < 35:
					ops = []store.Op{{Type: store.OpCreate, Key: keys(r), Value: val}}
				case p < 65:
					ops = []store.Op{{Type: store.OpUpdate, Key: keys(r), Value: val}}
				case p < 80:
					ops = []store.Op{{Type: store.OpDelete, Key: keys(r)}}
				default:
					seen := map[string]bool{}
					for range 2 + r.IntN(3) {
						k := keys(r)
						if seen[k] {
							continue
						}
						seen[k] = true
						typ := []store.OpType{store.OpCreate, store.OpUpdate, store.OpDelete}[r.IntN(3)]
						op := store.Op{Type: typ, Key: k}
						if typ != store.OpDelete {
							op.Value = val
						}
						ops = append(ops, op)
					}
				}
				res, err = s.Txn(ctx, ops)
				var te *store.TxnError
				if errors.As(err, &te) {
					continue
				}
				if err != nil {
					t.Errorf("writer %d: %v", wr, err)
					return
				}
				var evs []store.Event
				for j, op := range ops {
					switch op.Type {
					case store.OpCreate, store.OpUpdate:
						evs = append(evs, store.Event{Type: store.EventPut, KV: res.KVs[j]})
					case store.OpDelete:
						evs = append(evs, store.Event{Type: store.EventDelete,
							KV: store.KV{Key: op.Key, ModRevision: res.Revision}})
					}
				}
				if err := h.add(res.Revision, evs); err != nil {
					t.Error(err)
				}
			}
		})
	}

	pws := make([]*propWatcher, watchers)
	r := rand.New(rand.NewPCG(99, 1))
	for i := range pws {
		time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
		cur := s.CurrentRevision()
		pw := &propWatcher{prefix: prefixes[r.IntN(len(prefixes))], prevKV: r.IntN(2) == 0, done: make(chan struct{})}
		switch c := r.IntN(4); {
		case c == 0 || cur == 0:
			pw.from = 0
		case c == 1:
			pw.from = cur + 1 + int64(r.IntN(5))
		default:
			pw.from = 1 + r.Int64N(cur)
		}
		pw.lo = cur
		pw.w = mustWatch(t, s, pw.prefix, pw.from, store.WatchOptions{PrevKV: pw.prevKV})
		pw.hi = s.CurrentRevision()
		go pw.read()
		pws[i] = pw
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	final := s.CurrentRevision()
	all, err := h.events(final)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range pws {
		pw.stopAtProg.Store(final)
	}
	for _, pw := range pws {
		for pending := true; pending; {
			pw.w.RequestProgress()
			select {
			case <-pw.done:
				pending = false
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	for i, pw := range pws {
		t.Run(fmt.Sprintf("watcher%d(%q,from=%d,prev=%v)", i, pw.prefix, pw.from, pw.prevKV), func(t *testing.T) {
			checkPropWatcher(t, pw, all)
		})
	}
}

func checkPropWatcher(t *testing.T, pw *propWatcher, all []store.Event) {
	if pw.err != nil {
		t.Fatal(pw.err)
	}
	perRev := make(map[int64]int)
	var want []store.Event
	for _, ev := range all {
		if strings.HasPrefix(ev.KV.Key, pw.prefix) {
			perRev[ev.KV.ModRevision]++
			want = append(want, ev)
		}
	}
	var got []store.Event
	lastRev := int64(0)
	for _, resp := range pw.resps {
		checkResponse(t, resp, got)
		if resp.Revision < lastRev {
			t.Fatalf("response revision went back from %d to %d", lastRev, resp.Revision)
		}
		lastRev = resp.Revision
		inResp := make(map[int64]int)
		for _, ev := range resp.Events {
			inResp[ev.KV.ModRevision]++
		}
		for rev, n := range inResp {
			if n != perRev[rev] {
				t.Fatalf("revision %d has %d events for this prefix, a response carried %d", rev, perRev[rev], n)
			}
		}
		got = append(got, resp.Events...)
	}

	// The start revision: as asked, or for a watch from "now" the first delivered
	// revision, which must be after the revision current before Watch was called and
	// must not skip anything committed after Watch returned.
	start := pw.from
	if start == 0 {
		start = pw.hi + 1
		if len(got) > 0 {
			start = got[0].KV.ModRevision
			if start <= pw.lo {
				t.Fatalf("a watch from now (current %d) delivered revision %d", pw.lo, start)
			}
			for _, ev := range want {
				if ev.KV.ModRevision > pw.lo && ev.KV.ModRevision < start && ev.KV.ModRevision > pw.hi {
					t.Fatalf("a watch from now skipped revision %d, committed after Watch returned at %d", ev.KV.ModRevision, pw.hi)
				}
			}
		}
	}
	var exp []store.Event
	for _, ev := range want {
		if ev.KV.ModRevision >= start {
			if !pw.prevKV {
				ev.PrevKV = nil
			}
			exp = append(exp, ev)
		}
	}
	if g, w := eventsString(got, pw.prevKV), eventsString(exp, pw.prevKV); g != w {
		t.Fatalf("events differ from the history\ngot:\n%s\nwant:\n%s", g, w)
	}
}
