package store_test

import (
	"context"
	"fmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"weft.dev/weft/store"
)

// Every benchmark here runs one bounded workload per iteration (bounded in operations
// and in time) and reports its own metrics, so that `-benchtime 1x` gives meaningful
// figures. Run them with:
//
//	go test -run '^$' -bench . -benchtime 1x ./store/

func nopZap() *zap.Logger { return zap.NewNop() }

func openBenchStore(b *testing.B) *store.DB {
	return openBenchStoreWith(b, store.Options{})
}

func openBenchStoreWith(b *testing.B, opts store.Options) *store.DB {
	b.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	db, err := store.Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// putWorkload is the durable-put workload: writers goroutines put distinct 64-byte keys
// with 1 KiB values until ops puts are done or limit has passed.
type putWorkload struct {
	writers int
	ops     int
	limit   time.Duration
}

type putResult struct {
	done     int
	elapsed  time.Duration
	lat      []time.Duration
	firstErr error
}

func (r putResult) opsPerSec() float64 { return float64(r.done) / r.elapsed.Seconds() }

func (r putResult) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

// benchKey returns the i-th 64-byte key.
func benchKey(i int) string {
	k := fmt.Sprintf("/registry/bench/%012d/", i)
	return k + strings.Repeat("x", 64-len(k))
}

func (w putWorkload) run(put func(ctx context.Context, key string, value []byte) error) putResult {
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	ctx := context.Background()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		res      putResult
		wg       sync.WaitGroup
		deadline = time.Now().Add(w.limit)
	)
	start := time.Now()
	for range w.writers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, w.ops/w.writers+1)
			var err error
			for time.Now().Before(deadline) {
				i := int(next.Add(1))
				if i > w.ops {
					break
				}
				t0 := time.Now()
				if err = put(ctx, benchKey(i), value); err != nil {
					break
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			if err != nil && res.firstErr == nil {
				res.firstErr = err
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.done = len(res.lat)
	slices.Sort(res.lat)
	return res
}

func (r putResult) report(b *testing.B) {
	if r.firstErr != nil {
		b.Fatal(r.firstErr)
	}
	b.ReportMetric(r.opsPerSec(), "ops/s")
	b.ReportMetric(float64(r.percentile(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.percentile(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // the workload, not b.N, is the unit here
}

// BenchmarkDurablePut compares durable writes on the store with a real etcd server.
// Both acknowledge a write only after an fsync. The store runs in-process, since it is
// an embedded store, while etcd is driven through its client over loopback gRPC, as
// the API server would use it: that difference is part of what is compared. The store
// side uses Create (a conditional put, as Kubernetes creates objects); the etcd side
// uses a plain Put, the cheapest write etcd offers.
func BenchmarkDurablePut(b *testing.B) {
	writers := []int{1, 16, 256}
	workload := func(n int) putWorkload {
		return putWorkload{writers: n, ops: map[int]int{1: 1500, 16: 10000, 256: 40000}[n], limit: 8 * time.Second}
	}
	results := make(map[int]putResult) // weft's, by writers, for the comparison line

	b.Run("weft", func(b *testing.B) {
		for _, n := range writers {
			b.Run(fmt.Sprintf("writers=%d", n), func(b *testing.B) {
				for range b.N {
					db := openBenchStore(b)
					b.ResetTimer()
					res := workload(n).run(func(ctx context.Context, key string, value []byte) error {
						_, err := db.Create(ctx, key, value)
						return err
					})
					b.StopTimer()
					res.report(b)
					results[n] = res
				}
			})
		}
	})
	b.Run("etcd", func(b *testing.B) {
		for _, n := range writers {
			b.Run(fmt.Sprintf("writers=%d", n), func(b *testing.B) {
				for range b.N {
					srv := startEtcd(b)
					c := srv.client(b)
					b.ResetTimer()
					res := workload(n).run(func(ctx context.Context, key string, value []byte) error {
						_, err := c.Put(ctx, key, string(value))
						return err
					})
					b.StopTimer()
					c.Close()
					srv.stop()
					res.report(b)
					if w, ok := results[n]; ok {
						b.Logf("writers=%d: weft %.0f ops/s p99 %.2f ms | etcd %.0f ops/s p99 %.2f ms | throughput x%.2f, p99 x%.2f",
							n, w.opsPerSec(), ms(w.percentile(0.99)), res.opsPerSec(), ms(res.percentile(0.99)),
							w.opsPerSec()/res.opsPerSec(), ms(w.percentile(0.99))/ms(res.percentile(0.99)))
					}
				}
			})
		}
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fanout is the watch fan-out workload: watchers on one prefix, a bounded stream of
// writes, every event delivered to every watcher.
type fanout struct {
	watchers, writes, writers int
	limit                     time.Duration
}

// run opens the watchers with watch (which returns a channel of event counts), writes
// with put, and returns the events received per second of wall time from the first
// write to the last delivery, and the number received.
func (f fanout) run(b *testing.B, watch func(ctx context.Context) (<-chan int, error), put func(ctx context.Context, key string, value []byte) error) (float64, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), f.limit)
	defer cancel()
	var received atomic.Int64
	var wg sync.WaitGroup
	for range f.watchers {
		ch, err := watch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			n := 0
			for k := range ch {
				n += k
				if n >= f.writes {
					break
				}
			}
			received.Add(int64(n))
		})
	}
	value := make([]byte, 512)
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var ww sync.WaitGroup
	for range f.writers {
		ww.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(f.writes) {
					return
				}
				if err := put(ctx, fmt.Sprintf("/fan/%06d", i), value); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	ww.Wait()
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if ctx.Err() != nil {
		b.Logf("stopped at the %s limit with %d of %d events delivered", f.limit, received.Load(), int64(f.watchers)*int64(f.writes))
	}
	return float64(received.Load()) / elapsed.Seconds(), received.Load()
}

// BenchmarkWatchFanout measures delivery to 10,000 watchers of one prefix, on the store
// and on a real etcd in the same run, with the same writes. events/s counts the events
// received, summed over all watchers, per second of wall time from the first write to
// the last delivery. The store's watchers are in-process; etcd's share one client and
// its gRPC watch stream over loopback, as an API server's would. etcd's published
// figure is 45k-95k events/s.
func BenchmarkWatchFanout(b *testing.B) {
	f := fanout{watchers: 10000, writes: 2000, writers: 16, limit: 60 * time.Second}
	var weftRate float64
	b.Run("weft", func(b *testing.B) {
		for range b.N {
			db := openBenchStore(b)
			rate, n := f.run(b, func(ctx context.Context) (<-chan int, error) {
				w, err := db.Watch(ctx, "/fan/", 0, store.WatchOptions{})
				if err != nil {
					return nil, err
				}
				ch := make(chan int)
				go func() {
					defer close(ch)
					defer w.Close()
					for resp := range w.Responses() {
						select {
						case ch <- len(resp.Events):
						case <-ctx.Done():
							return
						}
					}
				}()
				return ch, nil
			}, func(ctx context.Context, key string, value []byte) error {
				_, err := db.Create(ctx, key, value)
				return err
			})
			weftRate = rate
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(float64(n), "events")
			b.ReportMetric(0, "ns/op")
		}
	})
	b.Run("etcd", func(b *testing.B) {
		for range b.N {
			srv := startEtcd(b)
			c := srv.client(b)
			rate, n := f.run(b, func(ctx context.Context) (<-chan int, error) {
				wc := c.Watch(ctx, "/fan/", clientv3.WithPrefix())
				ch := make(chan int)
				go func() {
					defer close(ch)
					for resp := range wc {
						select {
						case ch <- len(resp.Events):
						case <-ctx.Done():
							return
						}
					}
				}()
				return ch, nil
			}, func(ctx context.Context, key string, value []byte) error {
				_, err := c.Put(ctx, key, string(value))
				return err
			})
			c.Close()
			srv.stop()
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(float64(n), "events")
			b.ReportMetric(0, "ns/op")
			b.Logf("10000 watchers, 2000 writes: weft %.0f events/s, etcd %.0f events/s (x%.1f); etcd's published figure is 45k-95k events/s", weftRate, rate, weftRate/rate)
		}
	})
}

// BenchmarkRead measures point reads and paged listings on 20,000 keys with three
// versions each, at the current revision. The keys were all written recently, so
// "get" reads them from the cache of newest versions; "get-pebble" is the same on a
// store whose cache is too small to hold any.
func BenchmarkRead(b *testing.B) {
	const keys, versions = 20000, 3
	db := openBenchStore(b)
	uncached := openBenchStoreWith(b, store.Options{LatestCacheSize: 1})
	ctx := context.Background()
	value := make([]byte, 256)
	for v := range versions {
		for start := 0; start < keys; start += 500 {
			ops := make([]store.Op, 0, 500)
			for k := start; k < start+500; k++ {
				typ := store.OpUpdate
				if v == 0 {
					typ = store.OpCreate
				}
				ops = append(ops, store.Op{Type: typ, Key: benchKey(k), Value: value})
			}
			for _, s := range []*store.DB{db, uncached} {
				if _, err := s.Txn(ctx, ops); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	names := make([]string, keys)
	for i := range names {
		names[i] = benchKey(i)
	}
	for _, c := range []struct {
		name string
		db   *store.DB
	}{{"get", db}, {"get-pebble", uncached}} {
		s := c.db
		b.Run(c.name, func(b *testing.B) {
			const gets = 200000
			for range b.N {
				rng := rand.New(rand.NewPCG(1, 2))
				start := time.Now()
				for range gets {
					if _, err := s.Get(ctx, names[rng.IntN(keys)], 0); err != nil {
						b.Fatal(err)
					}
				}
				el := time.Since(start)
				b.ReportMetric(gets/el.Seconds(), "gets/s")
				b.ReportMetric(float64(el.Nanoseconds())/gets, "ns/get")
				b.ReportMetric(0, "ns/op")
			}
		})
	}
	b.Run("list", func(b *testing.B) {
		const passes = 10
		for range b.N {
			start := time.Now()
			n := 0
			for range passes {
				opts := store.ListOptions{Prefix: "/registry/bench/", Limit: 500}
				for {
					res, err := db.List(ctx, opts)
					if err != nil {
						b.Fatal(err)
					}
					n += len(res.KVs)
					if !res.More {
						break
					}
					opts.After, opts.Revision = res.KVs[len(res.KVs)-1].Key, res.Revision
				}
			}
			el := time.Since(start)
			if n != passes*keys {
				b.Fatalf("listed %d keys, want %d", n, passes*keys)
			}
			b.ReportMetric(float64(n)/el.Seconds(), "keys/s")
			b.ReportMetric(0, "ns/op")
		}
	})
}
