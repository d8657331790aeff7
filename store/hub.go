package store

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The watch hub, shaped like etcd's watchable store.
//
// Every watcher is in exactly one group:
//   - synced: it has received everything up to the published revision. The syncer
//     goroutine hands it each new chunk as it is published (publish), through a
//     non-blocking send into the watcher's buffered channel.
//   - slow (etcd's victims): a send to it failed because its consumer is behind. The
//     response that did not fit is kept as pending; the hub's loop retries it.
//   - unsynced: it needs revisions older than the published one, because it was
//     created with a past fromRev or because it was slow. The loop replays them from
//     the ring of recent chunks or from the event log, then moves it to synced under
//     the same lock that publish takes, so that no revision is missed or repeated.
//
// publish never blocks, whatever the consumers do: a full buffer costs one failed
// non-blocking send and a move to the slow group.

const (
	// watchBuffer is the capacity of each watcher's channel, in responses.
	watchBuffer = 64
	// maxResponseEvents bounds the events of one replayed response (whole revisions).
	maxResponseEvents = 1024
	// maxSyncWatchers bounds the unsynced watchers handled in one round of the loop,
	// so that the lock publish needs is never held for long.
	maxSyncWatchers = 512
	// maxLogEvents bounds one read of the event log.
	maxLogEvents = 8192
	// ringBytes is the memory budget of the ring of recent chunks.
	ringBytes = 64 << 20
	// retryInterval is how often slow and unsynced watchers are retried while their
	// consumers do not read.
	retryInterval = 10 * time.Millisecond
)

type watcherState uint8

const (
	stateSynced watcherState = iota + 1
	stateUnsynced
	stateSlow
	stateClosed
)

type hub struct {
	log      *slog.Logger
	interval time.Duration
	readLog  func(from, to int64, max int) (*chunk, error)

	mu        sync.Mutex
	published int64
	compacted int64
	err       error // once set, the hub is closed and new watches fail with it
	groups    map[string]*prefixGroup
	lens      []int       // the distinct prefix lengths of groups, ascending
	lenCount  map[int]int // how many groups have each length
	unsynced  map[*watcher]struct{}
	slow      map[*watcher]struct{}
	nWatchers int
	ring      ring

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// prefixGroup holds the synced watchers of one prefix, so that a chunk is matched
// against each distinct prefix once and the resulting response shared by all of them.
type prefixGroup struct {
	prefix   string
	watchers []*watcher
	hits     []int // scratch for publish: indexes of matching events
}

func newHub(log *slog.Logger, interval time.Duration, ringBytes int, published, compacted int64,
	readLog func(from, to int64, max int) (*chunk, error)) *hub {
	h := &hub{
		log:       log,
		interval:  interval,
		readLog:   readLog,
		published: published,
		compacted: compacted,
		groups:    make(map[string]*prefixGroup),
		lenCount:  make(map[int]int),
		unsynced:  make(map[*watcher]struct{}),
		slow:      make(map[*watcher]struct{}),
		ring:      ring{maxBytes: ringBytes},
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go h.run()
	return h
}

func (h *hub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// watch registers a watcher. The caller has validated prefix and fromRev >= 0.
func (h *hub) watch(prefix string, fromRev int64, opts WatchOptions) (*watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return nil, h.err
	}
	if fromRev != 0 && fromRev <= h.compacted {
		return nil, fmt.Errorf("%w: watch from %d, compacted %d", ErrCompacted, fromRev, h.compacted)
	}
	w := &watcher{
		hub:            h,
		prefix:         prefix,
		prevKV:         opts.PrevKV,
		progressNotify: opts.ProgressNotify,
		ch:             make(chan WatchResponse, watchBuffer),
	}
	h.nWatchers++
	switch {
	case fromRev == 0 || fromRev > h.published:
		w.startRev = fromRev
		h.addSynced(w)
	default:
		w.nextRev = fromRev
		w.state = stateUnsynced
		h.unsynced[w] = struct{}{}
		h.wake()
	}
	return w, nil
}

func (h *hub) addSynced(w *watcher) {
	g := h.groups[w.prefix]
	if g == nil {
		g = &prefixGroup{prefix: w.prefix}
		h.groups[w.prefix] = g
		l := len(w.prefix)
		if h.lenCount[l]++; h.lenCount[l] == 1 {
			i, _ := slices.BinarySearch(h.lens, l)
			h.lens = slices.Insert(h.lens, i, l)
		}
	}
	w.state = stateSynced
	w.idx = len(g.watchers)
	g.watchers = append(g.watchers, w)
}

func (h *hub) removeSynced(w *watcher) {
	g := h.groups[w.prefix]
	last := len(g.watchers) - 1
	g.watchers[w.idx] = g.watchers[last]
	g.watchers[w.idx].idx = w.idx
	g.watchers[last] = nil
	g.watchers = g.watchers[:last]
	if last == 0 {
		delete(h.groups, w.prefix)
		l := len(w.prefix)
		if h.lenCount[l]--; h.lenCount[l] == 0 {
			delete(h.lenCount, l)
			i, _ := slices.BinarySearch(h.lens, l)
			h.lens = slices.Delete(h.lens, i, i+1)
		}
	}
}

// detach removes w from its group. h.mu is held.
func (h *hub) detach(w *watcher) {
	switch w.state {
	case stateSynced:
		h.removeSynced(w)
	case stateUnsynced:
		delete(h.unsynced, w)
	case stateSlow:
		delete(h.slow, w)
		w.pending = nil
	}
}

// end closes w with err (nil for an ordinary close). h.mu is held.
func (h *hub) end(w *watcher, err error) {
	if w.state == stateClosed {
		return
	}
	h.detach(w)
	w.state = stateClosed
	w.err = err
	h.nWatchers--
	close(w.ch)
	if w.stopCtx != nil {
		w.stopCtx()
	}
}

// toSlow parks a watcher whose channel was full, with the response that did not fit.
// next is the first revision after that response. h.mu is held.
func (h *hub) toSlow(w *watcher, resp WatchResponse, next int64) {
	h.detach(w)
	w.state = stateSlow
	w.pending = &resp
	w.nextRev = next
	h.slow[w] = struct{}{}
	h.wake()
}

// toUnsynced moves w, whose next revision to deliver is w.nextRev, towards synced: at
// once if it has caught up, else through the loop. h.mu is held.
func (h *hub) toUnsynced(w *watcher) {
	h.detach(w)
	w.nextRev = max(w.nextRev, w.startRev)
	if w.nextRev > h.published {
		h.addSynced(w)
		if w.wantProgress {
			w.wantProgress = false
			h.sendProgress(w)
		}
		return
	}
	w.state = stateUnsynced
	h.unsynced[w] = struct{}{}
	h.wake()
}

// sendProgress tells a synced watcher that it has everything up to the published
// revision. h.mu is held.
func (h *hub) sendProgress(w *watcher) {
	resp := WatchResponse{Revision: h.published, Progress: true}
	select {
	case w.ch <- resp:
		w.sent = true
	default:
		h.toSlow(w, resp, h.published+1)
	}
}

// publish makes a newly durable chunk readable, by storing its last revision in
// readable, and hands it to the synced watchers. It is called by the syncer in revision
// order, after the chunk's fsync and before its writers are answered. Both happen
// under h.mu so that a watch from "now" starts exactly after what readers can see.
func (h *hub) publish(c *chunk, readable *atomic.Int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	readable.Store(c.last)
	if h.err != nil {
		return
	}
	h.ring.push(c)
	h.published = c.last
	if len(h.groups) == 0 {
		return
	}

	// Match each event against the prefixes of the lengths in use: a map lookup per
	// distinct length, not a comparison per group, so that many distinct prefixes stay
	// cheap.
	var touched []*prefixGroup
	for i := range c.events {
		key := c.events[i].KV.Key
		for _, l := range h.lens {
			if l > len(key) {
				break
			}
			if g := h.groups[key[:l]]; g != nil {
				if len(g.hits) == 0 {
					touched = append(touched, g)
				}
				g.hits = append(g.hits, i)
			}
		}
	}

	type parked struct {
		w    *watcher
		resp WatchResponse
	}
	var full []parked
	for _, g := range touched {
		var evs [2][]Event // without, with PrevKV; built on first use
		for _, w := range g.watchers {
			pi := 0
			if w.prevKV {
				pi = 1
			}
			if evs[pi] == nil {
				all := c.eventsFor(w.prevKV)
				if len(g.hits) == len(all) {
					evs[pi] = all
				} else {
					evs[pi] = make([]Event, len(g.hits))
					for j, i := range g.hits {
						evs[pi][j] = all[i]
					}
				}
			}
			resp := WatchResponse{Events: evs[pi], Revision: c.last}
			if w.startRev > c.first {
				resp.Events = fromRevision(resp.Events, w.startRev)
				if len(resp.Events) == 0 {
					continue
				}
			}
			select {
			case w.ch <- resp:
				w.sent = true
			default:
				full = append(full, parked{w, resp})
			}
		}
		g.hits = g.hits[:0]
	}
	for _, p := range full {
		h.toSlow(p.w, p.resp, c.last+1)
	}
}

// fromRevision returns the events at or after rev, copying only when some are dropped.
func fromRevision(evs []Event, rev int64) []Event {
	i := 0
	for i < len(evs) && evs[i].KV.ModRevision < rev {
		i++
	}
	if i == 0 {
		return evs
	}
	return slices.Clone(evs[i:])
}

// setCompacted records a compaction; watchers that still need revisions at or below
// rev end with ErrCompacted when the loop next looks at them.
func (h *hub) setCompacted(rev int64) {
	h.mu.Lock()
	h.compacted = max(h.compacted, rev)
	h.mu.Unlock()
	h.wake()
}

func (h *hub) requestProgress(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch w.state {
	case stateSynced:
		h.sendProgress(w)
	case stateUnsynced, stateSlow:
		w.wantProgress = true
	}
}

// close ends every watcher with err and makes new watches fail with it. The loop
// goroutine is stopped; wait waits for it.
func (h *hub) close(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return
	}
	h.err = err
	for _, g := range h.groups {
		for len(g.watchers) > 0 {
			h.end(g.watchers[len(g.watchers)-1], err)
		}
	}
	for w := range h.unsynced {
		h.end(w, err)
	}
	for w := range h.slow {
		h.end(w, err)
	}
	close(h.stop)
}

func (h *hub) wait() { <-h.done }

func (h *hub) counts() (all, synced, unsynced, slow int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nWatchers, h.nWatchers - len(h.unsynced) - len(h.slow), len(h.unsynced), len(h.slow)
}

// run is the hub's loop: it retries slow watchers, replays history to unsynced ones
// and sends periodic progress notifications.
func (h *hub) run() {
	defer close(h.done)
	progress := time.NewTicker(h.interval)
	defer progress.Stop()
	retry := time.NewTimer(retryInterval)
	defer retry.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-h.kick:
		case <-retry.C:
		case <-progress.C:
			h.progressTick()
			continue
		}
		for {
			again, pending := h.syncRound()
			if again {
				continue // progress was made and work remains: go on at once
			}
			if pending {
				retry.Reset(retryInterval)
			}
			break
		}
	}
}

// progressTick sends a progress notification to each synced ProgressNotify watcher
// that received nothing during the last interval.
func (h *hub) progressTick() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.groups {
		for _, w := range g.watchers {
			if w.progressNotify && !w.sent {
				select {
				case w.ch <- WatchResponse{Revision: h.published, Progress: true}:
				default: // the buffer is not empty, so the watcher is not idle
				}
			}
			w.sent = false
		}
	}
}

// candidate is an unsynced watcher taken out for a round, with what it will be sent.
type candidate struct {
	w       *watcher
	nextRev int64
	segs    []segment
	err     error
}

// syncRound retries the slow watchers and advances up to maxSyncWatchers unsynced
// ones. It reports whether it made progress with work left (run again at once) and
// whether work is pending (retry later).
func (h *hub) syncRound() (again, pending bool) {
	h.mu.Lock()
	if h.err != nil {
		h.mu.Unlock()
		return false, false
	}
	for w := range h.slow {
		select {
		case w.ch <- *w.pending:
			w.sent = true
			w.pending = nil
			h.toUnsynced(w)
		default:
		}
	}
	var cands []*candidate
	minRev := int64(0)
	for w := range h.unsynced {
		if w.nextRev <= h.compacted {
			h.end(w, fmt.Errorf("%w: watcher needs revision %d, compacted %d", ErrCompacted, w.nextRev, h.compacted))
			continue
		}
		if len(cands) == maxSyncWatchers {
			break
		}
		cands = append(cands, &candidate{w: w, nextRev: w.nextRev})
		if minRev == 0 || w.nextRev < minRev {
			minRev = w.nextRev
		}
	}
	published := h.published
	ringStart := h.ring.start()
	var recent []*chunk
	if ringStart > 0 && minRev > 0 {
		recent = h.ring.from(max(minRev, ringStart))
	}
	h.mu.Unlock()

	if len(cands) == 0 {
		return false, h.hasWork()
	}

	// Outside the lock: read the log if some watcher is older than the ring, then
	// cut every candidate's responses. Candidates with the same needs share them.
	var logChunk *chunk
	var logErr error
	if ringStart == 0 || minRev < ringStart {
		to := published
		if ringStart > 0 {
			to = ringStart - 1
		}
		logChunk, logErr = h.readLog(minRev, to, maxLogEvents)
	}
	type shareKey struct {
		prefix         string
		prevKV         bool
		nextRev, start int64
	}
	shared := make(map[shareKey][]segment)
	for _, c := range cands {
		var src []*chunk
		switch {
		case ringStart > 0 && c.nextRev >= ringStart:
			src = recent
		case errors.Is(logErr, ErrCompacted):
			// History went while we read; the next round ends the watchers that
			// needed it, and only those.
			continue
		case logErr != nil:
			c.err = logErr
			continue
		case logChunk != nil && c.nextRev <= logChunk.last:
			src = []*chunk{logChunk}
		default:
			continue // beyond this round's log read; next round
		}
		k := shareKey{c.w.prefix, c.w.prevKV, c.nextRev, c.w.startRev}
		segs, ok := shared[k]
		if !ok {
			segs = cut(src, c.nextRev, c.w.startRev, c.w.prefix, c.w.prevKV, maxResponseEvents, watchBuffer)
			shared[k] = segs
		}
		c.segs = segs
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return false, false
	}
	for _, c := range cands {
		w := c.w
		if w.state != stateUnsynced || w.nextRev != c.nextRev {
			continue // closed meanwhile
		}
		if c.err != nil {
			h.log.Error("watch: reading the event log", "err", c.err)
			h.end(w, c.err)
			continue
		}
		if h.deliver(w, c.segs) {
			again = true
		}
		if w.nextRev > h.published {
			h.toUnsynced(w) // moves it to synced
		}
	}
	pending = len(h.unsynced) > 0 || len(h.slow) > 0
	return again && pending, pending
}

// deliver sends segs to an unsynced watcher until its buffer is full, advancing its
// next revision past each segment delivered (or skipped, when it has no events). It
// reports whether the watcher advanced. h.mu is held.
func (h *hub) deliver(w *watcher, segs []segment) bool {
	advanced := false
	for _, s := range segs {
		if len(s.events) > 0 {
			select {
			case w.ch <- WatchResponse{Events: s.events, Revision: s.last}:
				w.sent = true
			default:
				return advanced
			}
		}
		w.nextRev = s.last + 1
		advanced = true
	}
	return advanced
}

func (h *hub) hasWork() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.unsynced) > 0 || len(h.slow) > 0
}
