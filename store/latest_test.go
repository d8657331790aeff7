package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestReadsMatchHistory writes, updates and deletes a few keys at random from several
// writers, with a cache budget so small that entries are evicted all the time, and
// checks every read, at the current revision and at past ones, against the history
// the writes reported, before and after compactions.
func TestReadsMatchHistory(t *testing.T) {
	for _, budget := range []int{256, 4 << 10, 1 << 20} {
		t.Run(fmt.Sprint("budget=", budget), func(t *testing.T) {
			opts := testOptions(vfs.NewMem())
			opts.LatestCacheSize = budget
			db := openTest(t, "db", opts)
			ctx := bg(t)

			// versions[key][rev] is the value written at rev; "" marks a delete.
			var mu sync.Mutex
			versions := map[string]map[int64]string{}
			record := func(key string, rev int64, value string) {
				mu.Lock()
				defer mu.Unlock()
				if versions[key] == nil {
					versions[key] = map[int64]string{}
				}
				versions[key][rev] = value
			}
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for i := range 300 {
						key := fmt.Sprintf("k/%d", rng.IntN(12))
						value := fmt.Sprintf("w%d-%d-%s", w, i, make([]byte, rng.IntN(64)))
						cur, err := db.Get(ctx, key, 0)
						switch {
						case errors.Is(err, ErrNotFound):
							if kv, err := db.Create(ctx, key, []byte(value)); err == nil {
								record(key, kv.ModRevision, value)
							} else if !isTxnErr(err) {
								t.Error(err)
								return
							}
						case err != nil:
							t.Error(err)
							return
						case rng.IntN(5) == 0:
							if _, rev, err := db.Delete(ctx, key, cur.ModRevision); err == nil {
								record(key, rev, "")
							} else if !isTxnErr(err) {
								t.Error(err)
								return
							}
						default:
							if kv, err := db.Update(ctx, key, []byte(value), cur.ModRevision); err == nil {
								record(key, kv.ModRevision, value)
							} else if !isTxnErr(err) {
								t.Error(err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}

			// want is the value of key at rev by the history, and whether it exists.
			want := func(key string, rev int64) (string, int64, bool) {
				var best int64
				for r := range versions[key] {
					if r <= rev && r > best {
						best = r
					}
				}
				v := versions[key][best]
				return v, best, best > 0 && v != ""
			}
			check := func(from int64) {
				t.Helper()
				head := db.CurrentRevision()
				for rev := from; rev <= head; rev++ {
					for k := range 12 {
						key := fmt.Sprintf("k/%d", k)
						v, at, ok := want(key, rev)
						kv, err := db.Get(ctx, key, rev)
						switch {
						case !ok && !errors.Is(err, ErrNotFound):
							t.Fatalf("Get(%s, %d) = %q at %d, %v; want not found", key, rev, kv.Value, kv.ModRevision, err)
						case ok && (err != nil || string(kv.Value) != v || kv.ModRevision != at):
							t.Fatalf("Get(%s, %d) = %q at %d, %v; want %q at %d", key, rev, kv.Value, kv.ModRevision, err, v, at)
						}
					}
				}
			}
			check(1)
			head := db.CurrentRevision()
			if err := db.Compact(ctx, head/2); err != nil {
				t.Fatal(err)
			}
			check(head / 2)
		})
	}
}

// TestLatestCacheBudget checks that the cache stays within its budget and keeps
// nothing larger than a sixteenth of it.
func TestLatestCacheBudget(t *testing.T) {
	c := newLatestCache(64 << 10)
	for i := range 10000 {
		c.put(KV{Key: fmt.Sprintf("k/%d", i%3000), Value: make([]byte, 100), ModRevision: int64(i + 1)})
		if c.bytes > c.budget {
			t.Fatalf("after %d puts: %d bytes, budget %d", i+1, c.bytes, c.budget)
		}
	}
	c.put(KV{Key: "k/1", Value: make([]byte, 8<<10), ModRevision: 20000})
	if _, ok := c.get("k/1", 20000); ok {
		t.Fatal("a value over a sixteenth of the budget was kept")
	}
	total := 0
	for _, kv := range c.m {
		total += len(kv.Key) + len(kv.Value) + latestOverhead
	}
	if total != c.bytes {
		t.Fatalf("accounted %d bytes, holds %d", c.bytes, total)
	}
}
