package store

import (
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Defaults applied by Open to zero fields of Options. Other backends of Interface
// enforce the same limits so that callers see one behaviour.
const (
	DefaultProgressInterval = 5 * time.Second
	DefaultMaxValueSize     = 2 << 20
	DefaultMaxTxnOps        = 4096
	DefaultMaxTxnBytes      = 16 << 20
	DefaultCacheSize        = 64 << 20
	DefaultMemTableSize     = 64 << 20
	DefaultLatestCacheSize  = 64 << 20
)

// Options configures Open. The zero value is valid: every zero field takes its default.
type Options struct {
	// FS is the filesystem Pebble runs on; nil means the operating system's.
	// Tests pass an in-memory, crashable or error-injecting filesystem here.
	FS vfs.FS
	// Logger receives the store's and Pebble's messages; nil means slog.Default().
	Logger *slog.Logger
	// Observer, when set, is told about every group commit (for metrics).
	Observer Observer
	// ProgressInterval is how long a ProgressNotify watch stays idle before it is sent a
	// progress notification.
	ProgressInterval time.Duration
	// MaxValueSize caps the size of one value (and of one key).
	MaxValueSize int
	// MaxTxnOps caps the number of operations in one transaction.
	MaxTxnOps int
	// MaxTxnBytes caps the summed size of the keys and values of one transaction, so
	// that MaxTxnOps values of MaxValueSize each cannot be submitted in one go.
	MaxTxnBytes int
	// CacheSize is the size in bytes of Pebble's block cache.
	CacheSize int64
	// MemTableSize is the size in bytes of one Pebble memtable. A group commit never
	// exceeds a quarter of it, so that Pebble does not turn it into a flushable batch.
	MemTableSize uint64
	// LatestCacheSize is the memory in bytes kept for the newest versions of recently
	// written keys, which reads of those keys then take without a Pebble seek.
	LatestCacheSize int

	// hooks lets in-package tests pause the store at precise points.
	hooks *testHooks
}

// Observer receives measurements from the store, so that the kernel can export
// metrics without the store depending on a metrics library. Methods are called from
// the store's internal goroutines and must not block.
type Observer interface {
	// ObserveCommit reports one group commit: how many transactions it carried, how
	// large its Pebble batch was, and how long it took from apply to durable.
	ObserveCommit(txns int, batchBytes int, d time.Duration)
}

// testHooks are called at points where tests need to stop or observe the store.
type testHooks struct {
	// ringBytes, when set, replaces the memory budget of the hub's ring of chunks.
	ringBytes int
	// afterCompactChunk runs after a compaction chunk has been durably applied,
	// with the number of chunks applied so far in this pass.
	afterCompactChunk func(chunks int)
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	if o.MaxValueSize <= 0 {
		o.MaxValueSize = DefaultMaxValueSize
	}
	if o.MaxTxnOps <= 0 {
		o.MaxTxnOps = DefaultMaxTxnOps
	}
	if o.MaxTxnBytes <= 0 {
		o.MaxTxnBytes = max(DefaultMaxTxnBytes, 2*o.MaxValueSize)
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.LatestCacheSize <= 0 {
		o.LatestCacheSize = DefaultLatestCacheSize
	}
	return o
}
