package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Compaction.
//
// Compact(rev) first raises the in-memory compacted revision, so reads and watches below
// rev fail from that moment, then makes the target durable, and only then removes
// history: for each key, every version older than its newest version at or below rev,
// and that newest version too if it is a tombstone; then the event log up to rev.
//
// The removal runs in chunks, each one a batch committed through the committer (the
// only writer of Pebble) together with a cursor naming the last key it finished. A
// crash leaves a durable target above the durable "done" revision; Open then resumes
// the pass from the cursor. Deleting a version twice is harmless, so resuming is safe
// even if the cursor lags.
//
// All deletions of one key go in the same batch: removing a tombstone in one batch and
// the versions under it in a later one would let a reader in between see a deleted key
// come back.

const (
	// compactChunkDeletes and compactChunkScan bound one chunk: the deletions it
	// carries and the versions it looks at.
	compactChunkDeletes = 1024
	compactChunkScan    = 16384
	compactRetry        = time.Second
)

var errStopped = errors.New("store: compactor stopped")

// Compact implements Interface. It returns once history below rev has been removed, or
// when ctx ends; removal then goes on in the background. rev must be above the current
// compacted revision (ErrCompacted otherwise) and at most the current revision.
func (db *DB) Compact(ctx context.Context, rev int64) error {
	if rev <= 0 {
		return fmt.Errorf("%w: compact to revision %d", ErrInvalid, rev)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.failed(); err != nil {
		return err
	}
	db.compactMu.Lock()
	if cur := db.compacted.Load(); rev <= cur {
		db.compactMu.Unlock()
		return fmt.Errorf("%w: compact to %d, already compacted to %d", ErrCompacted, rev, cur)
	}
	if pub := db.published.Load(); rev > pub {
		db.compactMu.Unlock()
		return fmt.Errorf("%w: compact to %d, current %d", ErrFutureRevision, rev, pub)
	}
	db.compacted.Store(rev)
	db.hub.setCompacted(rev)
	// The target is persisted whatever ctx does: it is one small write, and a raised
	// in-memory compacted revision without a durable target would be undone by a crash.
	err := db.committer.submit(context.WithoutCancel(ctx),
		&request{raw: []rawOp{{kind: rawSet, key: metaCompactTarget, arg: encodeInt(rev)}}})
	db.compactMu.Unlock()
	if err != nil {
		return err
	}
	db.compactor.schedule(rev)
	return db.compactor.wait(ctx, rev)
}

// compactor removes compacted history in the background, one target at a time.
type compactor struct {
	db     *DB
	ctx    context.Context
	cancel context.CancelFunc
	exited chan struct{}

	mu      sync.Mutex
	target  int64
	done    int64
	cursor  compactCursor // where the pass for cursor.target resumes
	err     error
	changed chan struct{} // closed and replaced whenever done or err changes
	wakeup  chan struct{}
}

func newCompactor(db *DB, st onDisk) *compactor {
	ctx, cancel := context.WithCancel(context.Background())
	c := &compactor{
		db:      db,
		ctx:     ctx,
		cancel:  cancel,
		exited:  make(chan struct{}),
		target:  st.compactTarget,
		done:    st.compactDone,
		changed: make(chan struct{}),
		wakeup:  make(chan struct{}, 1),
	}
	if st.hasCursor && st.cursor.target == st.compactTarget {
		c.cursor = st.cursor
	}
	if c.target > c.done {
		db.log.Info("resuming interrupted compaction", "target", c.target, "done", c.done, "after", c.cursor.after)
		c.wakeup <- struct{}{}
	}
	go c.run()
	return c
}

func (c *compactor) lock()   { c.mu.Lock() }
func (c *compactor) unlock() { c.mu.Unlock() }

func (c *compactor) schedule(rev int64) {
	c.lock()
	c.target = max(c.target, rev)
	c.unlock()
	select {
	case c.wakeup <- struct{}{}:
	default:
	}
}

func (c *compactor) doneRevision() int64 {
	c.lock()
	defer c.unlock()
	return c.done
}

// wait returns once history up to rev is removed, the compactor failed, or ctx ended.
func (c *compactor) wait(ctx context.Context, rev int64) error {
	for {
		c.lock()
		done, err, changed := c.done, c.err, c.changed
		c.unlock()
		if done >= rev {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *compactor) stop() {
	c.cancel()
	<-c.exited
}

func (c *compactor) notify(update func()) {
	c.lock()
	update()
	close(c.changed)
	c.changed = make(chan struct{})
	c.unlock()
}

func (c *compactor) run() {
	defer close(c.exited)
	defer c.notify(func() {
		if c.err == nil {
			c.err = ErrClosed
		}
	})
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wakeup:
		}
		for {
			c.lock()
			target, done, cursor := c.target, c.done, c.cursor
			c.unlock()
			if target <= done {
				break
			}
			if cursor.target != target {
				cursor = compactCursor{target: target}
			}
			start := time.Now()
			deleted, err := c.pass(cursor)
			if err != nil {
				if c.ctx.Err() != nil {
					return
				}
				if ferr := c.db.failed(); ferr != nil {
					c.notify(func() { c.err = ferr })
					return
				}
				c.db.log.Error("compaction failed; retrying", "target", target, "err", err)
				select {
				case <-c.ctx.Done():
					return
				case <-time.After(compactRetry):
				}
				continue
			}
			c.db.log.Info("compacted", "revision", target, "deleted", deleted, "took", time.Since(start))
			c.notify(func() {
				c.done = target
				c.cursor = compactCursor{}
			})
		}
	}
}

// pass removes history up to cur.target for every key after cur.after.
func (c *compactor) pass(cur compactCursor) (deleted int, err error) {
	hooks := c.db.opts.hooks
	for chunks := 1; ; chunks++ {
		if c.ctx.Err() != nil {
			return deleted, errStopped
		}
		ops, last, finished, err := c.scanChunk(cur)
		if err != nil {
			return deleted, err
		}
		deleted += len(ops)
		cur.after = last
		if finished {
			ops = append(ops,
				rawOp{kind: rawDeleteRange, key: eventKey(0), arg: eventKey(cur.target + 1)},
				rawOp{kind: rawSet, key: metaCompactDone, arg: encodeInt(cur.target)},
				rawOp{kind: rawDelete, key: metaCompactCursor},
			)
		} else {
			ops = append(ops, rawOp{kind: rawSet, key: metaCompactCursor, arg: cur.encode()})
		}
		if err := c.db.committer.submit(c.ctx, &request{raw: ops, size: rawSize(ops)}); err != nil {
			return deleted, err
		}
		c.lock()
		c.cursor = cur
		c.unlock()
		if hooks != nil && hooks.afterCompactChunk != nil {
			hooks.afterCompactChunk(chunks)
		}
		if finished {
			return deleted, nil
		}
	}
}

func rawSize(ops []rawOp) int {
	n := 0
	for _, op := range ops {
		n += len(op.key) + len(op.arg) + 8
	}
	return n
}

// scanChunk reads the versions after cur.after and returns the deletions of one chunk,
// the last user key it finished, and whether it reached the end of the key space.
func (c *compactor) scanChunk(cur compactCursor) (ops []rawOp, last string, finished bool, err error) {
	if err := c.db.enter(); err != nil {
		return nil, "", false, err
	}
	defer c.db.exit()
	lower := []byte{tagVersion}
	if cur.after != "" {
		lower = afterUserKey(nil, cur.after)
	}
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{tagVersion + 1}})
	if err != nil {
		return nil, "", false, err
	}
	defer it.Close()

	last = cur.after
	scanned := 0
	var key, seek []byte
	valid := it.First()
	for valid {
		if len(ops) >= compactChunkDeletes || scanned >= compactChunkScan {
			return ops, last, false, nil
		}
		ukey, rev, err := decodeVersionKey(it.Key())
		if err != nil {
			return nil, "", false, err
		}
		key = append(key[:0], ukey...)
		scanned++
		if rev > cur.target {
			// Versions above the target stay; jump to the newest one at or below it.
			seek = versionKey(seek[:0], string(key), cur.target)
			valid = it.SeekGE(seek)
		}
		// it is now at the newest version <= target of key, if there is one. It stays
		// unless it is a tombstone; everything older goes.
		keep := true
		for ; valid; valid = it.Next() {
			ukey, rev, err := decodeVersionKey(it.Key())
			if err != nil {
				return nil, "", false, err
			}
			if !bytes.Equal(ukey, key) {
				break
			}
			scanned++
			if keep {
				keep = false
				v, err := it.ValueAndErr()
				if err != nil {
					return nil, "", false, err
				}
				tomb, _, _, err := decodeVersion(v)
				if err != nil {
					return nil, "", false, err
				}
				if !tomb {
					continue
				}
			}
			ops = append(ops, rawOp{kind: rawDelete, key: versionKey(nil, string(key), rev)})
		}
		last = string(key)
	}
	return ops, last, true, it.Error()
}
