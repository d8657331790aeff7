package store

import (
	"context"
	"fmt"
)

// Watch implements Interface.
//
// Responses share their Events slices, and the KVs in them, with every other watcher
// that received the same revisions: consumers must treat them as read-only.
//
// A response's Revision is the highest revision it covers, which may be above the last
// event's when later revisions of the response's range did not touch the prefix.
func (db *DB) Watch(ctx context.Context, prefix string, fromRev int64, opts WatchOptions) (Watcher, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if fromRev < 0 {
		return nil, fmt.Errorf("%w: negative revision %d", ErrInvalid, fromRev)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if db.closed.Load() {
		return nil, ErrClosed
	}
	w, err := db.hub.watch(prefix, fromRev, opts)
	if err != nil {
		return nil, err
	}
	// No goroutine per watcher: the hub pushes into w.ch, and a cancelled context
	// closes the watcher from a callback.
	stop := context.AfterFunc(ctx, w.Close)
	db.hub.mu.Lock()
	if w.state == stateClosed {
		stop()
	} else {
		w.stopCtx = stop
	}
	db.hub.mu.Unlock()
	return w, nil
}

// watcher is the hub's record of one watch. Every field below ch is guarded by hub.mu.
type watcher struct {
	hub            *hub
	prefix         string
	prevKV         bool
	progressNotify bool
	ch             chan WatchResponse

	state    watcherState
	idx      int   // position in its prefixGroup while synced
	nextRev  int64 // unsynced and slow: the first revision not delivered yet
	startRev int64 // a watch from a future revision skips the events below it
	pending  *WatchResponse
	// wantProgress records a RequestProgress made while not synced.
	wantProgress bool
	// sent records that something was sent since the last progress tick.
	sent    bool
	err     error
	stopCtx func() bool
}

func (w *watcher) Responses() <-chan WatchResponse { return w.ch }

func (w *watcher) RequestProgress() { w.hub.requestProgress(w) }

func (w *watcher) Err() error {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	return w.err
}

// Close ends the watch; Err then reports nil. Responses still buffered can be drained.
func (w *watcher) Close() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	w.hub.end(w, nil)
}
