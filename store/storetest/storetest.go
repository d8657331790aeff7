// Package storetest is the conformance suite of store.Interface. Every backend runs it
// from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Interface { ... })
//	}
//
// The suite tests behaviour only, never implementation details, so that the Pebble
// store and an etcd-backed store are held to the same contract. It assumes a backend
// configured with the store package's default limits (DefaultMaxValueSize,
// DefaultMaxTxnOps) and a progress interval short enough for a test (a few seconds at
// most): TestWatchProgressNotify waits for a periodic notification.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"weft.dev/weft/store"
)

// Open returns a new, empty store for one test. It registers the store's Close with
// t.Cleanup; tests may also close it themselves, so Close must be idempotent.
type Open func(t *testing.T) store.Interface

// wait bounds every wait of the suite, so that a broken backend fails instead of
// hanging. It is a liveness bound, not a performance expectation.
const wait = 20 * time.Second

// Run runs the whole suite, each test in parallel on its own store.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Empty", testEmpty},
		{"Create", testCreate},
		{"RevisionsAreConsecutive", testRevisionsConsecutive},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"Recreate", testRecreate},
		{"GetAtRevision", testGetAtRevision},
		{"InvalidKeys", testInvalidKeys},
		{"Limits", testLimits},
		{"ValueIsolation", testValueIsolation},
		{"EmptyValue", testEmptyValue},
		{"List", testList},
		{"ListPaging", testListPaging},
		{"ListAtRevision", testListAtRevision},
		{"ListMoreIgnoresDeleted", testListMoreIgnoresDeleted},
		{"Count", testCount},
		{"TxnCommit", testTxnCommit},
		{"TxnFailureIsAtomic", testTxnFailureIsAtomic},
		{"TxnCheckOnly", testTxnCheckOnly},
		{"TxnInvalid", testTxnInvalid},
		{"TxnConditionsSeePriorState", testTxnConditionsSeePriorState},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentCAS", testConcurrentCAS},
		{"CancelledContext", testCancelledContext},
		{"WatchLive", testWatchLive},
		{"WatchFromRevision", testWatchFromRevision},
		{"WatchFutureRevision", testWatchFutureRevision},
		{"WatchPrevKV", testWatchPrevKV},
		{"WatchTxnIsOneResponse", testWatchTxnIsOneResponse},
		{"WatchRequestProgress", testWatchRequestProgress},
		{"WatchProgressNotify", testWatchProgressNotify},
		{"WatchClose", testWatchClose},
		{"WatchContextCancel", testWatchContextCancel},
		{"WatchSlowConsumer", testWatchSlowConsumer},
		{"WatchSlowBehindCompaction", testWatchSlowBehindCompaction},
		{"WatchCompacted", testWatchCompacted},
		{"WatchProperty", testWatchProperty},
		{"Compact", testCompact},
		{"CompactErrors", testCompactErrors},
		{"WriteAfterCompact", testWriteAfterCompact},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, s store.Interface, key, value string) store.KV {
	t.Helper()
	kv, err := s.Create(ctxT(t), key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	return kv
}

func mustUpdate(t *testing.T, s store.Interface, key, value string) store.KV {
	t.Helper()
	kv, err := s.Update(ctxT(t), key, []byte(value), 0)
	if err != nil {
		t.Fatalf("Update(%q): %v", key, err)
	}
	return kv
}

func mustDelete(t *testing.T, s store.Interface, key string) int64 {
	t.Helper()
	_, rev, err := s.Delete(ctxT(t), key, 0)
	if err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	return rev
}

func mustGet(t *testing.T, s store.Interface, key string, rev int64) store.KV {
	t.Helper()
	kv, err := s.Get(ctxT(t), key, rev)
	if err != nil {
		t.Fatalf("Get(%q, %d): %v", key, rev, err)
	}
	return kv
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// wantTxnErr checks that err is a *TxnError for op index with the given sentinel and,
// when cur is not 0, a Current version of that mod revision (nil when cur is -1).
func wantTxnErr(t *testing.T, what string, err error, index int, want error, cur int64) {
	t.Helper()
	wantErr(t, what, err, want)
	var te *store.TxnError
	if !errors.As(err, &te) {
		t.Fatalf("%s: error %v is not a *store.TxnError", what, err)
	}
	if te.Index != index {
		t.Fatalf("%s: TxnError.Index = %d, want %d", what, te.Index, index)
	}
	switch {
	case cur == -1 && te.Current != nil:
		t.Fatalf("%s: TxnError.Current = %+v, want nil", what, te.Current)
	case cur > 0 && (te.Current == nil || te.Current.ModRevision != cur):
		t.Fatalf("%s: TxnError.Current = %+v, want mod revision %d", what, te.Current, cur)
	}
}

func kvString(kv store.KV) string {
	return fmt.Sprintf("{%s=%q c%d m%d}", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
}

func wantKV(t *testing.T, what string, got store.KV, key, value string, create, mod int64) {
	t.Helper()
	want := store.KV{Key: key, Value: []byte(value), CreateRevision: create, ModRevision: mod}
	if got.Key != want.Key || string(got.Value) != value || got.CreateRevision != create || got.ModRevision != mod {
		t.Fatalf("%s: got %s, want %s", what, kvString(got), kvString(want))
	}
}
