package objects

import (
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

// sharedBudget bounds the stored bytes whose decoded objects are kept for sharing.
// Watchers of one kind read the same change within moments of each other, so a small
// window of recent changes serves nearly all of them.
const sharedBudget = 8 << 20

// sharedDecodes keeps the objects decoded for the most recent stored versions, so
// that every watcher of a change shares one decode: each pod change reaches the
// scheduler, every plugin fed pods, the garbage collector and the nodes' fan-out, and
// decoding it for each was a fifth of the kernel's CPU under load.
type sharedDecodes struct {
	mu    sync.Mutex
	byKey map[sharedKey]*unstructured.Unstructured
	order []sharedEntry // oldest first; a ring from head
	head  int
	bytes int
}

type sharedKey struct {
	key string
	rev int64
}

type sharedEntry struct {
	k    sharedKey
	size int
}

func (c *sharedDecodes) get(k sharedKey) *unstructured.Unstructured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKey[k]
}

func (c *sharedDecodes) put(k sharedKey, size int, u *unstructured.Unstructured) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[sharedKey]*unstructured.Unstructured{}
	}
	if _, ok := c.byKey[k]; ok || size > sharedBudget/4 {
		return
	}
	for c.bytes+size > sharedBudget && c.head < len(c.order) {
		old := c.order[c.head]
		c.order[c.head] = sharedEntry{}
		c.head++
		delete(c.byKey, old.k)
		c.bytes -= old.size
	}
	if c.head > len(c.order)/2 {
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
	c.byKey[k] = u
	c.order = append(c.order, sharedEntry{k, size})
	c.bytes += size
}

// DecodeShared turns a stored value of kind e into an object, for kernel controllers
// that watch the store directly and never modify what they read: it may be the same
// object every other shared reader of that stored version gets.
func (s *Service) DecodeShared(e *registry.Entry, kv store.KV) (*unstructured.Unstructured, error) {
	k := sharedKey{kv.Key, kv.ModRevision}
	if u := s.shared.get(k); u != nil {
		return u, nil
	}
	u, err := s.decode(e, kv)
	if err != nil {
		return nil, err
	}
	s.shared.put(k, len(kv.Key)+len(kv.Value), u)
	return u, nil
}

// withResourceVersion returns u at another resourceVersion without touching u, which
// may be shared: only the maps on the path to the field are copied.
func withResourceVersion(u *unstructured.Unstructured, rev int64) *unstructured.Unstructured {
	out := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		out[k] = v
	}
	meta, _ := u.Object["metadata"].(map[string]any)
	m := make(map[string]any, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	m["resourceVersion"] = strconv.FormatInt(rev, 10)
	out["metadata"] = m
	return &unstructured.Unstructured{Object: out}
}
