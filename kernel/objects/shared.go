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
	byKey map[sharedKey]*sharedValue
	order []sharedKey // oldest first; a ring from head
	head  int
	bytes int
	// reuse is, per kind (storage prefix), a moving average out of reuseScale of
	// whether its versions were read again before they left the window; DecodeMeta
	// shares whole the versions of kinds at half or more.
	reuse map[string]int
	// byObject finds the version a shared object was decoded from (StoredJSON).
	byObject map[*unstructured.Unstructured]*sharedValue
}

type sharedKey struct {
	key string
	rev int64
}

type sharedValue struct {
	// u is nil when only a metadata reader (DecodeMeta) has read the version: a whole
	// decode of it that follows is what sharing it would have saved.
	u      *unstructured.Unstructured
	kind   string
	size   int
	reused bool
	// json is the stored value when it is plain JSON (not sealed), else nil.
	json []byte
}

const reuseScale = 1024

// metaReadSize is what a version that only DecodeMeta read is counted for, about what
// remembering it costs.
const metaReadSize = 128

func (c *sharedDecodes) get(k sharedKey) *unstructured.Unstructured {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.byKey[k]
	if v == nil || v.u == nil {
		return nil
	}
	v.reused = true
	return v.u
}

// getForMeta is get for DecodeMeta, which on a miss decodes the whole and shares it
// when the kind's versions are usually read again.
func (c *sharedDecodes) getForMeta(k sharedKey, kind string) (u *unstructured.Unstructured, whole bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.byKey[k]; v != nil && v.u != nil {
		v.reused = true
		return v.u, false
	}
	score, ok := c.reuse[kind]
	return nil, !ok || score >= reuseScale/2
}

// put shares u, decoded from the plain JSON raw (nil if it was sealed); a nil u
// records a read of metadata alone.
func (c *sharedDecodes) put(k sharedKey, kind string, size int, u *unstructured.Unstructured, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[sharedKey]*sharedValue{}
		c.reuse = map[string]int{}
		c.byObject = map[*unstructured.Unstructured]*sharedValue{}
	}
	if u == nil {
		size, raw = metaReadSize+len(k.key), nil
	}
	if v, ok := c.byKey[k]; ok {
		if v.u == nil && u != nil {
			v.reused = true
			if size <= sharedBudget/4 {
				v.u, v.json = u, raw
				c.byObject[u] = v
				c.bytes += size - v.size
				v.size = size
				c.trim(0)
			}
		}
		return
	}
	if size > sharedBudget/4 {
		return
	}
	c.trim(size)
	v := &sharedValue{u: u, kind: kind, size: size, json: raw}
	c.byKey[k] = v
	if u != nil {
		c.byObject[u] = v
	}
	c.order = append(c.order, k)
	c.bytes += size
}

// storedJSON is the plain stored JSON u was decoded from, while u is shared.
func (c *sharedDecodes) storedJSON(u *unstructured.Unstructured) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.byObject[u]; v != nil {
		return v.json
	}
	return nil
}

// trim evicts the oldest versions until size more bytes fit.
func (c *sharedDecodes) trim(size int) {
	for c.bytes+size > sharedBudget && c.head < len(c.order) {
		old := c.order[c.head]
		c.order[c.head] = sharedKey{}
		c.head++
		v := c.byKey[old]
		delete(c.byKey, old)
		if v.u != nil {
			delete(c.byObject, v.u)
		}
		c.bytes -= v.size
		// Kinds start as if always read again, which sharing assumed before.
		score, ok := c.reuse[v.kind]
		if !ok {
			score = reuseScale
		}
		target := 0
		if v.reused {
			target = reuseScale
		}
		c.reuse[v.kind] = score + (target-score)/8
	}
	if c.head > len(c.order)/2 {
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
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
	var raw []byte
	if plainJSON(e, kv.Value) {
		raw = kv.Value
	}
	s.shared.put(k, e.Prefix, len(kv.Key)+len(kv.Value), u, raw)
	return u, nil
}

// StoredJSON returns the JSON a shared decode (DecodeShared) was decoded from, which
// is what Marshal writes for it without its resourceVersion (stored values do not
// hold it; ujson.AppendWithResourceVersion puts it back), while the decode is still
// shared and its kind is stored unsealed; nil otherwise. Encoding a version for a
// watcher was a decode's worth of work for what the store already holds.
func (s *Service) StoredJSON(u *unstructured.Unstructured) []byte {
	return s.shared.storedJSON(u)
}

// plainJSON reports whether a stored value of e is JSON, not sealed.
func plainJSON(e *registry.Entry, v []byte) bool {
	return !e.EncryptAtRest && len(v) > 0 && v[0] == '{'
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
