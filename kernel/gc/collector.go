package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

// User is the identity the collector writes as.
const User = "system:serviceaccount:kube-system:generic-garbage-collector"

// Config assembles a Collector.
type Config struct {
	Objects *objects.Service
	Logger  *slog.Logger
	// Workers processes items concurrently; default 4.
	Workers int
}

// Collector runs garbage collection and namespace deletion.
type Collector struct {
	svc   *objects.Service
	store store.Interface
	reg   *registry.Registry
	log   *slog.Logger
	cfg   Config

	mu    sync.Mutex
	graph *graph
	// terminating holds the namespaces being deleted.
	terminating map[string]bool
	index       atomic.Pointer[prefixIndex]
	// synced is closed once the initial state has been loaded.
	synced chan struct{}

	items      workqueue.TypedRateLimitingInterface[types.UID]
	namespaces workqueue.TypedRateLimitingInterface[string]
}

// New returns a Collector.
func New(cfg Config) *Collector {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	rl := func() workqueue.TypedRateLimiter[types.UID] {
		return workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](50*time.Millisecond, 30*time.Second)
	}
	return &Collector{
		svc:         cfg.Objects,
		store:       cfg.Objects.Store(),
		reg:         cfg.Objects.Registry(),
		log:         cfg.Logger.With("component", "gc"),
		cfg:         cfg,
		graph:       newGraph(),
		terminating: map[string]bool{},
		synced:      make(chan struct{}),
		items: workqueue.NewTypedRateLimitingQueueWithConfig(rl(), workqueue.TypedRateLimitingQueueConfig[types.UID]{
			Name: "gc",
		}),
		namespaces: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespaces"}),
	}
}

// Synced is closed when the collector has loaded the current state.
func (c *Collector) Synced() <-chan struct{} { return c.synced }

// Run collects until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	ctx = objects.WithUser(ctx, objects.User{Name: User, Groups: []string{"system:serviceaccounts"}, Agent: "weft-gc"})
	var wg sync.WaitGroup
	defer func() {
		// Workers block in Get until the queues shut down.
		c.items.ShutDown()
		c.namespaces.ShutDown()
		wg.Wait()
	}()
	for range c.cfg.Workers {
		wg.Add(2)
		go func() { defer wg.Done(); c.itemWorker(ctx) }()
		go func() { defer wg.Done(); c.namespaceWorker(ctx) }()
	}
	for {
		err := c.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("store watch ended; reloading", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// follow loads every object, then applies changes from the store's watch.
func (c *Collector) follow(ctx context.Context) error {
	rev, err := c.load(ctx)
	if err != nil {
		return err
	}
	select {
	case <-c.synced:
	default:
		close(c.synced)
	}
	w, err := c.store.Watch(ctx, "/", rev+1, store.WatchOptions{PrevKV: true})
	if err != nil {
		return err
	}
	defer w.Close()
	for resp := range w.Responses() {
		for i := range resp.Events {
			c.observe(ctx, &resp.Events[i])
		}
	}
	return w.Err()
}

// load rebuilds the graph from a consistent listing of the whole store.
func (c *Collector) load(ctx context.Context) (int64, error) {
	g := newGraph()
	var rev int64
	after := ""
	for {
		res, err := c.store.List(ctx, store.ListOptions{Prefix: "/", After: after, Revision: rev, Limit: 1000})
		if err != nil {
			return 0, err
		}
		rev = res.Revision
		for _, kv := range res.KVs {
			after = kv.Key
			if n := c.nodeAt(kv, true); n != nil {
				g.put(n)
			}
		}
		if !res.More {
			break
		}
	}
	c.mu.Lock()
	c.graph = g
	c.terminating = map[string]bool{}
	nodes := make([]*node, 0, len(g.nodes))
	for _, n := range g.nodes {
		nodes = append(nodes, n)
		if isNamespace(n.entry) && n.deleting {
			c.terminating[n.name] = true
		}
	}
	c.mu.Unlock()
	for _, n := range nodes {
		c.consider(n)
	}
	return rev, nil
}

// entryFor finds the kind a store key belongs to.
func (c *Collector) entryFor(key string) *registry.Entry {
	// Keys are /<group>/<resource>/...; the first two segments name the kind.
	rest := strings.TrimPrefix(key, "/")
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return nil
	}
	j := strings.IndexByte(rest[i+1:], '/')
	if j < 0 {
		return nil
	}
	return c.prefixes().byPrefix[key[:1+i+1+j+1]]
}

// prefixIndex maps storage prefixes to kinds for one registry generation.
type prefixIndex struct {
	generation uint64
	byPrefix   map[string]*registry.Entry
}

func (c *Collector) prefixes() *prefixIndex {
	snap := c.reg.Snapshot()
	if idx := c.index.Load(); idx != nil && idx.generation == snap.Generation {
		return idx
	}
	idx := &prefixIndex{generation: snap.Generation, byPrefix: map[string]*registry.Entry{}}
	for _, e := range snap.Entries() {
		idx.byPrefix[e.Prefix] = e
	}
	c.index.Store(idx)
	return idx
}

// nodeAt reads the node a stored version describes, decoding no more than nodeOf
// reads; the decoded object goes no further, since it may hold metadata alone.
func (c *Collector) nodeAt(kv store.KV, listed bool) *node {
	e := c.entryFor(kv.Key)
	if e == nil {
		return nil
	}
	decode := c.svc.DecodeMeta
	if listed {
		decode = c.svc.DecodeListedMeta
	}
	obj, err := decode(e, kv)
	if err != nil {
		c.log.Warn("cannot decode object", "key", kv.Key, "err", err)
		return nil
	}
	return nodeOf(e, obj)
}

// observe updates the graph with one change and queues the work it implies.
func (c *Collector) observe(ctx context.Context, ev *store.Event) {
	if ev.Type == store.EventDelete {
		if ev.PrevKV == nil {
			return
		}
		prev := c.nodeAt(*ev.PrevKV, false)
		if prev == nil {
			return
		}
		c.mu.Lock()
		gone := c.graph.remove(prev.uid)
		if isNamespace(prev.entry) {
			delete(c.terminating, prev.name)
		}
		var deps []*node
		if gone != nil {
			deps = c.graph.dependentsOf(gone.uid)
		}
		c.mu.Unlock()
		// Its dependents lost an owner; its owners may be waiting for it.
		for _, d := range deps {
			c.items.Add(d.uid)
		}
		for _, o := range prev.owners {
			c.items.Add(o.UID)
		}
		if prev.entry.Namespaced {
			c.touchNamespace(prev.namespace)
		}
		return
	}
	n := c.nodeAt(ev.KV, false)
	if n == nil {
		return
	}
	c.mu.Lock()
	old := c.graph.put(n)
	if isNamespace(n.entry) && n.deleting {
		c.terminating[n.name] = true
	}
	c.mu.Unlock()
	if old == nil || !ownersEqual(old.owners, n.owners) || old.deleting != n.deleting || len(old.finalizers) != len(n.finalizers) {
		c.consider(n)
	}
}

// consider queues n if there may be something to do for it.
func (c *Collector) consider(n *node) {
	if len(n.owners) > 0 || (n.deleting && (n.has(metav1.FinalizerOrphanDependents) || n.has(metav1.FinalizerDeleteDependents))) {
		c.items.Add(n.uid)
	}
	if isNamespace(n.entry) && n.deleting {
		c.namespaces.Add(n.name)
	}
}

func (c *Collector) itemWorker(ctx context.Context) {
	for {
		uid, shutdown := c.items.Get()
		if shutdown {
			return
		}
		err := c.process(ctx, uid)
		switch {
		case err == nil:
			c.items.Forget(uid)
		case ctx.Err() != nil:
		default:
			c.log.Debug("gc retry", "uid", uid, "err", err)
			c.items.AddRateLimited(uid)
		}
		c.items.Done(uid)
	}
}

// errPending asks for a retry later without logging a failure.
var errPending = errors.New("waiting for dependents")

// process brings one object in line with its owners and its deletion policy.
func (c *Collector) process(ctx context.Context, uid types.UID) error {
	c.mu.Lock()
	n := c.graph.nodes[uid]
	var deps []*node
	if n != nil {
		deps = c.graph.dependentsOf(uid)
	}
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	switch {
	case n.deleting && n.has(metav1.FinalizerOrphanDependents):
		return c.orphan(ctx, n, deps)
	case n.deleting && n.has(metav1.FinalizerDeleteDependents):
		return c.foreground(ctx, n, deps)
	case len(n.owners) > 0 && !n.deleting:
		return c.checkOwners(ctx, n, len(deps) > 0)
	}
	return nil
}

// orphan removes n from its dependents' owners, then lets n go.
func (c *Collector) orphan(ctx context.Context, n *node, deps []*node) error {
	for _, d := range deps {
		_, err := c.svc.Mutate(ctx, d.entry, d.namespace, d.name, "", func(cur *unstructured.Unstructured) error {
			if cur.GetUID() != d.uid {
				return apierrors.NewNotFound(schema.GroupResource{}, d.name)
			}
			refs := cur.GetOwnerReferences()
			kept := refs[:0]
			for _, r := range refs {
				if r.UID != n.uid {
					kept = append(kept, r)
				}
			}
			cur.SetOwnerReferences(kept)
			return nil
		}, objects.WriteOptions{FieldManager: "generic-garbage-collector"})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("orphan %s/%s: %w", d.namespace, d.name, err)
		}
	}
	return c.dropFinalizer(ctx, n, metav1.FinalizerOrphanDependents)
}

// foreground deletes n's dependents and lets n go once none that blocks it is left.
func (c *Collector) foreground(ctx context.Context, n *node, deps []*node) error {
	blocking := 0
	for _, d := range deps {
		for _, r := range d.owners {
			if r.UID == n.uid && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
				blocking++
			}
		}
		if d.deleting {
			continue
		}
		if err := c.deleteNode(ctx, d, metav1.DeletePropagationForeground); err != nil {
			return err
		}
	}
	if blocking > 0 {
		// Requeued when a dependent disappears; the rate limiter covers missed events.
		return errPending
	}
	return c.dropFinalizer(ctx, n, metav1.FinalizerDeleteDependents)
}

func (c *Collector) dropFinalizer(ctx context.Context, n *node, finalizer string) error {
	_, err := c.svc.Mutate(ctx, n.entry, n.namespace, n.name, "", func(cur *unstructured.Unstructured) error {
		if cur.GetUID() != n.uid {
			return apierrors.NewNotFound(schema.GroupResource{}, n.name)
		}
		var kept []string
		for _, f := range cur.GetFinalizers() {
			if f != finalizer {
				kept = append(kept, f)
			}
		}
		cur.SetFinalizers(kept)
		return nil
	}, objects.WriteOptions{FieldManager: "generic-garbage-collector"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *Collector) deleteNode(ctx context.Context, n *node, policy metav1.DeletionPropagation) error {
	uid := n.uid
	_, err := c.svc.Delete(ctx, n.entry, n.namespace, n.name, objects.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by another object of the same name
	}
	return err
}

// ownerState is how an owner reference resolves.
type ownerState int

const (
	ownerSolid    ownerState = iota // exists, and is not being deleted with its dependents
	ownerDangling                   // does not exist (or is another object now)
	ownerWaiting                    // is being deleted in the foreground, waiting for dependents
	ownerUnknown                    // its kind is not served; leave the dependent alone
)

// checkOwners deletes n when none of its owners is left, and drops references to
// owners that are gone while another owner remains.
func (c *Collector) checkOwners(ctx context.Context, n *node, hasDependents bool) error {
	var solid, dangling, waiting int
	var keep []types.UID
	for _, ref := range n.owners {
		st, err := c.resolve(ctx, n, ref)
		if err != nil {
			return err
		}
		switch st {
		case ownerSolid, ownerUnknown:
			solid++
			keep = append(keep, ref.UID)
		case ownerDangling:
			dangling++
		case ownerWaiting:
			waiting++
		}
	}
	switch {
	case solid > 0 && dangling+waiting == 0:
		return nil
	case solid > 0:
		_, err := c.svc.Mutate(ctx, n.entry, n.namespace, n.name, "", func(cur *unstructured.Unstructured) error {
			if cur.GetUID() != n.uid {
				return apierrors.NewNotFound(schema.GroupResource{}, n.name)
			}
			var refs []metav1.OwnerReference
			for _, r := range cur.GetOwnerReferences() {
				for _, k := range keep {
					if r.UID == k {
						refs = append(refs, r)
						break
					}
				}
			}
			cur.SetOwnerReferences(refs)
			return nil
		}, objects.WriteOptions{FieldManager: "generic-garbage-collector"})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	case waiting > 0 && hasDependents:
		return c.deleteNode(ctx, n, metav1.DeletePropagationForeground)
	case waiting > 0:
		return c.deleteNode(ctx, n, metav1.DeletePropagationBackground)
	}
	// Every owner is gone: the object's own finalizers pick how its dependents go.
	policy := metav1.DeletePropagationBackground
	switch {
	case n.has(metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case n.has(metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	return c.deleteNode(ctx, n, policy)
}

// resolve classifies one owner reference, from the graph when the owner is known and
// from the store otherwise, since the graph may lag behind a just-created owner.
func (c *Collector) resolve(ctx context.Context, n *node, ref metav1.OwnerReference) (ownerState, error) {
	c.mu.Lock()
	o := c.graph.nodes[ref.UID]
	c.mu.Unlock()
	if o == nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return ownerUnknown, nil
		}
		e, ok := c.reg.Snapshot().LookupKind(gv.WithKind(ref.Kind))
		if !ok {
			return ownerUnknown, nil
		}
		ns := ""
		if e.Namespaced {
			ns = n.namespace
		}
		obj, err := c.svc.Get(ctx, e, ns, ref.Name, "")
		if apierrors.IsNotFound(err) {
			return ownerDangling, nil
		}
		if err != nil {
			return 0, err
		}
		if obj.GetUID() != ref.UID {
			return ownerDangling, nil
		}
		o = nodeOf(e, obj)
	}
	if o.deleting && o.has(metav1.FinalizerDeleteDependents) {
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}
