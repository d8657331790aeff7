package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/sdk"
)

// The controller runtime drives a plugin's controllers. It lists and then watches every
// kind the controllers name (primary and owned), feeds each change to the plugin
// through weft_feed, projected to the fields the controllers declared, and then queues
// the key of the primary object the change concerns (an owned object's controlling
// owner). A single worker calls weft_reconcile for each key.
//
// All of a plugin's controllers share one session instance, which keeps the fed state:
// each object version crosses into the guest once, and reconciles read it there
// without crossing. A guest is single-threaded, so more instances would only
// duplicate that state; a controller gets its parallelism from batched writes
// (sdk.OpBatch), which the kernel runs concurrently. If the instance is lost (a trap,
// a timeout), the runtime feeds the next one everything it had fed the old one.

// errNotGranted fails a plugin whose controllers watch kinds it may not read.
var errNotGranted = errors.New("not granted")

// reconcileKey is one primary object of one controller.
type reconcileKey struct {
	controller string
	namespace  string
	name       string
}

// feedChunk bounds the bytes of one weft_feed call.
const feedChunk = 1 << 20

// watched is one kind the runtime follows, and what its changes mean.
type watched struct {
	entry *registry.Entry
	gvk   sdk.GVK
	// paths, when set, project fed objects to these fields (plus metadata).
	paths [][]string
	// primaryOf lists controllers for which this is the primary kind; ownedBy maps
	// controllers for which it is owned to their primary kind.
	primaryOf []string
	ownedBy   map[string]*registry.Entry
	// fedRev is the revision up to which the kind has been fed (guarded by fedMu).
	fedRev int64
}

// controllerRuntime runs the controllers of one plugin version.
type controllerRuntime struct {
	svc     *objects.Service
	plugin  *pluginhost.Plugin
	log     *slog.Logger
	queue   workqueue.TypedRateLimitingInterface[reconcileKey]
	kinds   map[string]sdk.GVK // controller name -> primary kind
	watched []*watched
	cancel  context.CancelFunc
	done    sync.WaitGroup

	// mu serializes the session: feeds and reconciles take turns.
	mu      sync.Mutex
	session *pluginhost.Session
	epoch   uint64 // the session epoch that has been fed mirror
	mirror  map[sdk.GVK]map[string][]byte
	synced  bool

	fedMu   sync.Mutex
	fedCond *sync.Cond
}

// readYourWrites bounds how long a reconcile's writes may take to be fed back before
// the next reconcile runs anyway.
const readYourWrites = 2 * time.Second

// fed records that w has been fed up to rv.
func (r *controllerRuntime) fed(w *watched, rv string) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return
	}
	r.fedMu.Lock()
	if n > w.fedRev {
		w.fedRev = n
		r.fedCond.Broadcast()
	}
	r.fedMu.Unlock()
}

// awaitFed waits until every watched kind written in wl has been fed past what was
// written, or readYourWrites passes.
func (r *controllerRuntime) awaitFed(ctx context.Context, wl *writeLog) {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	if len(wl.revs) == 0 {
		return
	}
	deadline := time.Now().Add(readYourWrites)
	wake := func() {
		r.fedMu.Lock()
		r.fedCond.Broadcast()
		r.fedMu.Unlock()
	}
	timer := time.AfterFunc(readYourWrites, wake)
	defer timer.Stop()
	defer context.AfterFunc(ctx, wake)()
	r.fedMu.Lock()
	defer r.fedMu.Unlock()
	for _, w := range r.watched {
		want, ok := wl.revs[w.entry.Kind.GVK()]
		for ok && w.fedRev < want && ctx.Err() == nil && time.Now().Before(deadline) {
			r.fedCond.Wait()
		}
	}
}

// startControllers starts the controller runtime of a plugin, if it has controllers.
// It returns once every watched kind's current state has been fed.
func startControllers(ctx context.Context, svc *objects.Service, p *pluginhost.Plugin, log *slog.Logger) (*controllerRuntime, error) {
	if len(p.Manifest.Controllers) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	ctx = objects.WithUser(ctx, objects.User{Name: UserPrefix + p.Manifest.Name, Groups: []string{"system:plugins"}, Agent: p.Manifest.Name})
	r := &controllerRuntime{
		svc: svc, plugin: p, log: log.With("plugin", p.Manifest.Name), cancel: cancel,
		kinds:  map[string]sdk.GVK{},
		mirror: map[sdk.GVK]map[string][]byte{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[reconcileKey](20*time.Millisecond, 60*time.Second),
			workqueue.TypedRateLimitingQueueConfig[reconcileKey]{Name: "plugin-" + p.Manifest.Name}),
		session: p.NewSession(),
	}
	r.fedCond = sync.NewCond(&r.fedMu)
	if err := r.plan(svc.Registry().Snapshot(), p.Manifest); err != nil {
		r.stop()
		return nil, err
	}
	revs := make([]string, len(r.watched))
	for i, w := range r.watched {
		rv, err := r.relist(ctx, w)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("controllers: list %s: %w", w.gvk.Kind, err)
		}
		revs[i] = rv
	}
	r.mu.Lock()
	r.synced = true
	err := r.feedLocked(ctx, []sdk.FeedEvent{{Type: sdk.Synced}}, []string{""})
	r.mu.Unlock()
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("controllers: feed: %w", err)
	}
	for i, w := range r.watched {
		r.done.Add(1)
		go func() { defer r.done.Done(); r.follow(ctx, w, revs[i]) }()
	}
	r.done.Add(1)
	go func() { defer r.done.Done(); r.work(ctx) }()
	return r, nil
}

func gvk(g sdk.GVK) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: g.Group, Version: g.Version, Kind: g.Kind}
}

// plan works out the kinds to watch, what each change means, and the projections.
func (r *controllerRuntime) plan(snap *registry.Snapshot, m sdk.Manifest) error {
	byKind := map[sdk.GVK]*watched{}
	get := func(g sdk.GVK) (*watched, error) {
		if w := byKind[g]; w != nil {
			return w, nil
		}
		e, ok := snap.LookupKind(gvk(g))
		if !ok {
			return nil, fmt.Errorf("kind %s is not served", g)
		}
		// What a controller is fed, it reads: that takes list and watch, cluster-wide.
		for _, verb := range []string{"list", "watch"} {
			if !r.plugin.Permits(verb, e.Kind.Group, e.Kind.Resource, "") {
				return nil, fmt.Errorf("%w: its controllers watch %s but it was not granted %s on them in every namespace", errNotGranted, e.Kind.Resource, verb)
			}
		}
		w := &watched{entry: e, gvk: g, ownedBy: map[string]*registry.Entry{}}
		byKind[g] = w
		r.watched = append(r.watched, w)
		return w, nil
	}
	all := map[sdk.GVK]bool{} // kinds some controller wants whole
	projected := map[sdk.GVK]map[string]bool{}
	for _, c := range m.Controllers {
		primary, err := get(c.For)
		if err != nil {
			return fmt.Errorf("controller %s: %w", c.Name, err)
		}
		r.kinds[c.Name] = c.For
		primary.primaryOf = append(primary.primaryOf, c.Name)
		for _, o := range c.Owns {
			owned, err := get(o)
			if err != nil {
				return fmt.Errorf("controller %s: owned %w", c.Name, err)
			}
			owned.ownedBy[c.Name] = primary.entry
		}
		// A kind a controller names without fields is fed whole.
		kinds := append([]sdk.GVK{c.For}, c.Owns...)
		for _, k := range kinds {
			listed := false
			for _, f := range c.Fields {
				if f.Kind == k {
					listed = true
					if projected[k] == nil {
						projected[k] = map[string]bool{}
					}
					for _, p := range f.Paths {
						projected[k][p] = true
					}
				}
			}
			if !listed {
				all[k] = true
			}
		}
	}
	for k, paths := range projected {
		if all[k] {
			continue
		}
		w := byKind[k]
		for p := range paths {
			w.paths = append(w.paths, strings.Split(strings.TrimPrefix(p, "."), "."))
		}
	}
	return nil
}

// project keeps apiVersion, kind, metadata (less managedFields) and the declared
// paths of obj.
func project(obj map[string]any, paths [][]string) map[string]any {
	meta, _ := obj["metadata"].(map[string]any)
	m := make(map[string]any, len(meta))
	for k, v := range meta {
		if k != "managedFields" {
			m[k] = v
		}
	}
	out := map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": m}
	if paths == nil {
		for k, v := range obj {
			if k != "metadata" {
				out[k] = v
			}
		}
		return out
	}
	for _, p := range paths {
		v, ok, _ := unstructured.NestedFieldNoCopy(obj, p...)
		if ok {
			_ = unstructured.SetNestedField(out, v, p...)
		}
	}
	return out
}

func objectKey(obj *unstructured.Unstructured) string {
	return obj.GetNamespace() + "/" + obj.GetName()
}

// relist feeds the current state of a kind, replacing what was fed of it before, and
// returns the revision to watch from.
func (r *controllerRuntime) relist(ctx context.Context, w *watched) (string, error) {
	list, err := r.svc.List(ctx, w.entry, "", objects.ListOptions{})
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.mirror[w.gvk]
	seen := map[string]bool{}
	evs := make([]sdk.FeedEvent, 0, len(list.Items))
	names := make([]string, 0, len(list.Items))
	keys := make([]reconcileKey, 0, len(list.Items))
	for i := range list.Items {
		obj := &list.Items[i]
		ev, err := r.event(w, sdk.Added, obj)
		if err != nil {
			return "", err
		}
		seen[objectKey(obj)] = true
		evs = append(evs, ev)
		names = append(names, objectKey(obj))
		keys = append(keys, r.keysOf(w, obj)...)
	}
	for k, raw := range old {
		if !seen[k] {
			evs = append(evs, sdk.FeedEvent{Type: sdk.Deleted, Kind: w.gvk, Object: raw})
			names = append(names, k)
		}
	}
	if err := r.feedLocked(ctx, evs, names); err != nil {
		return "", err
	}
	for _, k := range keys {
		r.queue.Add(k)
	}
	r.fed(w, list.GetResourceVersion())
	return list.GetResourceVersion(), nil
}

// event encodes one change for the feed.
func (r *controllerRuntime) event(w *watched, t sdk.EventType, obj *unstructured.Unstructured) (sdk.FeedEvent, error) {
	raw, err := json.Marshal(project(obj.Object, w.paths))
	return sdk.FeedEvent{Type: t, Kind: w.gvk, Object: raw}, err
}

// keysOf maps a change to the reconcile keys it concerns.
func (r *controllerRuntime) keysOf(w *watched, obj *unstructured.Unstructured) []reconcileKey {
	var keys []reconcileKey
	for _, c := range w.primaryOf {
		keys = append(keys, reconcileKey{c, obj.GetNamespace(), obj.GetName()})
	}
	if len(w.ownedBy) == 0 {
		return keys
	}
	for _, ref := range obj.GetOwnerReferences() {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		for c, owner := range w.ownedBy {
			if ref.Kind == owner.Kind.Kind && ref.APIVersion == owner.APIVersion() {
				keys = append(keys, reconcileKey{c, obj.GetNamespace(), ref.Name})
			}
		}
	}
	return keys
}

// follow watches a kind from rv, feeding changes in batches, and relists when the
// watch cannot resume.
func (r *controllerRuntime) follow(ctx context.Context, w *watched, rv string) {
	for ctx.Err() == nil {
		wi, err := r.svc.Watch(ctx, w.entry, "", objects.WatchOptions{ResourceVersion: rv})
		if err == nil {
			rv, err = r.drain(ctx, w, wi, rv)
			wi.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.log.Warn("controller watch", "kind", w.gvk.Kind, "err", err)
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				if nrv, lerr := r.relist(ctx, w); lerr == nil {
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
func (r *controllerRuntime) drain(ctx context.Context, w *watched, wi watch.Interface, rv string) (string, error) {
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
		var keys []reconcileKey
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
			fe, err := r.event(w, t, obj)
			if err != nil {
				return rv, err
			}
			evs = append(evs, fe)
			names = append(names, objectKey(obj))
			keys = append(keys, r.keysOf(w, obj)...)
		}
		r.mu.Lock()
		err := r.feedLocked(ctx, evs, names)
		r.mu.Unlock()
		if err != nil {
			// The session keeps the mirror; a fresh instance is fed all of it.
			r.log.Warn("controller feed", "kind", w.gvk.Kind, "err", err)
		}
		r.fed(w, rv)
		for _, k := range keys {
			r.queue.Add(k)
		}
	}
}

// feedLocked records evs (of objects named "namespace/name" by keys) in the mirror
// and feeds them to the session's instance, first refeeding the whole mirror if the
// instance is new. r.mu is held.
func (r *controllerRuntime) feedLocked(ctx context.Context, evs []sdk.FeedEvent, keys []string) error {
	for i, ev := range evs {
		if ev.Type == sdk.Synced {
			continue
		}
		m := r.mirror[ev.Kind]
		if m == nil {
			m = map[string][]byte{}
			r.mirror[ev.Kind] = m
		}
		k := keys[i]
		if ev.Type == sdk.Deleted {
			delete(m, k)
		} else {
			m[k] = ev.Object
		}
	}
	epoch, err := r.session.Ready(ctx)
	if err != nil {
		return err
	}
	if epoch != r.epoch {
		// A new instance: it gets the mirror, which already includes evs.
		return r.refeedLocked(ctx, epoch)
	}
	return r.send(ctx, epoch, evs)
}

// refeedLocked gives a fresh instance everything the mirror holds.
func (r *controllerRuntime) refeedLocked(ctx context.Context, epoch uint64) error {
	var evs []sdk.FeedEvent
	for k, objs := range r.mirror {
		for _, raw := range objs {
			evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: k, Object: raw})
		}
	}
	if r.synced {
		evs = append(evs, sdk.FeedEvent{Type: sdk.Synced})
	}
	if err := r.send(ctx, epoch, evs); err != nil {
		return err
	}
	r.epoch = epoch
	return nil
}

// send feeds events in chunks.
func (r *controllerRuntime) send(ctx context.Context, epoch uint64, evs []sdk.FeedEvent) error {
	for len(evs) > 0 {
		n, size := 0, 0
		for n < len(evs) && (n == 0 || size+len(evs[n].Object) < feedChunk) {
			size += len(evs[n].Object)
			n++
		}
		if _, err := r.session.Call(context.WithoutCancel(ctx), epoch, "feed", sdk.EncodeFeed(evs[:n])); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

func (r *controllerRuntime) work(ctx context.Context) {
	for {
		key, shutdown := r.queue.Get()
		if shutdown {
			return
		}
		// Once stopping, what is queued is left to the next version, which relists.
		if ctx.Err() == nil {
			r.reconcile(ctx, key)
		}
		r.queue.Done(key)
	}
}

func (r *controllerRuntime) reconcile(ctx context.Context, key reconcileKey) {
	req := sdk.ReconcileRequest{Controller: key.controller, Kind: r.kinds[key.controller], Namespace: key.namespace, Name: key.name}
	wl := &writeLog{revs: map[schema.GroupVersionKind]int64{}}
	r.mu.Lock()
	out, err := r.callLocked(context.WithValue(ctx, writeLogKey{}, wl), "reconcile", req.MarshalWire())
	r.mu.Unlock()
	r.awaitFed(ctx, wl)
	var res sdk.ReconcileResult
	if err == nil {
		err = res.UnmarshalWire(out)
	}
	switch {
	case err != nil:
		if ctx.Err() == nil {
			r.log.Debug("reconcile failed", "controller", key.controller, "key", key.namespace+"/"+key.name, "err", err)
			r.queue.AddRateLimited(key)
		}
	case res.Error != "":
		r.log.Debug("reconcile error", "controller", key.controller, "key", key.namespace+"/"+key.name, "err", res.Error)
		r.queue.AddRateLimited(key)
	case res.RequeueAfterMillis > 0:
		r.queue.Forget(key)
		r.queue.AddAfter(key, time.Duration(res.RequeueAfterMillis)*time.Millisecond)
	default:
		r.queue.Forget(key)
	}
}

// callLocked calls the session's instance, refeeding a fresh instance first.
func (r *controllerRuntime) callLocked(ctx context.Context, op string, in []byte) ([]byte, error) {
	for range 3 {
		epoch, err := r.session.Ready(ctx)
		if err != nil {
			return nil, err
		}
		if epoch != r.epoch {
			if err := r.refeedLocked(ctx, epoch); err != nil {
				return nil, err
			}
		}
		// A call in flight finishes even when the runtime stops (a swap): cutting it
		// short would end the instance mid-write. The call's own deadline bounds it.
		out, err := r.session.Call(context.WithoutCancel(ctx), epoch, op, in)
		if !errors.Is(err, pluginhost.ErrStale) {
			return out, err
		}
	}
	return nil, pluginhost.ErrStale
}

// stop ends the runtime: watches and the worker stop; a reconcile in flight finishes.
func (r *controllerRuntime) stop() {
	if r == nil {
		return
	}
	r.cancel()
	r.queue.ShutDown()
	r.done.Wait()
	r.session.Close()
}
