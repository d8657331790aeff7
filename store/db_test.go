package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"weft.dev/weft/store/internal/leaktest"
)

type fakeObserver struct {
	commits, txns atomic.Int64
}

func (o *fakeObserver) ObserveCommit(txns int, batchBytes int, d time.Duration) {
	if batchBytes <= 0 || d < 0 {
		panic(fmt.Sprintf("bad observation: %d bytes, %v", batchBytes, d))
	}
	o.commits.Add(1)
	o.txns.Add(int64(txns))
}

func TestObserverSeesEveryCommit(t *testing.T) {
	obs := &fakeObserver{}
	opts := testOptions(vfs.NewMem())
	opts.Observer = obs
	db := openTest(t, "db", opts)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				if _, err := db.Create(bg(t), fmt.Sprintf("%d/%d", w, i), nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait() // the observer is called before writers are answered
	if obs.txns.Load() != 200 || obs.commits.Load() == 0 || obs.commits.Load() > 200 {
		t.Fatalf("observed %d transactions in %d commits, want 200", obs.txns.Load(), obs.commits.Load())
	}
}

func TestReopenKeepsState(t *testing.T) {
	leaktest.Check(t)
	mem := vfs.NewMem()
	db := openTest(t, "db", testOptions(mem))
	ctx := bg(t)
	for i := range 10 {
		if _, err := db.Create(ctx, fmt.Sprint(i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact(ctx, 4); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openTest(t, "db", testOptions(mem))
	if r, c := db.CurrentRevision(), db.CompactedRevision(); r != 10 || c != 4 {
		t.Fatalf("reopened at revision %d, compacted %d; want 10, 4", r, c)
	}
	if kv, err := db.Create(ctx, "next", nil); err != nil || kv.ModRevision != 11 {
		t.Fatalf("first write after reopening: %+v, %v", kv, err)
	}
	if _, err := checkConsistency(db); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsUnknownFormat(t *testing.T) {
	mem := vfs.NewMem()
	pdb, err := pebble.Open("db", &pebble.Options{FS: mem, Logger: pebbleLogger{testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := pdb.Set(metaFormat, encodeInt(formatVersion+1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	pdb.Close()
	if db, err := Open("db", testOptions(mem)); !errors.Is(err, errCorrupt) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open of a store in another format: %v", err)
	}
}

func TestTxnByteLimit(t *testing.T) {
	opts := testOptions(vfs.NewMem())
	opts.MaxValueSize = 100
	opts.MaxTxnBytes = 1000
	db := openTest(t, "db", opts)
	ops := make([]Op, 20)
	for i := range ops {
		ops[i] = Op{Type: OpCreate, Key: fmt.Sprint(i), Value: make([]byte, 60)}
	}
	if _, err := db.Txn(bg(t), ops); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Txn over MaxTxnBytes: %v", err)
	}
	if _, err := db.Txn(bg(t), ops[:5]); err != nil {
		t.Fatalf("Txn under MaxTxnBytes: %v", err)
	}
	if _, err := db.Create(bg(t), strings.Repeat("k", 101), nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("key over MaxValueSize: %v", err)
	}
}

// TestCloseUnderLoad closes the store while writers are queued: each write either
// commits and survives a reopen, or fails with ErrClosed.
func TestCloseUnderLoad(t *testing.T) {
	leaktest.Check(t)
	mem := vfs.NewMem()
	db, err := Open("db", testOptions(mem))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked []KV
		wg    sync.WaitGroup
	)
	started := make(chan struct{})
	var once sync.Once
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				kv, err := db.Create(bg(t), fmt.Sprintf("%d/%d", w, i), []byte("v"))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, kv)
				mu.Unlock()
				if i == 10 {
					once.Do(func() { close(started) })
				}
			}
		})
	}
	<-started
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	db = openTest(t, "db", testOptions(mem))
	for _, kv := range acked {
		if got, err := db.Get(bg(t), kv.Key, 0); err != nil || got.ModRevision != kv.ModRevision {
			t.Fatalf("acknowledged %s@%d: %+v, %v", kv.Key, kv.ModRevision, got, err)
		}
	}
}
