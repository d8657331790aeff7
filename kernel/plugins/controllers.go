package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// watched is one kind the runtime follows, and what its changes mean.
type watched struct {
	entry *registry.Entry
	gvk   sdk.GVK
	// paths, when set, project fed objects to these fields (plus metadata).
	paths [][]string
	// trim, when set, edits each projection before it is encoded; it may change only
	// maps the projection made (metadata, and those on the declared paths).
	trim func(projected map[string]any)
	// controlledBy, when set, names the kinds ("group/Kind") whose control gets an
	// object its paths; any other object is fed as metadata less resourceVersion
	// (sdk.FieldSet.ControlledOnly).
	controlledBy map[string]bool
	// primaryOf lists controllers for which this is the primary kind; ownedBy maps
	// controllers for which it is owned to their primary kind.
	primaryOf []string
	ownedBy   map[string]*registry.Entry
	// fedRev is the revision up to which the kind has been fed (guarded by fedMu).
	fedRev int64
}

// controllerRuntime runs the controllers of one plugin version.
type controllerRuntime struct {
	*feeder
	queue workqueue.TypedRateLimitingInterface[reconcileKey]
	kinds map[string]sdk.GVK // controller name -> primary kind
}

// startControllers starts the controller runtime of a plugin, if it has controllers.
// It returns once every watched kind's current state has been fed.
func startControllers(ctx context.Context, svc *objects.Service, p *pluginhost.Plugin, log *slog.Logger) (*controllerRuntime, error) {
	if len(p.Manifest.Controllers) == 0 {
		return nil, nil
	}
	r := &controllerRuntime{
		feeder: newFeeder(svc, p, log),
		kinds:  map[string]sdk.GVK{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[reconcileKey](20*time.Millisecond, 60*time.Second),
			workqueue.TypedRateLimitingQueueConfig[reconcileKey]{Name: "plugin-" + p.Manifest.Name}),
	}
	r.onFed = func(w *watched, objs []*unstructured.Unstructured) {
		for _, obj := range objs {
			for _, k := range r.keysOf(w, obj) {
				r.queue.Add(k)
			}
		}
	}
	if err := r.plan(svc.Registry().Snapshot(), p.Manifest); err != nil {
		r.stop()
		return nil, err
	}
	ctx, err := r.start(ctx)
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("controllers: %w", err)
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
	only, err := m.ControlledOnly()
	if err != nil {
		return err
	}
	for k, primaries := range only {
		byKind[k].controlledBy = primaries
	}
	return nil
}

// controlledHere reports whether obj's controller is of a kind in w.controlledBy.
func (w *watched) controlledHere(obj map[string]any) bool {
	meta, _ := obj["metadata"].(map[string]any)
	refs, _ := meta["ownerReferences"].([]any)
	for _, r := range refs {
		ref, _ := r.(map[string]any)
		if c, _ := ref["controller"].(bool); !c {
			continue
		}
		av, _ := ref["apiVersion"].(string)
		kind, _ := ref["kind"].(string)
		gv, err := schema.ParseGroupVersion(av)
		return err == nil && w.controlledBy[gv.Group+"/"+kind]
	}
	return false
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
	made := map[string]bool{"metadata": true} // maps of out's own, not obj's
	for _, p := range paths {
		if v, ok, _ := unstructured.NestedFieldNoCopy(obj, p...); ok {
			setNoCopy(out, v, p, made)
		}
	}
	return out
}

// setNoCopy sets out's field at path to v itself: out is only encoded, so sharing v
// with the watched object is safe, and copying it cost as much as encoding it. It
// never writes into a map it did not make, which belongs to obj (a shorter path
// already brought the field along).
func setNoCopy(out map[string]any, v any, path []string, made map[string]bool) {
	m := out
	for i, k := range path[:len(path)-1] {
		prefix := strings.Join(path[:i+1], ".")
		next, ok := m[k].(map[string]any)
		switch {
		case !ok:
			next = map[string]any{}
			m[k] = next
			made[prefix] = true
		case !made[prefix]:
			return
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func objectKey(obj *unstructured.Unstructured) string {
	return obj.GetNamespace() + "/" + obj.GetName()
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

// stop ends the runtime: watches and the worker stop; a reconcile in flight finishes.
func (r *controllerRuntime) stop() {
	if r == nil {
		return
	}
	r.queue.ShutDown()
	r.feeder.stop()
}
