package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// walFault injects errorfs.ErrInjected into the chosen operations on WAL files once
// armed. Pebble names its WAL files NNNNNN.log.
type walFault struct {
	armed atomic.Bool
	kinds []errorfs.OpKind
	hits  atomic.Int64
}

func (f *walFault) MaybeError(op errorfs.Op) error {
	if !f.armed.Load() || !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	for _, k := range f.kinds {
		if op.Kind == k {
			f.hits.Add(1)
			return errorfs.ErrInjected
		}
	}
	return nil
}

func (f *walFault) String() string { return fmt.Sprintf("wal fault %v", f.kinds) }

var (
	walSyncOps  = []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}
	walWriteOps = []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}
)

// TestWALFailure injects a WAL write or sync error under a commit: the write is not
// acknowledged, no reader or watcher sees it, the store refuses writes with ErrFailed,
// and the data on disk, after a crash or not, reopens to a consistent state holding
// every acknowledged write.
func TestWALFailure(t *testing.T) {
	tests := []struct {
		name  string
		kinds []errorfs.OpKind
	}{
		{"sync", walSyncOps},
		{"write", walWriteOps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			fault := &walFault{kinds: tt.kinds}
			db, err := Open("db", testOptions(errorfs.Wrap(mem, fault)))
			if err != nil {
				t.Fatal(err)
			}
			ctx := bg(t)
			for i := range 10 {
				if _, err := db.Create(ctx, fmt.Sprintf("ok/%d", i), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			w, err := db.Watch(ctx, "", 0, WatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			replay, err := db.Watch(ctx, "", 1, WatchOptions{})
			if err != nil {
				t.Fatal(err)
			}

			fault.armed.Store(true)
			// A create and an update: the update's new version is the newest the
			// committer knows of ok/9, but no reader may see it.
			_, err = db.Txn(ctx, []Op{{Type: OpCreate, Key: "bad", Value: []byte("v")}, {Type: OpUpdate, Key: "ok/9", Value: []byte("new"), ModRevision: 10}})
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("Txn under a WAL fault: %v, want ErrFailed", err)
			}
			if fault.hits.Load() == 0 {
				t.Fatal("the fault was never hit")
			}
			fault.armed.Store(false)

			// Nothing of the failed write is visible, and nothing more is accepted.
			if r := db.CurrentRevision(); r != 10 {
				t.Fatalf("CurrentRevision = %d after a failed commit, want 10", r)
			}
			if _, err := db.Get(ctx, "bad", 0); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get of the failed write: %v, want ErrNotFound", err)
			}
			if kv, err := db.Get(ctx, "ok/9", 0); err != nil || string(kv.Value) != "v" || kv.ModRevision != 10 {
				t.Fatalf("Get of a key the failed write updated: %+v, %v; want the version of revision 10", kv, err)
			}
			if _, err := db.Create(ctx, "later", nil); !errors.Is(err, ErrFailed) {
				t.Fatalf("Create after the failure: %v, want ErrFailed", err)
			}
			if err := db.Compact(ctx, 5); !errors.Is(err, ErrFailed) {
				t.Fatalf("Compact after the failure: %v, want ErrFailed", err)
			}
			if _, err := db.Watch(ctx, "", 0, WatchOptions{}); !errors.Is(err, ErrFailed) {
				t.Fatalf("Watch after the failure: %v, want ErrFailed", err)
			}
			if !db.Stats().Failed {
				t.Fatal("Stats().Failed is false")
			}
			for _, watcher := range []Watcher{w, replay} {
				for resp := range watcher.Responses() {
					for _, ev := range resp.Events {
						if ev.KV.ModRevision > 10 || ev.KV.Key == "bad" {
							t.Fatalf("a watcher saw the failed write: %+v", ev)
						}
					}
				}
				if !errors.Is(watcher.Err(), ErrFailed) {
					t.Fatalf("watcher ended with %v, want ErrFailed", watcher.Err())
				}
			}
			if err := db.Close(); err != nil {
				t.Fatalf("Close of a failed store: %v", err)
			}

			// A crash now loses what was not synced; without a crash the failed write
			// may be on disk. Both must reopen consistent with every acknowledged write.
			for _, c := range []struct {
				name string
				fs   vfs.FS
			}{
				{"after crash", mem.CrashClone(vfs.CrashCloneCfg{})},
				{"without crash", mem},
			} {
				db := openTest(t, "db", testOptions(c.fs))
				if _, err := checkConsistency(db); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				for i := range 10 {
					if _, err := db.Get(ctx, fmt.Sprintf("ok/%d", i), 0); err != nil {
						t.Fatalf("%s: acknowledged write lost: %v", c.name, err)
					}
				}
				rev := db.CurrentRevision()
				if rev != 10 && rev != 11 {
					t.Fatalf("%s: revision %d, want 10 or 11", c.name, rev)
				}
				if _, err := db.Create(ctx, "after", nil); err != nil {
					t.Fatalf("%s: a reopened store refuses writes: %v", c.name, err)
				}
				db.Close()
			}
		})
	}
}

// TestCrashKeepsAcknowledged takes crash images of a store under concurrent writes, with
// a random share of the unsynced data surviving: every write acknowledged before the
// image was taken must be in it, and the image must be consistent.
func TestCrashKeepsAcknowledged(t *testing.T) {
	for round := range 6 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(round), 42))
			mem := vfs.NewCrashableMem()
			db := openTest(t, "db", testOptions(mem))
			ctx := bg(t)

			var (
				mu    sync.Mutex
				acked = make(map[string]KV) // newest acknowledged version of each key
				stop  atomic.Bool
				wg    sync.WaitGroup
			)
			for w := range 8 {
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						key := fmt.Sprintf("w%d/%d", w, i%20)
						var kv KV
						var err error
						if i < 20 {
							kv, err = db.Create(ctx, key, []byte(fmt.Sprint(i)))
						} else {
							kv, err = db.Update(ctx, key, []byte(fmt.Sprint(i)), 0)
						}
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acked[key] = kv
						mu.Unlock()
					}
				})
			}
			waitFor(t, "writes", func() bool { return db.CurrentRevision() > 200 })

			mu.Lock()
			before := make(map[string]KV, len(acked))
			for k, v := range acked {
				before[k] = v
			}
			mu.Unlock()
			image := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
			stop.Store(true)
			wg.Wait()

			crashed := openTest(t, "db", testOptions(image))
			if _, err := checkConsistency(crashed); err != nil {
				t.Fatal(err)
			}
			for key, kv := range before {
				got, err := crashed.Get(ctx, key, 0)
				if err != nil {
					t.Fatalf("acknowledged %s lost: %v", key, err)
				}
				if got.ModRevision < kv.ModRevision {
					t.Fatalf("%s at %d, acknowledged at %d", key, got.ModRevision, kv.ModRevision)
				}
				if old, err := crashed.Get(ctx, key, kv.ModRevision); err != nil || string(old.Value) != string(kv.Value) {
					t.Fatalf("%s at %d = %q, %v; acknowledged %q", key, kv.ModRevision, old.Value, err, kv.Value)
				}
			}
		})
	}
}
