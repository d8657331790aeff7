package store

import (
	"context"
	"errors"
	"strconv"
)

// Sentinel errors. Implementations wrap them with %w so callers can use errors.Is.
var (
	// ErrKeyExists is returned by a Create whose key already exists.
	ErrKeyExists = errors.New("store: key already exists")
	// ErrNotFound is returned when a key does not exist at the requested revision.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict is returned when a compare-and-swap condition does not hold.
	ErrConflict = errors.New("store: revision conflict")
	// ErrCompacted is returned for reads and watches below the compacted revision.
	ErrCompacted = errors.New("store: required revision has been compacted")
	// ErrFutureRevision is returned for reads at a revision the store has not reached.
	ErrFutureRevision = errors.New("store: required revision is a future revision")
	// ErrTooLarge is returned when a value or transaction exceeds the configured limits.
	ErrTooLarge = errors.New("store: request too large")
	// ErrInvalid is returned for malformed requests (empty key, bad op).
	ErrInvalid = errors.New("store: invalid request")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
	// ErrFailed is returned once the store has seen a write or sync failure it cannot
	// recover from in-process. The store must be reopened; acknowledged data is intact.
	ErrFailed = errors.New("store: failed, reopen required")
)

// KV is one version of one key.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64 // revision that created the key (since its last deletion)
	ModRevision    int64 // revision of this version
}

// OpType is the kind of one operation in a transaction.
type OpType uint8

const (
	// OpCreate writes Key only if it does not exist.
	OpCreate OpType = iota + 1
	// OpUpdate writes Key only if it exists and, when ModRevision > 0, its current
	// mod revision equals ModRevision.
	OpUpdate
	// OpDelete removes Key only if it exists and, when ModRevision > 0, its current
	// mod revision equals ModRevision.
	OpDelete
	// OpCheck writes nothing; it asserts that Key exists with mod revision ModRevision,
	// or, when ModRevision is 0, that Key does not exist. A failed check reports
	// ErrKeyExists (the key exists but should not), ErrNotFound (it does not exist but
	// should) or ErrConflict (it exists at another revision).
	OpCheck
)

// Op is one operation of a transaction. Value is only allowed on OpCreate and OpUpdate,
// and ModRevision only on OpUpdate, OpDelete and OpCheck (ErrInvalid otherwise).
type Op struct {
	Type        OpType
	Key         string
	Value       []byte
	ModRevision int64
}

// TxnResult reports the outcome of a committed transaction.
type TxnResult struct {
	// Revision is the single revision assigned to every write of the transaction.
	// A transaction made only of checks commits nothing and reports the current revision.
	Revision int64
	// KVs holds, per op, the new version (create, update), the deleted version (delete)
	// or the checked version (check with ModRevision > 0).
	KVs []KV
}

// TxnError tells which op of a transaction failed its condition.
type TxnError struct {
	Index   int   // index of the failing op
	Err     error // ErrKeyExists, ErrNotFound or ErrConflict
	Current *KV   // the current version of the key, when it exists
}

func (e *TxnError) Error() string { return e.Err.Error() + " (op " + strconv.Itoa(e.Index) + ")" }
func (e *TxnError) Unwrap() error { return e.Err }

// ListOptions selects a range of keys.
type ListOptions struct {
	Prefix string
	// After, when set, starts the listing strictly after this key (a continue token).
	After string
	// Revision reads at this revision; 0 means the current revision.
	Revision int64
	// Limit caps the number of keys returned; 0 means no limit.
	Limit int
}

// ListResult is a page of a listing.
type ListResult struct {
	KVs []KV
	// Revision is the revision the listing was read at. Continue a paged listing with
	// the same Revision so that every page reads one consistent snapshot.
	Revision int64
	// More reports whether keys remain after the last one returned.
	More bool
}

// EventType tells a put from a delete.
type EventType uint8

const (
	EventPut EventType = iota + 1
	EventDelete
)

// Event is one change to one key.
type Event struct {
	Type EventType
	// KV is the new version for a put. For a delete, Key and ModRevision (the deleting
	// revision) are set and Value is empty.
	KV KV
	// PrevKV is the version before this change, when the watch asked for it and it exists.
	PrevKV *KV
}

// WatchResponse carries whole revisions, in order. A revision is never split across
// two responses. A response with no events and Progress set is a progress
// notification: every event up to Revision has been delivered.
//
// Events, and the KVs and values they hold, may be shared with other watchers of the
// same revisions: treat them as read-only.
type WatchResponse struct {
	Events []Event
	// Revision is the highest revision this response covers: once it is received, every
	// event under the watched prefix up to Revision has been delivered. It may be above
	// the last event's revision when later revisions did not touch the prefix.
	Revision int64
	Progress bool
}

// WatchOptions tunes one watch.
type WatchOptions struct {
	// PrevKV asks for the previous version of each changed key.
	PrevKV bool
	// ProgressNotify asks for a progress notification whenever the watch has been idle
	// for the store's progress interval.
	ProgressNotify bool
}

// Watcher streams the changes under a prefix.
type Watcher interface {
	// Responses delivers responses in revision order. The channel is closed when the
	// watch ends; Err then tells why: nil after Close or context cancellation,
	// ErrCompacted when it fell behind a compaction, ErrClosed or ErrFailed when the
	// store closed or failed.
	Responses() <-chan WatchResponse
	// RequestProgress asks for a progress notification as soon as the watcher has
	// delivered everything committed so far.
	RequestProgress()
	// Err reports why the watch ended, for example ErrCompacted when the watcher fell
	// behind a compaction. It is valid once Responses is closed.
	Err() error
	Close()
}

// Interface is an MVCC key-value store with a single global revision.
//
// Every committed write is durable before it is acknowledged and before any reader or
// watcher can observe it. Revisions only increase; each transaction commits at exactly
// one revision. The revision of an empty store is 0; the first write is revision 1.
//
// Keys are non-empty strings without NUL bytes (ErrInvalid otherwise); prefixes may be
// empty, meaning every key. Values are copied: callers may reuse their buffers.
//
// A failed condition is reported as a *TxnError, which wraps ErrKeyExists, ErrNotFound
// or ErrConflict; Create, Update and Delete report it with Index 0. A write whose ctx
// ends while it waits returns ctx.Err(); if it was already being committed it may
// still commit, as with any request whose answer is lost.
type Interface interface {
	// Get reads key at rev (0 for the current revision). A rev below the compacted
	// revision fails with ErrCompacted, one above the current revision with
	// ErrFutureRevision; reading at the compacted revision itself works.
	Get(ctx context.Context, key string, rev int64) (KV, error)
	List(ctx context.Context, opts ListOptions) (ListResult, error)
	// Count counts keys under prefix at the current revision.
	Count(ctx context.Context, prefix string) (int64, error)

	Create(ctx context.Context, key string, value []byte) (KV, error)
	// Update replaces key if its mod revision is modRev (any revision when modRev is 0).
	Update(ctx context.Context, key string, value []byte, modRev int64) (KV, error)
	// Delete removes key if its mod revision is modRev (any revision when modRev is 0).
	// It returns the deleted version, with ModRevision set to that version's revision,
	// and the revision of the delete.
	Delete(ctx context.Context, key string, modRev int64) (prev KV, rev int64, err error)
	// Txn applies ops atomically at one revision, or none of them. Every condition is
	// evaluated against the state before the transaction; writing one key twice in a
	// transaction is ErrInvalid. A transaction without writes (only checks, or no ops)
	// takes no revision.
	Txn(ctx context.Context, ops []Op) (TxnResult, error)

	// Watch streams every change under prefix with revision >= fromRev. fromRev 0 means
	// changes after the current revision; a fromRev above the current revision waits
	// for it. A fromRev at or below the compacted revision fails with ErrCompacted.
	Watch(ctx context.Context, prefix string, fromRev int64, opts WatchOptions) (Watcher, error)

	// Compact discards history below rev. Reads and watches below rev then fail with
	// ErrCompacted. Keys whose latest version is below rev keep that version. rev must
	// be above the compacted revision (ErrCompacted otherwise) and at most the current
	// revision (ErrFutureRevision otherwise).
	Compact(ctx context.Context, rev int64) error

	// CurrentRevision is the revision of the last durable commit.
	CurrentRevision() int64
	// CompactedRevision is the revision history was last compacted to (0 if never).
	CompactedRevision() int64

	// Close releases the store; later calls fail with ErrClosed. It is idempotent.
	Close() error
}
