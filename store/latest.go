package store

import "sync"

// latestCache holds the newest version of recently written keys, so that reading a
// key soon after it was written (an update's read-modify-write, the committer's
// check of its condition) skips Pebble's seek through every memtable and level.
//
// Only the committer writes it, and it writes when it assigns a revision, before the
// group is durable. That is safe because a reader takes an entry only when its
// revision is at or below the revision being read (never above the published one),
// and the committer puts every version it writes, in revision order: an entry at or
// below the read revision is then the newest version at that revision. A delete
// evicts the key, and so does the budget; a key not in the cache is read from Pebble.
type latestCache struct {
	mu     sync.RWMutex
	m      map[string]KV
	bytes  int
	budget int
}

// latestOverhead is what an entry costs beyond its key and value, roughly.
const latestOverhead = 64

func newLatestCache(budget int) *latestCache {
	return &latestCache{m: make(map[string]KV), budget: budget}
}

// get returns key's newest version if it is cached and not above rev.
func (c *latestCache) get(key string, rev int64) (KV, bool) {
	c.mu.RLock()
	kv, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || kv.ModRevision > rev {
		return KV{}, false
	}
	return kv, true
}

// put records kv as its key's newest version. kv.Value is kept, not copied: values
// handed to the store are never modified afterwards (watchers get them too).
func (c *latestCache) put(kv KV) {
	size := len(kv.Key) + len(kv.Value) + latestOverhead
	if size > c.budget/16 {
		c.evict(kv.Key) // too large to be worth its room
		return
	}
	c.mu.Lock()
	if old, ok := c.m[kv.Key]; ok {
		c.bytes -= len(old.Key) + len(old.Value) + latestOverhead
	}
	c.m[kv.Key] = kv
	c.bytes += size
	// Over budget: drop entries until a quarter of it is free again. Map order is
	// random enough, and a dropped key is only read from Pebble again.
	if c.bytes > c.budget {
		for k, v := range c.m {
			if c.bytes <= c.budget*3/4 {
				break
			}
			delete(c.m, k)
			c.bytes -= len(v.Key) + len(v.Value) + latestOverhead
		}
	}
	c.mu.Unlock()
}

func (c *latestCache) evict(key string) {
	c.mu.Lock()
	if old, ok := c.m[key]; ok {
		delete(c.m, key)
		c.bytes -= len(old.Key) + len(old.Value) + latestOverhead
	}
	c.mu.Unlock()
}
