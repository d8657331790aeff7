package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"weft.dev/weft/store/internal/leaktest"
)

// writeHistory writes keys*versions versions in transactions of 100 ops, deleting
// every fifth key at the end. It returns the state of each key at the end.
func writeHistory(t *testing.T, db *DB, prefix string, keys, versions int) map[string]string {
	t.Helper()
	ctx := bg(t)
	final := make(map[string]string)
	for v := range versions {
		for start := 0; start < keys; start += 100 {
			var ops []Op
			for k := start; k < min(start+100, keys); k++ {
				key := fmt.Sprintf("%s%05d", prefix, k)
				val := fmt.Sprintf("v%d", v)
				typ := OpUpdate
				if v == 0 {
					typ = OpCreate
				}
				ops = append(ops, Op{Type: typ, Key: key, Value: []byte(val)})
				final[key] = val
			}
			if _, err := db.Txn(ctx, ops); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ops []Op
	for k := 0; k < keys; k += 5 {
		key := fmt.Sprintf("%s%05d", prefix, k)
		ops = append(ops, Op{Type: OpDelete, Key: key})
		delete(final, key)
	}
	if _, err := db.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	return final
}

func checkState(t *testing.T, db *DB, prefix string, want map[string]string) {
	t.Helper()
	res, err := db.List(bg(t), ListOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.KVs) != len(want) {
		t.Fatalf("%d keys, want %d", len(res.KVs), len(want))
	}
	for _, kv := range res.KVs {
		if want[kv.Key] != string(kv.Value) {
			t.Fatalf("%s = %q, want %q", kv.Key, kv.Value, want[kv.Key])
		}
	}
}

func TestCompactionRemovesHistory(t *testing.T) {
	leaktest.Check(t)
	db := openTest(t, "db", testOptions(vfs.NewMem()))
	ctx := bg(t)
	final := writeHistory(t, db, "h/", 1500, 3)
	mid := db.CurrentRevision()
	more := writeHistory(t, db, "i/", 300, 2)
	if err := db.Compact(ctx, mid); err != nil {
		t.Fatal(err)
	}
	st, err := checkConsistency(db)
	if err != nil {
		t.Fatal(err)
	}
	if st.compactDone != mid || len(st.log) != int(db.CurrentRevision()-mid) {
		t.Fatalf("after compaction to %d: done %d, %d event records", mid, st.compactDone, len(st.log))
	}
	// 1500 keys of 3 versions, 300 deleted: 1200 versions remain below mid.
	if n := len(st.versions); n != 1200+300*2+60 {
		t.Fatalf("%d versions remain", n)
	}
	checkState(t, db, "h/", final)
	checkState(t, db, "i/", more)
	if _, err := db.Get(ctx, "h/00001", mid-1); !errors.Is(err, ErrCompacted) {
		t.Fatalf("read below the compaction: %v", err)
	}
}

// TestCompactionResumesAfterCrash stops a compaction after its first chunk, takes a
// crash image, and checks that the image finishes the compaction when opened.
func TestCompactionResumesAfterCrash(t *testing.T) {
	leaktest.Check(t)
	mem := vfs.NewCrashableMem()
	parked := make(chan struct{})
	release := make(chan struct{})
	opts := testOptions(mem)
	opts.hooks = &testHooks{afterCompactChunk: func(chunks int) {
		if chunks == 1 {
			close(parked)
			<-release
		}
	}}
	db := openTest(t, "db", opts)
	final := writeHistory(t, db, "h/", 1500, 3)
	target := db.CurrentRevision()
	compacted := make(chan error, 1)
	go func() { compacted <- db.Compact(bg(t), target) }()
	<-parked
	image := mem.CrashClone(vfs.CrashCloneCfg{})
	close(release)
	if err := <-compacted; err != nil {
		t.Fatal(err)
	}

	st, err := func() (rawState, error) {
		db := openTest(t, "db", testOptions(image))
		defer db.Close()
		return readRaw(db.pdb)
	}()
	if err != nil {
		t.Fatal(err)
	}
	if st.compactTarget != target || st.compactDone >= target {
		t.Fatalf("crash image: target %d, done %d; want an unfinished compaction to %d", st.compactTarget, st.compactDone, target)
	}
	// Opening the image again resumes the pass (the open above may have finished it
	// already; either way it must end complete and consistent).
	db2 := openTest(t, "db", testOptions(image))
	waitFor(t, "the compaction to resume and finish", func() bool { return db2.Stats().CompactionDone == target })
	if _, err := checkConsistency(db2); err != nil {
		t.Fatal(err)
	}
	checkState(t, db2, "h/", final)
}

// TestReadsDuringCompaction reads at and above the compaction target while history is
// being removed: every read must see the same state as before the compaction.
func TestReadsDuringCompaction(t *testing.T) {
	leaktest.Check(t)
	db := openTest(t, "db", testOptions(vfs.NewMem()))
	ctx := bg(t)
	writeHistory(t, db, "h/", 2000, 3)
	target := db.CurrentRevision() - 10
	want := make(map[int64]int)
	for rev := target; rev <= db.CurrentRevision(); rev++ {
		res, err := db.List(ctx, ListOptions{Prefix: "h/", Revision: rev})
		if err != nil {
			t.Fatal(err)
		}
		want[rev] = len(res.KVs)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 0))
			for {
				select {
				case <-done:
					return
				default:
				}
				rev := target + rng.Int64N(11)
				res, err := db.List(ctx, ListOptions{Prefix: "h/", Revision: rev})
				if err != nil || len(res.KVs) != want[rev] {
					t.Errorf("List at %d during compaction: %d keys, %v; want %d", rev, len(res.KVs), err, want[rev])
					return
				}
			}
		})
	}
	if err := db.Compact(ctx, target); err != nil {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
}
