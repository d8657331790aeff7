package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/sdk"
)

// The controller runtime drives a plugin's controllers: it watches each controller's
// primary kind and the kinds it owns, maps every change to the key of the primary
// object it concerns (an owned object's controlling owner), and calls the plugin's
// reconcile export for each key from a rate-limited work queue, with as many workers
// as the plugin has instances.
//
// The plugin reads what it needs through weft.call, from the object service. Feeding
// guests incremental, projected state instead (so that an object version crosses the
// boundary once) is the next step; see sdk/ABI.md.

// reconcileKey is one primary object of one controller.
type reconcileKey struct {
	controller string
	namespace  string
	name       string
}

// controllerRuntime runs the controllers of one plugin version.
type controllerRuntime struct {
	svc    *objects.Service
	plugin *pluginhost.Plugin
	log    *slog.Logger
	queue  workqueue.TypedRateLimitingInterface[reconcileKey]
	kinds  map[string]sdk.GVK // controller name -> primary kind
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// startControllers starts the controller runtime of a plugin, if it has controllers.
func startControllers(ctx context.Context, svc *objects.Service, p *pluginhost.Plugin, log *slog.Logger) (*controllerRuntime, error) {
	if len(p.Manifest.Controllers) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	ctx = objects.WithUser(ctx, objects.User{Name: UserPrefix + p.Manifest.Name, Groups: []string{"system:plugins"}, Agent: p.Manifest.Name})
	r := &controllerRuntime{
		svc: svc, plugin: p, log: log.With("plugin", p.Manifest.Name), cancel: cancel,
		kinds: map[string]sdk.GVK{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[reconcileKey](20*time.Millisecond, 60*time.Second),
			workqueue.TypedRateLimitingQueueConfig[reconcileKey]{Name: "plugin-" + p.Manifest.Name}),
	}
	snap := svc.Registry().Snapshot()
	for _, c := range p.Manifest.Controllers {
		primary, ok := snap.LookupKind(gvk(c.For))
		if !ok {
			cancel()
			return nil, errors.New("controller " + c.Name + ": kind " + c.For.Kind + " is not served")
		}
		r.kinds[c.Name] = c.For
		r.watch(ctx, c.Name, primary, nil)
		for _, o := range c.Owns {
			owned, ok := snap.LookupKind(gvk(o))
			if !ok {
				cancel()
				return nil, errors.New("controller " + c.Name + ": owned kind " + o.Kind + " is not served")
			}
			r.watch(ctx, c.Name, owned, primary)
		}
	}
	workers := max(p.Stats().Instances, 1)
	for range workers {
		r.done.Add(1)
		go func() { defer r.done.Done(); r.work(ctx) }()
	}
	return r, nil
}

func gvk(g sdk.GVK) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: g.Group, Version: g.Version, Kind: g.Kind}
}

// watch follows one kind; owner, when set, makes changes requeue the controlling owner
// of that kind instead of the object itself.
func (r *controllerRuntime) watch(ctx context.Context, controller string, e, owner *registry.Entry) {
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		for ctx.Err() == nil {
			w, err := r.svc.Watch(ctx, e, "", objects.WatchOptions{})
			if err != nil {
				r.log.Warn("controller watch", "kind", e.Kind.Kind, "err", err)
				time.Sleep(time.Second)
				continue
			}
			for ev := range w.ResultChan() {
				obj, ok := ev.Object.(*unstructured.Unstructured)
				if !ok || ev.Type == watch.Bookmark || ev.Type == watch.Error {
					continue
				}
				if owner == nil {
					r.queue.Add(reconcileKey{controller, obj.GetNamespace(), obj.GetName()})
					continue
				}
				for _, ref := range obj.GetOwnerReferences() {
					if ref.Controller != nil && *ref.Controller && ref.Kind == owner.Kind.Kind && ref.APIVersion == owner.APIVersion() {
						r.queue.Add(reconcileKey{controller, obj.GetNamespace(), ref.Name})
					}
				}
			}
			w.Stop()
		}
	}()
}

func (r *controllerRuntime) work(ctx context.Context) {
	for {
		key, shutdown := r.queue.Get()
		if shutdown {
			return
		}
		r.reconcile(ctx, key)
		r.queue.Done(key)
	}
}

func (r *controllerRuntime) reconcile(ctx context.Context, key reconcileKey) {
	in, _ := json.Marshal(sdk.ReconcileRequest{Controller: key.controller, Kind: r.kinds[key.controller], Namespace: key.namespace, Name: key.name})
	out, err := r.plugin.Call(ctx, "reconcile", in)
	var res sdk.ReconcileResult
	if err == nil {
		err = json.Unmarshal(out, &res)
	}
	switch {
	case err != nil:
		r.log.Debug("reconcile failed", "controller", key.controller, "key", key.namespace+"/"+key.name, "err", err)
		r.queue.AddRateLimited(key)
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

// stop ends the runtime: watches and workers stop; a reconcile in flight finishes.
func (r *controllerRuntime) stop() {
	if r == nil {
		return
	}
	r.cancel()
	r.queue.ShutDown()
	r.done.Wait()
}
