package store

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Group commit.
//
// Writers queue requests. One committer goroutine owns every write to Pebble. It drains
// the queue into a group: for each transaction in arrival order it checks the conditions
// against the newest state (Pebble, which includes the previous group, plus the writes
// of earlier transactions of this group), assigns the next revision and appends the
// versions and the event record to the group's batch. The group is applied with
// ApplyNoSyncWait, one synced WAL write for all of it, and handed to the syncer
// goroutine, which waits for the fsync, publishes (advances the readable revision and
// fans the events out to watchers) and only then acknowledges every request.
//
// The two goroutines form a two-stage pipeline: while group N is being fsynced the
// committer is already filling group N+1, so the CPU work of a group overlaps the I/O
// of the previous one. The committer applies N+1 only once N's fsync has succeeded.
// That rule matters: after a WAL error Pebble's next WAL write panics with its commit
// lock held, so nothing may reach Pebble while the outcome of a sync is unknown.

const (
	// maxGroupTxns bounds the transactions of one group so that one fsync never
	// acknowledges an unbounded crowd at once and the committer keeps its latency.
	maxGroupTxns = 2048
)

// request is one unit of work for the committer: a transaction, or raw bookkeeping
// writes (compaction) that take no revision.
type request struct {
	ctx  context.Context
	ops  []Op
	raw  []rawOp
	size int // bytes the request adds to a batch, roughly

	done chan struct{} // closed once res and err are final
	res  TxnResult
	err  error
}

func (r *request) finish(err error) {
	r.err = err
	close(r.done)
}

type rawKind uint8

const (
	rawSet rawKind = iota
	rawDelete
	rawDeleteRange
)

type rawOp struct {
	kind     rawKind
	key, arg []byte // arg is the value of a set or the end of a range
}

// queue is the list of requests waiting for the committer.
type queue struct {
	mu     sync.Mutex
	reqs   []*request
	head   int
	err    error // once set, push fails with it
	signal chan struct{}
}

func (q *queue) push(r *request) error {
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return q.err
	}
	q.reqs = append(q.reqs, r)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return nil
}

// pop returns the oldest request if it fits in the given room, or nil.
func (q *queue) pop(roomBytes int) *request {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.reqs) {
		return nil
	}
	r := q.reqs[q.head]
	if r.size > roomBytes {
		return nil
	}
	q.reqs[q.head] = nil
	q.head++
	if q.head == len(q.reqs) {
		q.reqs, q.head = q.reqs[:0], 0
	}
	return r
}

// closeWith makes later pushes fail with err and returns what was still queued.
func (q *queue) closeWith(err error) []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = err
	}
	rest := q.reqs[q.head:]
	q.reqs, q.head = nil, 0
	return rest
}

func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == len(q.reqs)
}

// group is the set of requests committed by one Pebble batch and one fsync.
type group struct {
	reqs  []*request // answered together once the group is durable and published
	batch *pebble.Batch
	// first and last are the revisions assigned to the group; last < first when the
	// group holds no transaction with writes.
	first, last int64
	events      []Event
	txns        int
	// overlay holds the newest version written by this group for each key it touched;
	// a nil KV means deleted. It stands in front of the Pebble iterator.
	overlay map[string]*KV
	it      *pebble.Iterator
	cache   *latestCache // behind the overlay, in front of the iterator
	keyBuf  []byte
	valBuf  []byte
	applied time.Time
}

type committer struct {
	db      *DB
	q       queue
	nextRev int64
	maxSize int // batch bytes a group may reach before it is cut

	syncCh  chan *group // to the syncer, in commit order
	syncRes chan error  // from the syncer: outcome of the fsync of an applied batch
	stopCh  chan struct{}
	stopped chan struct{} // closed when both goroutines have exited
	err     error         // set once the store has failed; committer goroutine only
}

func newCommitter(db *DB, rev int64) *committer {
	c := &committer{
		db:      db,
		nextRev: rev + 1,
		maxSize: int(db.opts.MemTableSize / 4),
		q:       queue{signal: make(chan struct{}, 1)},
		syncCh:  make(chan *group, 2),
		syncRes: make(chan error, 1),
		stopCh:  make(chan struct{}),
		stopped: make(chan struct{}),
	}
	syncerDone := make(chan struct{})
	go func() {
		defer close(syncerDone)
		c.syncLoop()
	}()
	go func() {
		c.run()
		close(c.syncCh)
		<-syncerDone
		close(c.stopped)
	}()
	return c
}

// submit queues r and waits for its outcome or for ctx. A request whose ctx ends while
// it is queued is dropped by the committer; one already in a group being committed
// may still commit after submit has returned ctx.Err().
func (c *committer) submit(ctx context.Context, r *request) error {
	r.ctx = ctx
	r.done = make(chan struct{})
	if err := c.q.push(r); err != nil {
		return err
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close commits what is queued, then stops both goroutines. Later submits get ErrClosed.
func (c *committer) close() {
	c.q.mu.Lock()
	if c.q.err == nil {
		c.q.err = ErrClosed
	}
	c.q.mu.Unlock()
	close(c.stopCh)
	<-c.stopped
}

func (c *committer) run() {
	var (
		cur      *group
		inFlight bool // a batch was applied and its fsync outcome is not known yet
		stopping bool
		stop     = c.stopCh
	)
	for {
		if c.err != nil {
			c.failPending(cur)
			cur = nil
			if !inFlight {
				return
			}
		} else {
			cur = c.fill(cur)
			if cur != nil && !inFlight {
				inFlight = c.apply(cur)
				cur = nil
				continue
			}
			if stopping && cur == nil && !inFlight && c.q.empty() {
				return
			}
		}
		select {
		case <-c.q.signal:
		case err := <-c.syncRes:
			inFlight = false
			if err != nil && c.err == nil {
				c.err = err
			}
		case <-stop:
			stopping = true
			stop = nil // a closed channel would spin the select
		}
	}
}

// fill moves queued requests into cur (creating it) while the group has room.
func (c *committer) fill(cur *group) *group {
	for {
		room := c.maxSize
		if cur != nil {
			if len(cur.reqs) >= maxGroupTxns || cur.size() >= c.maxSize {
				return cur
			}
			room -= cur.size()
		}
		if cur == nil || len(cur.reqs) == 0 {
			// A request larger than a whole group still goes through, alone.
			room = math.MaxInt
		}
		r := c.q.pop(room)
		if r == nil {
			return cur
		}
		if err := r.ctx.Err(); err != nil {
			// Never reached Pebble: safe to drop.
			r.finish(err)
			continue
		}
		if cur == nil {
			var err error
			if cur, err = c.newGroup(); err != nil {
				r.finish(err)
				c.err = err
				return nil
			}
		}
		c.add(cur, r)
	}
}

func (c *committer) newGroup() (*group, error) {
	// The iterator sees every batch applied so far, the previous group included even
	// while its fsync runs: conditions are checked against the newest state, and the
	// syncer never acknowledges this group before the previous one is durable.
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{tagVersion},
		UpperBound: []byte{tagVersion + 1},
	})
	if err != nil {
		return nil, fmt.Errorf("store: committer iterator: %w", err)
	}
	return &group{it: it, cache: c.db.latest, first: c.nextRev, last: c.nextRev - 1, overlay: make(map[string]*KV)}, nil
}

func (g *group) size() int {
	if g.batch == nil {
		return 0
	}
	return g.batch.Len()
}

func (g *group) ensureBatch(db *pebble.DB) *pebble.Batch {
	if g.batch == nil {
		g.batch = db.NewBatch()
	}
	return g.batch
}

// latest returns the newest version of key, including unpublished ones.
func (g *group) latest(key string) (KV, bool, error) {
	if kv, ok := g.overlay[key]; ok {
		if kv == nil {
			return KV{}, false, nil
		}
		return *kv, true, nil
	}
	if kv, ok := g.cache.get(key, math.MaxInt64); ok {
		return kv, true, nil
	}
	g.keyBuf = versionKeyNewest(g.keyBuf[:0], key)
	return readVersion(g.it, g.keyBuf, key)
}

// add evaluates r against the group's view and, if its conditions hold, writes it.
func (c *committer) add(g *group, r *request) {
	g.reqs = append(g.reqs, r)
	if r.raw != nil {
		b := g.ensureBatch(c.db.pdb)
		for _, op := range r.raw {
			switch op.kind {
			case rawSet:
				_ = b.Set(op.key, op.arg, nil)
			case rawDelete:
				_ = b.Delete(op.key, nil)
			case rawDeleteRange:
				_ = b.DeleteRange(op.key, op.arg, nil)
			}
		}
		return
	}

	cur := make([]KV, len(r.ops))
	for i, op := range r.ops {
		kv, exists, err := g.latest(op.Key)
		if err != nil {
			r.err = err
			return
		}
		cur[i] = kv
		if terr := checkCondition(i, op, kv, exists); terr != nil {
			// Answered with the group, not now: the state that made the condition fail
			// may belong to a group that is not durable yet.
			r.err = terr
			return
		}
	}
	if onlyChecks(r.ops) {
		r.res = TxnResult{Revision: c.nextRev - 1, KVs: checkResults(r.ops, cur)}
		return
	}

	rev := c.nextRev
	c.nextRev++
	g.last = rev
	g.txns++
	b := g.ensureBatch(c.db.pdb)
	firstEvent := len(g.events)
	kvs := make([]KV, len(r.ops))
	for i, op := range r.ops {
		prev := cur[i]
		switch op.Type {
		case OpCreate, OpUpdate:
			create := rev
			var prevKV *KV
			if op.Type == OpUpdate {
				create = prev.CreateRevision
				prevKV = &cur[i]
			}
			kv := KV{Key: op.Key, Value: op.Value, CreateRevision: create, ModRevision: rev}
			g.keyBuf = versionKey(g.keyBuf[:0], op.Key, rev)
			g.valBuf = encodeVersion(g.valBuf[:0], create, op.Value)
			_ = b.Set(g.keyBuf, g.valBuf, nil)
			kvs[i] = kv
			g.overlay[op.Key] = &kvs[i]
			g.cache.put(kv)
			g.events = append(g.events, Event{Type: EventPut, KV: kv, PrevKV: prevKV})
		case OpDelete:
			g.keyBuf = versionKey(g.keyBuf[:0], op.Key, rev)
			_ = b.Set(g.keyBuf, tombstoneValue, nil)
			kvs[i] = prev
			g.overlay[op.Key] = nil
			g.cache.evict(op.Key)
			g.events = append(g.events, Event{
				Type:   EventDelete,
				KV:     KV{Key: op.Key, ModRevision: rev},
				PrevKV: &cur[i],
			})
		case OpCheck:
			if op.ModRevision > 0 {
				kvs[i] = prev
			}
		}
	}
	g.valBuf = encodeEventRecord(g.valBuf[:0], g.events[firstEvent:])
	_ = b.Set(eventKey(rev), g.valBuf, nil)
	r.res = TxnResult{Revision: rev, KVs: kvs}
}

// apply writes the group to Pebble and hands it to the syncer. It reports whether a
// batch was applied, i.e. whether an fsync outcome will come back on syncRes.
func (c *committer) apply(g *group) bool {
	_ = g.it.Close()
	g.it = nil
	if g.batch == nil {
		// Only failed conditions or check-only transactions: nothing to write, but
		// the answers wait for the previous group, which the syncer orders.
		c.syncCh <- g
		return false
	}
	if g.last >= g.first {
		_ = g.batch.Set(metaRevision, encodeInt(g.last), nil)
	}
	g.applied = time.Now()
	if err := c.applyBatch(g.batch); err != nil {
		c.err = err
		if !c.db.wedged.Load() {
			_ = g.batch.Close() // never handed to Pebble's commit pipeline
		}
		g.batch = nil
		c.failGroup(g, err)
		return false
	}
	c.syncCh <- g
	return true
}

func (c *committer) applyBatch(b *pebble.Batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.db.wedged.Store(true)
			err = fmt.Errorf("pebble panicked applying a batch: %v", p)
		}
	}()
	return c.db.pdb.ApplyNoSyncWait(b, pebble.Sync)
}

// failPending answers cur and everything queued with the failure; the queue is closed
// so that later writes fail at once.
func (c *committer) failPending(cur *group) {
	err := c.db.fail(c.err)
	if cur != nil {
		if cur.it != nil {
			_ = cur.it.Close()
		}
		if cur.batch != nil {
			_ = cur.batch.Close()
		}
		for _, r := range cur.reqs {
			r.finish(err)
		}
	}
	for _, r := range c.q.closeWith(err) {
		r.finish(err)
	}
}

func (c *committer) failGroup(g *group, cause error) {
	err := c.db.fail(cause)
	for _, r := range g.reqs {
		r.finish(err)
	}
}

// syncLoop waits for each group's fsync in commit order, then publishes and answers it.
func (c *committer) syncLoop() {
	var failed error
	for g := range c.syncCh {
		var err error
		if g.batch != nil {
			err = c.syncWait(g.batch)
			c.syncRes <- err
			if err == nil && c.db.opts.Observer != nil {
				c.db.opts.Observer.ObserveCommit(g.txns, g.batch.Len(), time.Since(g.applied))
			}
			_ = g.batch.Close()
		}
		if err != nil && failed == nil {
			failed = err
		}
		if failed != nil {
			// Nothing of this group may be acknowledged or shown: its batch, or one it
			// read from, may or may not be on disk.
			c.failGroup(g, failed)
			continue
		}
		if g.last >= g.first {
			c.db.hub.publish(&chunk{first: g.first, last: g.last, events: g.events}, &c.db.published)
		}
		for _, r := range g.reqs {
			r.finish(r.err)
		}
	}
}

func (c *committer) syncWait(b *pebble.Batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pebble panicked waiting for a WAL sync: %v", p)
		}
	}()
	return b.SyncWait()
}
