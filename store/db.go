package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// DB is the Pebble implementation of Interface. It is safe for concurrent use.
type DB struct {
	opts  Options
	log   *slog.Logger
	pdb   *pebble.DB
	cache *pebble.Cache

	// published is the revision of the last durable group. Readers read at it and
	// never see a version above it, even though Pebble already shows them.
	published atomic.Int64
	// compacted is the revision reads must not go below. It moves as soon as Compact
	// is called, before any history is removed.
	compacted atomic.Int64

	// lifeMu is read-held by every call that touches pdb directly, and write-held by
	// Close before it closes pdb: Pebble panics when used after Close.
	lifeMu sync.RWMutex
	closed atomic.Bool
	// failure is set once a group failed to commit; every later write fails with it.
	failure atomic.Pointer[error]
	// wedged is set when Pebble panicked inside a commit: its commit pipeline may hold
	// a lock forever, so Close must not call pebble.DB.Close.
	wedged atomic.Bool

	committer *committer
	hub       *hub
	latest    *latestCache
	compactor *compactor

	compactMu sync.Mutex // serialises Compact calls
}

var _ Interface = (*DB)(nil)

// Stats is a snapshot of the store's state for metrics.
type Stats struct {
	// Revision is the last durable revision.
	Revision int64
	// CompactedRevision is the revision reads and watches must stay above (or at, for
	// reads). CompactionDone trails it while history is still being removed.
	CompactedRevision int64
	CompactionDone    int64
	// Watchers is the number of open watchers; the three following fields split it by
	// group: synced watchers get events as they commit, unsynced ones are replaying
	// history, slow ones had a full buffer and wait for their consumer.
	Watchers         int
	SyncedWatchers   int
	UnsyncedWatchers int
	SlowWatchers     int
	// Failed is set once the store has entered the failed state.
	Failed bool
}

// Open opens (creating if needed) the store in dir. If a compaction was interrupted, it
// is finished in the background.
func Open(dir string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	db := &DB{opts: opts, log: opts.Logger.With("component", "store")}
	db.cache = pebble.NewCache(opts.CacheSize)
	popts := &pebble.Options{
		FS:                 opts.FS,
		Cache:              db.cache,
		Logger:             pebbleLogger{db.log},
		EventListener:      db.eventListener(),
		MemTableSize:       opts.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
	}
	pdb, err := pebble.Open(dir, popts)
	if err != nil {
		db.cache.Unref()
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	db.pdb = pdb
	st, err := db.load()
	if err != nil {
		_ = pdb.Close()
		db.cache.Unref()
		return nil, err
	}
	db.published.Store(st.revision)
	db.compacted.Store(st.compactTarget)
	rb := ringBytes
	if opts.hooks != nil && opts.hooks.ringBytes > 0 {
		rb = opts.hooks.ringBytes
	}
	db.hub = newHub(db.log, opts.ProgressInterval, rb, st.revision, st.compactTarget, db.readLog)
	db.latest = newLatestCache(opts.LatestCacheSize)
	db.committer = newCommitter(db, st.revision)
	db.compactor = newCompactor(db, st)
	db.log.Info("store opened", "dir", dir, "revision", st.revision, "compacted", st.compactTarget)
	return db, nil
}

// onDisk is the bookkeeping read from the meta keys on Open.
type onDisk struct {
	revision      int64
	compactTarget int64
	compactDone   int64
	cursor        compactCursor
	hasCursor     bool
}

func (db *DB) load() (onDisk, error) {
	var st onDisk
	format, ok, err := db.metaInt(metaFormat)
	if err != nil {
		return st, err
	}
	switch {
	case !ok:
		// A new store, or one created before anything was written: stamp the layout.
		if err := db.pdb.Set(metaFormat, encodeInt(formatVersion), pebble.Sync); err != nil {
			return st, fmt.Errorf("store: write format: %w", err)
		}
	case format != formatVersion:
		return st, fmt.Errorf("%w: on-disk format %d, this build reads %d", errCorrupt, format, formatVersion)
	}
	for _, m := range []struct {
		key []byte
		dst *int64
	}{
		{metaRevision, &st.revision},
		{metaCompactTarget, &st.compactTarget},
		{metaCompactDone, &st.compactDone},
	} {
		if *m.dst, _, err = db.metaInt(m.key); err != nil {
			return st, err
		}
	}
	v, closer, err := db.pdb.Get(metaCompactCursor)
	switch {
	case err == nil:
		st.cursor, err = decodeCompactCursor(v)
		_ = closer.Close()
		if err != nil {
			return st, err
		}
		st.hasCursor = true
	case !errors.Is(err, pebble.ErrNotFound):
		return st, fmt.Errorf("store: read compaction cursor: %w", err)
	}
	// The revision meta key is written in the same batch as every revision, so the
	// event log cannot end above it. Checking is cheap and catches a mixed-up directory.
	last, err := db.lastLoggedRevision()
	if err != nil {
		return st, err
	}
	if last > st.revision || st.compactTarget > st.revision {
		return st, fmt.Errorf("%w: revision %d, last logged %d, compaction target %d",
			errCorrupt, st.revision, last, st.compactTarget)
	}
	return st, nil
}

func (db *DB) metaInt(key []byte) (int64, bool, error) {
	v, closer, err := db.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: read %s: %w", key, err)
	}
	defer closer.Close()
	n, err := decodeInt(v)
	return n, true, err
}

func (db *DB) lastLoggedRevision() (int64, error) {
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: []byte{tagEvent}, UpperBound: []byte{tagEvent + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return decodeEventKey(it.Key())
}

// enter guards a call that uses pdb directly; exit must follow when it returns nil.
func (db *DB) enter() error {
	db.lifeMu.RLock()
	if db.closed.Load() {
		db.lifeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (db *DB) exit() { db.lifeMu.RUnlock() }

// fail puts the store in the failed state: the outcome of a group on disk is unknown,
// so nothing more may be written until the store is reopened and has recovered a
// consistent state from Pebble. Watchers end, since nothing will ever be published.
func (db *DB) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrFailed, cause)
	if db.failure.CompareAndSwap(nil, &err) {
		db.log.Error("store failed; reopen required", "err", cause)
		db.hub.close(err)
		return err
	}
	return *db.failure.Load()
}

func (db *DB) failed() error {
	if p := db.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// CurrentRevision implements Interface.
func (db *DB) CurrentRevision() int64 { return db.published.Load() }

// CompactedRevision implements Interface.
func (db *DB) CompactedRevision() int64 { return db.compacted.Load() }

// Stats returns a snapshot of the store's counters.
func (db *DB) Stats() Stats {
	s := Stats{
		Revision:          db.published.Load(),
		CompactedRevision: db.compacted.Load(),
		CompactionDone:    db.compactor.doneRevision(),
		Failed:            db.failed() != nil,
	}
	s.Watchers, s.SyncedWatchers, s.UnsyncedWatchers, s.SlowWatchers = db.hub.counts()
	return s
}

// Close stops the store. Writes already queued are committed first; watchers end with
// ErrClosed. Close is idempotent.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.compactor.stop()
	db.committer.close()
	db.hub.close(ErrClosed)
	db.hub.wait()
	// Wait for readers that entered before closed was set.
	db.lifeMu.Lock()
	defer db.lifeMu.Unlock()
	var err error
	if db.wedged.Load() {
		db.log.Error("pebble panicked during a commit; leaving it open to avoid a deadlock in its Close")
	} else if cerr := db.pdb.Close(); cerr != nil && db.failed() == nil {
		// After a failed WAL write Pebble's Close reports the same error again; the
		// store has already reported it, so only an unexpected error is returned.
		err = fmt.Errorf("store: close: %w", cerr)
	}
	db.cache.Unref()
	return err
}
