package scheduler

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// The scheduling queue, after kube-scheduler's: an active queue ordered by priority
// and then age, a backoff queue for pods whose attempt failed, and a set of
// unschedulable pods that wait for a cluster event that might help them (a node
// added or changed, a pod deleted) or, at the latest, for unschedulableFlush.

// QueuedPod is what the queue knows of a pod.
type QueuedPod struct {
	Key      string // namespace/name
	UID      string
	Profile  string // spec.schedulerName
	Priority int32
	// Created orders pods of equal priority: older first.
	Created time.Time
	// Attempts counts scheduling attempts that did not place the pod.
	Attempts int
	// Obj is the caller's pod; the queue does not look at it.
	Obj any
}

// QueueConfig tunes a Queue; zero values take kube-scheduler's defaults.
type QueueConfig struct {
	InitialBackoff    time.Duration // 1 s
	MaxBackoff        time.Duration // 10 s
	UnschedulableWait time.Duration // 5 min: an unschedulable pod is retried after it regardless
	Now               func() time.Time
}

func (c QueueConfig) withDefaults() QueueConfig {
	if c.InitialBackoff == 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.UnschedulableWait == 0 {
		c.UnschedulableWait = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Queue holds pods waiting to be scheduled. It is safe for concurrent use.
type Queue struct {
	cfg  QueueConfig
	mu   sync.Mutex
	cond *sync.Cond

	active        activeHeap
	activeByKey   map[string]*entry
	backoff       map[string]*entry // key -> pod waiting out its backoff
	unschedulable map[string]*entry
	inFlight      map[string]*entry // popped, not yet done
	// moved records a cluster event during a pod's attempt, so a pod found
	// unschedulable by a view older than the event is retried at once.
	moveSeq uint64
	closed  bool
}

type entry struct {
	pod       QueuedPod
	index     int       // in the active heap
	readyAt   time.Time // end of backoff
	parkedAt  time.Time // when it became unschedulable
	poppedSeq uint64    // moveSeq when popped
	// updated: the pod changed while in flight; requeue it when done.
	updated bool
	deleted bool
}

// NewQueue returns an empty queue.
func NewQueue(cfg QueueConfig) *Queue {
	q := &Queue{cfg: cfg.withDefaults(), activeByKey: map[string]*entry{}, backoff: map[string]*entry{}, unschedulable: map[string]*entry{}, inFlight: map[string]*entry{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues a pod, or updates it where it waits.
func (q *Queue) Add(p QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.inFlight[p.Key]; e != nil {
		e.pod.Obj, e.pod.Priority, e.updated = p.Obj, p.Priority, true
		return
	}
	if e := q.find(p.Key); e != nil {
		attempts := e.pod.Attempts
		e.pod = p
		e.pod.Attempts = attempts
		if e.index >= 0 {
			heap.Fix(&q.active, e.index)
			return
		}
		// A changed unschedulable pod may fit now: retry it (after its backoff).
		if q.unschedulable[p.Key] == e {
			delete(q.unschedulable, p.Key)
			q.toBackoff(e)
		}
		return
	}
	q.pushActive(&entry{pod: p, index: -1})
}

func (q *Queue) pushActive(e *entry) {
	e.index = -1
	heap.Push(&q.active, e)
	q.activeByKey[e.pod.Key] = e
	q.cond.Broadcast()
}

func (q *Queue) popActive() *entry {
	e := heap.Pop(&q.active).(*entry)
	delete(q.activeByKey, e.pod.Key)
	return e
}

func (q *Queue) find(key string) *entry {
	if e := q.activeByKey[key]; e != nil {
		return e
	}
	if e := q.backoff[key]; e != nil {
		return e
	}
	return q.unschedulable[key]
}

// Delete forgets a pod (bound elsewhere, or deleted).
func (q *Queue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.inFlight[key]; e != nil {
		e.deleted = true
		return
	}
	if e := q.activeByKey[key]; e != nil {
		heap.Remove(&q.active, e.index)
		delete(q.activeByKey, key)
		return
	}
	delete(q.backoff, key)
	delete(q.unschedulable, key)
}

// MoveAll is a cluster event that may help unschedulable pods: they go back to be
// retried once their backoff ends.
func (q *Queue) MoveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveSeq++
	for k, e := range q.unschedulable {
		delete(q.unschedulable, k)
		q.toBackoff(e)
	}
	q.cond.Broadcast()
}

// toBackoff puts e in the backoff queue, or straight into the active queue if its
// backoff is over.
func (q *Queue) toBackoff(e *entry) {
	if !q.cfg.Now().Before(e.readyAt) {
		q.pushActive(e)
		return
	}
	q.backoff[e.pod.Key] = e
}

// backoffFor is the wait after a pod's n-th failed attempt: doubling, capped.
func (q *Queue) backoffFor(n int) time.Duration {
	d := q.cfg.InitialBackoff
	for i := 1; i < n && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.cfg.MaxBackoff)
}

// PopBatch waits until a pod is ready (or ctx ends), then returns up to max ready pods
// in order. Each must be finished with Done, Requeue or Unschedulable.
func (q *Queue) PopBatch(ctx context.Context, max int) []QueuedPod {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		q.flushLocked()
		if len(q.active) > 0 || q.closed || ctx.Err() != nil {
			break
		}
		q.waitLocked()
	}
	var out []QueuedPod
	for len(q.active) > 0 && len(out) < max && ctx.Err() == nil {
		e := q.popActive()
		e.poppedSeq = q.moveSeq
		q.inFlight[e.pod.Key] = e
		out = append(out, e.pod)
	}
	return out
}

// waitLocked waits for a change, or for the next backoff or unschedulable deadline.
func (q *Queue) waitLocked() {
	next := time.Time{}
	for _, e := range q.backoff {
		if next.IsZero() || e.readyAt.Before(next) {
			next = e.readyAt
		}
	}
	for _, e := range q.unschedulable {
		if t := e.parkedAt.Add(q.cfg.UnschedulableWait); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if !next.IsZero() {
		t := time.AfterFunc(max(next.Sub(q.cfg.Now()), time.Millisecond), func() {
			q.mu.Lock()
			q.cond.Broadcast()
			q.mu.Unlock()
		})
		defer t.Stop()
	}
	q.cond.Wait()
}

// flushLocked moves pods whose backoff ended, and pods unschedulable for too long,
// into the active queue.
func (q *Queue) flushLocked() {
	now := q.cfg.Now()
	for k, e := range q.backoff {
		if !now.Before(e.readyAt) {
			delete(q.backoff, k)
			q.pushActive(e)
		}
	}
	for k, e := range q.unschedulable {
		if now.Sub(e.parkedAt) >= q.cfg.UnschedulableWait {
			delete(q.unschedulable, k)
			q.pushActive(e)
		}
	}
}

// finish takes a popped pod out of flight; it reports false if the pod was deleted
// meanwhile.
func (q *Queue) finish(key string) (*entry, bool) {
	e := q.inFlight[key]
	if e == nil {
		return nil, false
	}
	delete(q.inFlight, key)
	return e, !e.deleted
}

// Done ends a popped pod's attempt that placed it.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.finish(key)
}

// Requeue ends a failed attempt (an error, a lost bind race): the pod is retried
// after its backoff.
func (q *Queue) Requeue(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.finish(key)
	if !ok {
		return
	}
	e.pod.Attempts++
	e.readyAt = q.cfg.Now().Add(q.backoffFor(e.pod.Attempts))
	q.toBackoff(e)
}

// Unschedulable ends an attempt that found no node: the pod waits for a cluster
// event, unless one happened during the attempt or the pod changed meanwhile.
func (q *Queue) Unschedulable(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.finish(key)
	if !ok {
		return
	}
	e.pod.Attempts++
	e.readyAt = q.cfg.Now().Add(q.backoffFor(e.pod.Attempts))
	if e.updated || e.poppedSeq != q.moveSeq {
		e.updated = false
		q.toBackoff(e)
		return
	}
	e.parkedAt = q.cfg.Now()
	q.unschedulable[key] = e
}

// Close wakes every PopBatch; they return what is ready, then nothing.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Len reports the pods waiting: active, backing off, unschedulable.
func (q *Queue) Len() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.active), len(q.backoff), len(q.unschedulable)
}

// activeHeap orders by priority, highest first, then by age, oldest first.
type activeHeap []*entry

func (h activeHeap) Len() int { return len(h) }
func (h activeHeap) Less(i, j int) bool {
	if h[i].pod.Priority != h[j].pod.Priority {
		return h[i].pod.Priority > h[j].pod.Priority
	}
	if !h[i].pod.Created.Equal(h[j].pod.Created) {
		return h[i].pod.Created.Before(h[j].pod.Created)
	}
	return h[i].pod.Key < h[j].pod.Key
}
func (h activeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *activeHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *activeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
