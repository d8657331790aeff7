package pods

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// gateLease bounds how long one step holds a slot of the start gate.
const gateLease = 2 * time.Second

// startGate bounds how many pods run the CPU-heavy steps of starting (CNI ADD,
// container create and start: plugin, shim and runc processes) at once, and lets the
// pod met first go first. When many pods arrive together the node's CPUs are the
// limit: run all at once, every pod finishes near the end; in order, they finish one
// after the other, and the last no later.
//
// A slot is a lease that frees itself after ttl, so a step that hangs (a stuck
// plugin, a slow containerd) holds up the others that long at most.
type startGate struct {
	ttl time.Duration

	mu      sync.Mutex
	free    int
	waiters waitQueue
	seq     uint64
}

func newStartGate(slots int, ttl time.Duration) *startGate {
	return &startGate{free: slots, ttl: ttl}
}

type gateWaiter struct {
	prio    uint64
	seq     uint64
	ready   chan struct{}
	granted bool
	index   int
}

// errTurnAbandoned: a worker stopped waiting for its turn because its pod is being
// deleted (or the agent stops); the worker reconciles again at once.
var errTurnAbandoned = errors.New("pods: start turn abandoned")

// turn waits for the pod's slot at the start gate. A wake-up of the worker while it
// waits (a Sync, Forget) is honoured if the pod is now deleting: the wait ends with
// errTurnAbandoned and the wake-up is handed back to the run loop.
func (w *podWorker) turn(ctx context.Context) (release func(), err error) {
	for woken := false; ; woken = true {
		release, woke, err := w.m.gate.acquire(ctx, w.prio, w.wake)
		if err != nil {
			return nil, errTurnAbandoned
		}
		if !woke {
			if woken {
				w.poke() // what woke us still deserves a reconcile
			}
			return release, nil
		}
		pod, forgotten := w.snapshot()
		if forgotten || pod == nil || pod.DeletionTimestamp != nil {
			w.poke()
			return nil, errTurnAbandoned
		}
	}
}

// acquire waits for a slot; lower prio goes first, equal prio in arrival order. It
// also returns, with woke set and no slot, when wake delivers. The returned release
// may be called more than once.
func (g *startGate) acquire(ctx context.Context, prio uint64, wake <-chan struct{}) (release func(), woke bool, err error) {
	g.mu.Lock()
	if g.free > 0 && len(g.waiters) == 0 {
		g.free--
		g.mu.Unlock()
		return g.lease(), false, nil
	}
	g.seq++
	wt := &gateWaiter{prio: prio, seq: g.seq, ready: make(chan struct{})}
	heap.Push(&g.waiters, wt)
	g.mu.Unlock()
	select {
	case <-wt.ready:
		return g.lease(), false, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-wake:
		woke = true
	}
	g.mu.Lock()
	if wt.granted {
		g.mu.Unlock()
		g.put() // pass the slot on
	} else {
		heap.Remove(&g.waiters, wt.index)
		g.mu.Unlock()
	}
	return nil, woke, err
}

// lease returns the release of a slot just taken, which also fires after ttl.
func (g *startGate) lease() func() {
	var once sync.Once
	rel := func() { once.Do(g.put) }
	t := time.AfterFunc(g.ttl, rel)
	return func() {
		t.Stop()
		rel()
	}
}

// put hands a slot to the first waiter, or frees it.
func (g *startGate) put() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiters) == 0 {
		g.free++
		return
	}
	wt := heap.Pop(&g.waiters).(*gateWaiter)
	wt.granted = true
	close(wt.ready)
}

type waitQueue []*gateWaiter

func (q waitQueue) Len() int { return len(q) }
func (q waitQueue) Less(i, j int) bool {
	if q[i].prio != q[j].prio {
		return q[i].prio < q[j].prio
	}
	return q[i].seq < q[j].seq
}
func (q waitQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *waitQueue) Push(x any) {
	wt := x.(*gateWaiter)
	wt.index = len(*q)
	*q = append(*q, wt)
}
func (q *waitQueue) Pop() any {
	old := *q
	wt := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return wt
}
