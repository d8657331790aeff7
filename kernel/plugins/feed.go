package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/ujson"
	"weft.dev/weft/sdk"
)

// A feeder keeps a plugin's session instance fed with the current state of some
// kinds: it lists them, feeds every object, marks the feed synced, then watches and
// feeds each change in batches, projected to the declared fields. It keeps a mirror of
// what it fed, so an instance that is lost and replaced gets all of it again before its
// next call. Controllers and scheduler policies are fed this way, so each object
// version crosses into the guest once.
type feeder struct {
	svc     *objects.Service
	plugin  *pluginhost.Plugin
	log     *slog.Logger
	watched []*watched
	cancel  context.CancelFunc
	done    sync.WaitGroup
	// onFed, if set, hears of the objects of each fed batch, after the feed.
	onFed func(w *watched, objs []*unstructured.Unstructured)

	// mu serializes the session: feeds and other calls take turns.
	mu      sync.Mutex
	session feedSession
	epoch   uint64 // the session epoch that has been fed the mirror
	mirror  map[sdk.GVK]map[string][]byte
	synced  bool

	// standbyAfter, when set, is how long without a call makes the instance a standby
	// (a scheduler policy that no profile asks): its changes are then held, one per
	// object, and fed every standbyFlush, or at once before the next call.
	standbyAfter time.Duration
	standbyFlush time.Duration
	lastCall     atomic.Int64 // unix nanoseconds of the last call's start
	held         []heldEvent  // under mu
	heldAt       map[string]int
	flushTimer   *time.Timer
	runCtx       context.Context

	fedMu   sync.Mutex
	fedCond *sync.Cond
}

// feedChunk bounds the bytes of one weft_feed call.
const feedChunk = 1 << 20

// defaultStandbyFlush is how long a standby instance's changes may wait.
const defaultStandbyFlush = 2 * time.Second

// feedSession is the plugin instance a feeder feeds and calls (*pluginhost.Session).
type feedSession interface {
	// Ready returns the epoch of the current instance, making one if needed.
	Ready(ctx context.Context) (uint64, error)
	// Call calls the instance of epoch; pluginhost.ErrStale if it was replaced.
	Call(ctx context.Context, epoch uint64, op string, in []byte) ([]byte, error)
	Close()
}

// heldEvent is a change held back from a standby instance.
type heldEvent struct {
	ev  sdk.FeedEvent
	key string // namespace/name
}

// readYourWrites bounds how long a call's writes may take to be fed back before the
// next call runs anyway.
const readYourWrites = 2 * time.Second

func newFeeder(svc *objects.Service, p *pluginhost.Plugin, log *slog.Logger) *feeder {
	f := &feeder{svc: svc, plugin: p, log: log.With("plugin", p.Manifest.Name), mirror: map[sdk.GVK]map[string][]byte{}, session: p.NewSession(), cancel: func() {}, standbyFlush: defaultStandbyFlush}
	f.fedCond = sync.NewCond(&f.fedMu)
	return f
}

// start feeds the current state of every watched kind, then the synced marker, and
// starts watching; it returns the context the feeder's goroutines run in.
func (f *feeder) start(ctx context.Context) (context.Context, error) {
	ctx, f.cancel = context.WithCancel(ctx)
	ctx = objects.WithUser(ctx, objects.User{Name: UserPrefix + f.plugin.Manifest.Name, Groups: []string{"system:plugins"}, Agent: f.plugin.Manifest.Name})
	f.runCtx = ctx
	f.lastCall.Store(time.Now().UnixNano()) // a new policy is asked soon, usually
	revs := make([]string, len(f.watched))
	for i, w := range f.watched {
		rv, err := f.relist(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", w.gvk.Kind, err)
		}
		revs[i] = rv
	}
	f.mu.Lock()
	f.synced = true
	err := f.feedLocked(ctx, []sdk.FeedEvent{{Type: sdk.Synced}}, []string{""})
	f.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	for i, w := range f.watched {
		f.done.Add(1)
		go func() { defer f.done.Done(); f.follow(ctx, w, revs[i]) }()
	}
	return ctx, nil
}

// stop ends the watches; a call in flight finishes; the session is released.
func (f *feeder) stop() {
	f.cancel()
	f.done.Wait()
	f.mu.Lock()
	if f.flushTimer != nil {
		f.flushTimer.Stop()
	}
	f.mu.Unlock()
	f.session.Close()
}

// fed records that w has been fed up to rv.
func (f *feeder) fed(w *watched, rv string) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return
	}
	f.fedMu.Lock()
	if n > w.fedRev {
		w.fedRev = n
		f.fedCond.Broadcast()
	}
	f.fedMu.Unlock()
}

// awaitFed waits until every watched kind written in wl has been fed past what was
// written, or readYourWrites passes.
func (f *feeder) awaitFed(ctx context.Context, wl *writeLog) {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	f.awaitRevisions(ctx, wl.revs)
}

// awaitRevisions waits until each watched kind in revs has been fed up to its
// revision, or readYourWrites passes.
func (f *feeder) awaitRevisions(ctx context.Context, revs map[schema.GroupVersionKind]int64) {
	if len(revs) == 0 {
		return
	}
	deadline := time.Now().Add(readYourWrites)
	wake := func() {
		f.fedMu.Lock()
		f.fedCond.Broadcast()
		f.fedMu.Unlock()
	}
	timer := time.AfterFunc(readYourWrites, wake)
	defer timer.Stop()
	defer context.AfterFunc(ctx, wake)()
	f.fedMu.Lock()
	defer f.fedMu.Unlock()
	for _, w := range f.watched {
		want, ok := revs[w.entry.Kind.GVK()]
		for ok && w.fedRev < want && ctx.Err() == nil && time.Now().Before(deadline) {
			f.fedCond.Wait()
		}
	}
}

// relist feeds the current state of a kind, replacing what was fed of it before, and
// returns the revision to watch from.
func (f *feeder) relist(ctx context.Context, w *watched) (string, error) {
	list, err := f.svc.List(ctx, w.entry, "", objects.ListOptions{})
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Held changes are older than the list: they go first, or they would undo it. If
	// the instance fails, the mirror has them for the next.
	if err := f.flushLocked(ctx); err != nil {
		f.log.Warn("controller feed", "kind", w.gvk.Kind, "err", err)
	}
	old := f.mirror[w.gvk]
	seen := map[string]bool{}
	evs := make([]sdk.FeedEvent, 0, len(list.Items))
	names := make([]string, 0, len(list.Items))
	objs := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i := range list.Items {
		obj := &list.Items[i]
		ev, err := f.event(w, sdk.Added, obj)
		if err != nil {
			return "", err
		}
		seen[objectKey(obj)] = true
		evs = append(evs, ev)
		names = append(names, objectKey(obj))
		objs = append(objs, obj)
	}
	for k, raw := range old {
		if !seen[k] {
			evs = append(evs, sdk.FeedEvent{Type: sdk.Deleted, Kind: w.gvk, Object: raw})
			names = append(names, k)
		}
	}
	if err := f.feedLocked(ctx, evs, names); err != nil {
		return "", err
	}
	if f.onFed != nil {
		f.onFed(w, objs)
	}
	f.fed(w, list.GetResourceVersion())
	return list.GetResourceVersion(), nil
}

// event encodes one change for the feed.
func (f *feeder) event(w *watched, t sdk.EventType, obj *unstructured.Unstructured) (sdk.FeedEvent, error) {
	var out map[string]any
	switch {
	case w.controlledBy != nil && !w.controlledHere(obj.Object):
		out = project(obj.Object, [][]string{})
		// The projection's own copy of metadata: a change elsewhere leaves the
		// projection as it was, and is not fed.
		delete(out["metadata"].(map[string]any), "resourceVersion")
	default:
		out = project(obj.Object, w.paths)
		if w.trim != nil {
			w.trim(out)
		}
	}
	raw, err := ujson.Marshal(out)
	return sdk.FeedEvent{Type: t, Kind: w.gvk, Object: raw}, err
}

// follow watches a kind from rv, feeding changes in batches, and relists when the
// watch cannot resume.
func (f *feeder) follow(ctx context.Context, w *watched, rv string) {
	for ctx.Err() == nil {
		wi, err := f.svc.Watch(ctx, w.entry, "", objects.WatchOptions{ResourceVersion: rv, Shared: true})
		if err == nil {
			rv, err = f.drain(ctx, w, wi, rv)
			wi.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			f.log.Warn("controller watch", "kind", w.gvk.Kind, "err", err)
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				if nrv, lerr := f.relist(ctx, w); lerr == nil {
					rv = nrv
					continue
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// drain feeds a watch's events until it ends, and returns the last revision seen.
func (f *feeder) drain(ctx context.Context, w *watched, wi watch.Interface, rv string) (string, error) {
	ch := wi.ResultChan()
	for {
		var batch []watch.Event
		select {
		case <-ctx.Done():
			return rv, nil
		case ev, ok := <-ch:
			if !ok {
				return rv, nil
			}
			batch = append(batch, ev)
		}
	more:
		for len(batch) < 256 {
			select {
			case ev, ok := <-ch:
				if !ok {
					break more
				}
				batch = append(batch, ev)
			default:
				break more
			}
		}
		var evs []sdk.FeedEvent
		var names []string
		var objs []*unstructured.Unstructured
		for _, ev := range batch {
			if ev.Type == watch.Error {
				if st, ok := ev.Object.(*metav1.Status); ok {
					return rv, apierrors.FromObject(st)
				}
				return rv, errors.New("watch error")
			}
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			rv = obj.GetResourceVersion()
			if ev.Type == watch.Bookmark {
				continue
			}
			t := map[watch.EventType]sdk.EventType{watch.Added: sdk.Added, watch.Modified: sdk.Modified, watch.Deleted: sdk.Deleted}[ev.Type]
			fe, err := f.event(w, t, obj)
			if err != nil {
				return rv, err
			}
			evs = append(evs, fe)
			names = append(names, objectKey(obj))
			objs = append(objs, obj)
		}
		f.mu.Lock()
		var err error
		switch {
		case f.standbyAfter == 0:
			err = f.feedLocked(ctx, evs, names)
		case f.standby():
			f.holdLocked(evs, names)
			f.armFlushLocked()
		default:
			// Through the held changes, so that a failed feed leaves none of them out
			// of the mirror.
			f.holdLocked(evs, names)
			err = f.flushLocked(ctx)
		}
		f.mu.Unlock()
		if err != nil {
			// The session keeps the mirror; a fresh instance is fed all of it.
			f.log.Warn("controller feed", "kind", w.gvk.Kind, "err", err)
		}
		f.fed(w, rv)
		if f.onFed != nil {
			f.onFed(w, objs)
		}
	}
}

// standby reports whether the instance has gone standbyAfter without a call.
func (f *feeder) standby() bool {
	return f.standbyAfter > 0 && time.Since(time.Unix(0, f.lastCall.Load())) > f.standbyAfter
}

// holdLocked keeps evs back, the newest change of each object in place of older
// ones. f.mu is held.
func (f *feeder) holdLocked(evs []sdk.FeedEvent, keys []string) {
	if f.heldAt == nil {
		f.heldAt = map[string]int{}
	}
	for i, ev := range evs {
		k := ev.Kind.Group + "/" + ev.Kind.Kind + "/" + keys[i]
		j, isHeld := f.heldAt[k]
		if ev.Type == sdk.Modified {
			// A change outside the projection: the instance has it already.
			prev, ok := f.mirror[ev.Kind][keys[i]]
			if isHeld {
				prev, ok = f.held[j].ev.Object, f.held[j].ev.Type != sdk.Deleted
			}
			if ok && bytes.Equal(prev, ev.Object) {
				continue
			}
		}
		if isHeld {
			if f.held[j].ev.Type == sdk.Added && ev.Type == sdk.Modified {
				ev.Type = sdk.Added
			}
			f.held[j].ev = ev
			continue
		}
		f.heldAt[k] = len(f.held)
		f.held = append(f.held, heldEvent{ev: ev, key: keys[i]})
	}
}

// armFlushLocked makes sure held changes are fed within standbyFlush. f.mu is held.
func (f *feeder) armFlushLocked() {
	if len(f.held) > 0 && f.flushTimer == nil {
		f.flushTimer = time.AfterFunc(f.standbyFlush, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.flushTimer = nil
			if f.runCtx.Err() != nil {
				return
			}
			if err := f.flushLocked(f.runCtx); err != nil {
				f.log.Warn("controller feed", "err", err)
			}
		})
	}
}

// flushLocked feeds the held changes. f.mu is held.
func (f *feeder) flushLocked(ctx context.Context) error {
	if f.flushTimer != nil {
		// A timer that already fired finds nothing held, or what came since.
		f.flushTimer.Stop()
		f.flushTimer = nil
	}
	if len(f.held) == 0 {
		return nil
	}
	evs := make([]sdk.FeedEvent, len(f.held))
	keys := make([]string, len(f.held))
	for i, h := range f.held {
		evs[i], keys[i] = h.ev, h.key
	}
	f.held = f.held[:0]
	clear(f.heldAt)
	return f.feedLocked(ctx, evs, keys)
}

// feedLocked records evs (of objects named "namespace/name" by keys) in the mirror
// and feeds them to the session's instance, first refeeding the whole mirror if the
// instance is new. f.mu is held.
func (f *feeder) feedLocked(ctx context.Context, evs []sdk.FeedEvent, keys []string) error {
	changed := evs[:0:0]
	for i, ev := range evs {
		if ev.Type == sdk.Synced {
			changed = append(changed, ev)
			continue
		}
		m := f.mirror[ev.Kind]
		if m == nil {
			m = map[string][]byte{}
			f.mirror[ev.Kind] = m
		}
		k := keys[i]
		if ev.Type == sdk.Deleted {
			delete(m, k)
		} else {
			if prev, ok := m[k]; ok && ev.Type == sdk.Modified && bytes.Equal(prev, ev.Object) {
				// A change outside the projection: the instance has it already.
				continue
			}
			m[k] = ev.Object
		}
		changed = append(changed, ev)
	}
	evs = changed
	if len(evs) == 0 {
		return nil
	}
	epoch, err := f.session.Ready(ctx)
	if err != nil {
		return err
	}
	if epoch != f.epoch {
		// A new instance: it gets the mirror, which already includes evs.
		return f.refeedLocked(ctx, epoch)
	}
	return f.send(ctx, epoch, evs)
}

// refeedLocked gives a fresh instance everything the mirror holds.
func (f *feeder) refeedLocked(ctx context.Context, epoch uint64) error {
	var evs []sdk.FeedEvent
	for k, objs := range f.mirror {
		for _, raw := range objs {
			evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: k, Object: raw})
		}
	}
	if f.synced {
		evs = append(evs, sdk.FeedEvent{Type: sdk.Synced})
	}
	if err := f.send(ctx, epoch, evs); err != nil {
		return err
	}
	f.epoch = epoch
	return nil
}

// send feeds events in chunks.
func (f *feeder) send(ctx context.Context, epoch uint64, evs []sdk.FeedEvent) error {
	for len(evs) > 0 {
		n, size := 0, 0
		for n < len(evs) && (n == 0 || size+len(evs[n].Object) < feedChunk) {
			size += len(evs[n].Object)
			n++
		}
		if _, err := f.session.Call(context.WithoutCancel(ctx), epoch, "feed", sdk.EncodeFeed(evs[:n])); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

// callLocked calls the session's instance, refeeding a fresh instance first.
func (f *feeder) callLocked(ctx context.Context, op string, in []byte) ([]byte, error) {
	f.lastCall.Store(time.Now().UnixNano())
	if err := f.flushLocked(ctx); err != nil {
		// The mirror has the changes: a fresh instance gets them below.
		f.log.Warn("controller feed", "err", err)
	}
	for range 3 {
		epoch, err := f.session.Ready(ctx)
		if err != nil {
			return nil, err
		}
		if epoch != f.epoch {
			if err := f.refeedLocked(ctx, epoch); err != nil {
				return nil, err
			}
		}
		// A call in flight finishes even when the runtime stops (a swap): cutting it
		// short would end the instance mid-write. The call's own deadline bounds it.
		out, err := f.session.Call(context.WithoutCancel(ctx), epoch, op, in)
		if !errors.Is(err, pluginhost.ErrStale) {
			return out, err
		}
	}
	return nil, pluginhost.ErrStale
}
