package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel/pki"
	"weft.dev/weft/nodelink"
	"weft.dev/weft/nodelink/nodeapi"
)

// cache is the agent's view of its pods and of the cluster's ConfigMaps and Secrets,
// with the revision each watch has reached. It is saved to the data dir (0600: it
// holds Secrets) so that a restarted agent resumes its watches from where it stopped
// instead of listing again; objects and revisions are saved together, so a stale file
// is still a consistent point to resume from.
type cache struct {
	path string
	log  *slog.Logger

	mu         sync.RWMutex
	revs       map[string]uint64
	pods       map[string]*corev1.Pod // namespace/name
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	nodes      map[string]*corev1.Node // not saved: listed on every start
	// dirty: objects changed, saved within saveInterval. revDirty: only bookmarks moved a
	// revision, saved within bookmarkSaveInterval (an idle cluster costs few writes,
	// and the saved revision stays inside the 5 min compaction window).
	dirty, revDirty bool
	savedAt         time.Time
}

// bookmarkSaveInterval: kernels bookmark a quiet watch once a minute and compact
// history at least 5 minutes old, so a revision saved every 2 minutes still resumes.
const bookmarkSaveInterval = 2 * time.Minute

type cacheFile struct {
	Revisions  map[string]uint64   `json:"revisions"`
	Pods       []*corev1.Pod       `json:"pods"`
	ConfigMaps []*corev1.ConfigMap `json:"configMaps"`
	Secrets    []*corev1.Secret    `json:"secrets"`
}

func key(namespace, name string) string { return namespace + "/" + name }

func loadCache(path string, log *slog.Logger) *cache {
	c := &cache{path: path, log: log, revs: map[string]uint64{}, pods: map[string]*corev1.Pod{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, nodes: map[string]*corev1.Node{}}
	raw, err := os.ReadFile(path)
	if err != nil {
		return c
	}
	var f cacheFile
	if err := json.Unmarshal(raw, &f); err != nil {
		log.Warn("agent cache unreadable; listing again", "path", path, "err", err)
		return c
	}
	for k, v := range f.Revisions {
		c.revs[k] = v
	}
	for _, p := range f.Pods {
		c.pods[key(p.Namespace, p.Name)] = p
	}
	for _, o := range f.ConfigMaps {
		c.configMaps[key(o.Namespace, o.Name)] = o
	}
	for _, o := range f.Secrets {
		c.secrets[key(o.Namespace, o.Name)] = o
	}
	return c
}

// ConfigMap implements Objects.
func (c *cache) ConfigMap(namespace, name string) (*corev1.ConfigMap, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.configMaps[key(namespace, name)]
	if !ok {
		return nil, false
	}
	return o.DeepCopy(), true
}

// Secret implements Objects.
func (c *cache) Secret(namespace, name string) (*corev1.Secret, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.secrets[key(namespace, name)]
	if !ok {
		return nil, false
	}
	return o.DeepCopy(), true
}

func (c *cache) pod(namespace, name string) (*corev1.Pod, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.pods[key(namespace, name)]
	return p, ok
}

func (c *cache) revision(kind string) (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.revs[kind]
	return r, ok
}

// save writes the cache if objects changed, or if only revisions did and force is
// set or bookmarkSaveInterval has passed.
func (c *cache) save(force bool) {
	c.mu.Lock()
	if !c.dirty && !(c.revDirty && (force || time.Since(c.savedAt) >= bookmarkSaveInterval)) {
		c.mu.Unlock()
		return
	}
	f := cacheFile{Revisions: map[string]uint64{}}
	for k, r := range c.revs {
		if k != nodeapi.KindNodes {
			f.Revisions[k] = r
		}
	}
	for _, p := range c.pods {
		f.Pods = append(f.Pods, p)
	}
	for _, o := range c.configMaps {
		f.ConfigMaps = append(f.ConfigMaps, o)
	}
	for _, o := range c.secrets {
		f.Secrets = append(f.Secrets, o)
	}
	raw, err := json.Marshal(f)
	c.dirty, c.revDirty, c.savedAt = false, false, time.Now()
	c.mu.Unlock()
	if err == nil {
		// Not durable: a cache; an unreadable one is listed again (loadCache).
		err = pki.ReplaceFile(c.path, raw, 0o600)
	}
	if err != nil {
		c.log.Warn("save agent cache", "err", err)
	}
}

// saveInterval is how often a changed cache is saved by default
// (Config.CacheSaveInterval). The file holds objects and their revision together, so
// an older one is still consistent: a restarted agent resumes from its revision and is
// sent what changed since. Every save marshals the whole cache; at 2 s that was a third
// of weft sim's CPU under load.
const saveInterval = 10 * time.Second

func (a *Agent) saveLoop(ctx context.Context) error {
	t := time.NewTicker(a.cfg.CacheSaveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.cache.save(false)
		}
	}
}

// prime brings a kind's cache up: from the saved cache when there is one (the watch
// then resumes from its revision), from a list otherwise. Cached pods are handed to
// the pod manager either way, so that it adopts what runs.
func (a *Agent) prime(ctx context.Context, kind string) error {
	if _, ok := a.cache.revision(kind); ok {
		a.resumes.Add(1)
		if kind == nodeapi.KindPods {
			a.cache.mu.RLock()
			pods := make([]*corev1.Pod, 0, len(a.cache.pods))
			for _, p := range a.cache.pods {
				pods = append(pods, p)
			}
			a.cache.mu.RUnlock()
			for _, p := range pods {
				a.pods.Sync(ctx, p)
			}
		}
		return nil
	}
	return retrying(ctx, func() error { return a.relist(ctx, kind) })
}

// relist replaces a kind's cache with a list and tells the pod manager what changed.
func (a *Agent) relist(ctx context.Context, kind string) error {
	resp, err := a.listAll(ctx, kind)
	if err != nil {
		return err
	}
	a.lists.Add(1)
	c := a.cache
	switch kind {
	case nodeapi.KindPods:
		fresh := map[string]*corev1.Pod{}
		for _, raw := range resp.Items {
			var p corev1.Pod
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("agent: list pods: %w", err)
			}
			fresh[key(p.Namespace, p.Name)] = &p
		}
		c.mu.Lock()
		var gone []types.UID
		for k, p := range c.pods {
			if f, ok := fresh[k]; !ok || f.UID != p.UID {
				gone = append(gone, p.UID)
			}
		}
		c.pods, c.revs[kind], c.dirty = fresh, resp.Revision, true
		c.mu.Unlock()
		for _, uid := range gone {
			a.pods.Forget(ctx, uid)
		}
		for _, p := range fresh {
			a.pods.Sync(ctx, p)
		}
	case nodeapi.KindConfigMaps:
		fresh := map[string]*corev1.ConfigMap{}
		for _, raw := range resp.Items {
			var o corev1.ConfigMap
			if err := json.Unmarshal(raw, &o); err != nil {
				return fmt.Errorf("agent: list configmaps: %w", err)
			}
			fresh[key(o.Namespace, o.Name)] = &o
		}
		c.mu.Lock()
		changed := diffKeys(c.configMaps, fresh, func(o *corev1.ConfigMap) string { return o.ResourceVersion })
		c.configMaps, c.revs[kind], c.dirty = fresh, resp.Revision, true
		c.mu.Unlock()
		a.notifyObjects("ConfigMap", changed)
	case nodeapi.KindSecrets:
		fresh := map[string]*corev1.Secret{}
		for _, raw := range resp.Items {
			var o corev1.Secret
			if err := json.Unmarshal(raw, &o); err != nil {
				return fmt.Errorf("agent: list secrets: %w", err)
			}
			fresh[key(o.Namespace, o.Name)] = &o
		}
		c.mu.Lock()
		changed := diffKeys(c.secrets, fresh, func(o *corev1.Secret) string { return o.ResourceVersion })
		c.secrets, c.revs[kind], c.dirty = fresh, resp.Revision, true
		c.mu.Unlock()
		a.notifyObjects("Secret", changed)
	case nodeapi.KindNodes:
		fresh := map[string]*corev1.Node{}
		for _, raw := range resp.Items {
			var n corev1.Node
			if err := json.Unmarshal(raw, &n); err != nil {
				return fmt.Errorf("agent: list nodes: %w", err)
			}
			fresh[n.Name] = &n
		}
		c.mu.Lock()
		c.nodes, c.revs[kind] = fresh, resp.Revision
		c.mu.Unlock()
		a.nodesChanged()
	}
	return nil
}

// listAll reads every page of a list; a snapshot compacted away between pages (410)
// starts it over.
func (a *Agent) listAll(ctx context.Context, kind string) (*nodeapi.Response, error) {
	for {
		resp, err := a.request(ctx, nodeapi.Request{Op: nodeapi.OpList, Kind: kind})
		if err != nil {
			return nil, err
		}
		next := resp.Continue
		for next != "" {
			page, err := a.request(ctx, nodeapi.Request{Op: nodeapi.OpList, Kind: kind, Continue: next})
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				break
			}
			if err != nil {
				return nil, err
			}
			resp.Items = append(resp.Items, page.Items...)
			next = page.Continue
		}
		if next == "" {
			return resp, nil
		}
	}
}

func diffKeys[T any](old, fresh map[string]T, rv func(T) string) []string {
	var out []string
	for k, o := range old {
		if f, ok := fresh[k]; !ok || rv(f) != rv(o) {
			out = append(out, k)
		}
	}
	for k := range fresh {
		if _, ok := old[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func (a *Agent) notifyObjects(kind string, keys []string) {
	for _, k := range keys {
		if ns, name, ok := strings.Cut(k, "/"); ok {
			a.pods.ObjectChanged(kind, ns, name)
		}
	}
}

// watch keeps one kind's cache current, resuming across reconnects from the last
// revision, and relisting only when the kernel has compacted that revision away.
func (a *Agent) watch(ctx context.Context, kind string) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		from, _ := a.cache.revision(kind)
		err := a.client.Watch(ctx, kind, from, func(ev nodelink.Event) error { return a.apply(ctx, kind, ev) })
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nodelink.ErrCompacted):
			a.log.Info("watch compacted; listing again", "kind", kind, "from", from)
			if err := retrying(ctx, func() error { return a.relist(ctx, kind) }); err != nil && ctx.Err() == nil {
				a.log.Warn("relist", "kind", kind, "err", err)
			}
			continue
		case err != nil:
			a.log.Warn("watch ended", "kind", kind, "from", from, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

// podRevision is the resourceVersion of the cached pod ns/name of that UID, or 0.
func (c *cache) podRevision(ns, name string, uid types.UID) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pods[key(ns, name)]
	if p == nil || p.UID != uid {
		return 0
	}
	rv, _ := strconv.ParseUint(p.ResourceVersion, 10, 64)
	return rv
}

// advance records a pod's status write, made on the cached version base, as the
// version rev it made: the kernel does not send a node the versions its own status
// writes make (nodeapi.OpPodStatus). A cache that moved past base already holds it.
func (a *Agent) advance(ctx context.Context, p *corev1.Pod, base, rev uint64) {
	c := a.cache
	k := key(p.Namespace, p.Name)
	c.mu.Lock()
	cur := c.pods[k]
	if cur == nil || cur.UID != p.UID || cur.ResourceVersion != strconv.FormatUint(base, 10) {
		c.mu.Unlock()
		return
	}
	next := *cur // cached pods are replaced, never changed in place
	next.Status = *p.Status.DeepCopy()
	next.ResourceVersion = strconv.FormatUint(rev, 10)
	c.pods[k], c.dirty = &next, true
	c.mu.Unlock()
	a.pods.Sync(ctx, &next)
}

// apply applies one watch event to the cache and tells the pod manager.
func (a *Agent) apply(ctx context.Context, kind string, ev nodelink.Event) error {
	c := a.cache
	if ev.Type == nodelink.Bookmark {
		c.mu.Lock()
		c.revs[kind], c.revDirty = ev.Revision, true
		c.mu.Unlock()
		return nil
	}
	switch kind {
	case nodeapi.KindPods:
		a.podEvents.Add(1)
		var p corev1.Pod
		if err := json.Unmarshal(ev.Object, &p); err != nil {
			return fmt.Errorf("agent: pod event: %w", err)
		}
		k := key(p.Namespace, p.Name)
		c.mu.Lock()
		old := c.pods[k]
		if ev.Type == nodelink.Deleted {
			delete(c.pods, k)
		} else {
			c.pods[k] = &p
		}
		c.revs[kind], c.dirty = ev.Revision, true
		c.mu.Unlock()
		if old != nil && old.UID != p.UID {
			a.pods.Forget(ctx, old.UID)
		}
		if ev.Type == nodelink.Deleted {
			a.pods.Forget(ctx, p.UID)
		} else {
			a.pods.Sync(ctx, &p)
		}
	case nodeapi.KindConfigMaps:
		var o corev1.ConfigMap
		if err := json.Unmarshal(ev.Object, &o); err != nil {
			return fmt.Errorf("agent: configmap event: %w", err)
		}
		c.mu.Lock()
		if ev.Type == nodelink.Deleted {
			delete(c.configMaps, key(o.Namespace, o.Name))
		} else {
			c.configMaps[key(o.Namespace, o.Name)] = &o
		}
		c.revs[kind], c.dirty = ev.Revision, true
		c.mu.Unlock()
		a.pods.ObjectChanged("ConfigMap", o.Namespace, o.Name)
	case nodeapi.KindSecrets:
		var o corev1.Secret
		if err := json.Unmarshal(ev.Object, &o); err != nil {
			return fmt.Errorf("agent: secret event: %w", err)
		}
		c.mu.Lock()
		if ev.Type == nodelink.Deleted {
			delete(c.secrets, key(o.Namespace, o.Name))
		} else {
			c.secrets[key(o.Namespace, o.Name)] = &o
		}
		c.revs[kind], c.dirty = ev.Revision, true
		c.mu.Unlock()
		a.pods.ObjectChanged("Secret", o.Namespace, o.Name)
	case nodeapi.KindNodes:
		var n corev1.Node
		if err := json.Unmarshal(ev.Object, &n); err != nil {
			return fmt.Errorf("agent: node event: %w", err)
		}
		c.mu.Lock()
		if ev.Type == nodelink.Deleted {
			delete(c.nodes, n.Name)
		} else {
			c.nodes[n.Name] = &n
		}
		c.revs[kind] = ev.Revision
		c.mu.Unlock()
		a.nodesChanged()
	}
	return nil
}

// nodesChanged hands the cluster's nodes to Config.Nodes.
func (a *Agent) nodesChanged() {
	if a.cfg.Nodes == nil {
		return
	}
	a.cache.mu.RLock()
	nodes := make([]*corev1.Node, 0, len(a.cache.nodes))
	for _, n := range a.cache.nodes {
		nodes = append(nodes, n.DeepCopy())
	}
	a.cache.mu.RUnlock()
	a.cfg.Nodes(nodes)
}
