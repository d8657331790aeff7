// Package store is Weft's object store: an MVCC key-value store with one global
// revision, compare-and-swap writes, multi-key transactions, watches and compaction.
// store.go defines the contract (Interface) that every backend implements; this package
// also holds the embedded implementation on Pebble (Open, DB), and storetest holds the
// conformance suite every backend runs.
//
// # What it owns
//
// The store owns revisions (one int64 that only grows; each transaction commits at
// exactly one), the versions of every key above the compacted revision, the event log
// that watches replay, and the durability of all of it. It knows nothing of Kubernetes
// objects: keys are strings, values are bytes.
//
// # On-disk layout
//
// Pebble holds three key spaces, told apart by their first byte. Integers are 8-byte
// big-endian; ^rev is the bitwise complement, so that versions sort newest first.
//
//	k                                   versions (keys.go: versionKey)
//	├── <key> 0x00 <^rev>           ->  0x00 <uvarint create revision> <value>
//	│                                   the version of <key> written at <rev>
//	└── <key> 0x00 <^rev>           ->  0x01
//	                                    a tombstone: <key> was deleted at <rev>
//	e                                   event log (keys.go: eventKey)
//	└── <rev>                       ->  <uvarint n> n × (<type> <uvarint len> <key>)
//	                                    the keys revision <rev> put (type 1) or deleted
//	                                    (type 2), in transaction order; values are read
//	                                    from the versions
//	m                                   bookkeeping (keys.go: meta*)
//	├── format                      ->  <int>  layout version, checked on Open
//	├── revision                    ->  <int>  last committed revision
//	├── compact.target              ->  <int>  last revision Compact was called with
//	├── compact.done                ->  <int>  last compaction fully applied
//	└── compact.cursor              ->  <int target> <key>
//	                                    the running compaction pass finished every key
//	                                    up to <key>
//
// Keys cannot contain NUL, so 0x00 ends the user key: the versions of "a" sort before
// those of "a/b", a prefix scan is a plain Pebble range, and k<key>0x01 is the first
// Pebble key after every version of <key>. Reading <key> at revision R is one SeekGE to
// k<key>0x00<^R>: the first entry found, if it belongs to <key>, is the newest version
// at or below R.
//
// # Writes: group commit
//
// Writers queue transactions; one committer goroutine (commit.go) owns every write to
// Pebble. It takes the queued transactions in order into a group, checks each one's
// conditions against the newest state plus the effects of the transactions before it in
// the group, gives each the next revision, and writes all of them, their event records
// and the revision meta key into one batch, applied with one synced WAL write. A syncer
// goroutine waits for that fsync, publishes the group and answers its writers. While
// group N is being fsynced the committer fills group N+1, so preparation overlaps I/O.
//
// # Durability and visibility
//
// A write is acknowledged only after the fsync of the WAL record that holds it, and no
// reader or watcher sees it before then:
//
//   - Pebble shows an applied batch to iterators before its WAL is synced. The store
//     therefore never reads at Pebble's latest state: every read is at a revision no
//     higher than the published one, the revision of the last group whose fsync
//     succeeded, and versions above it are skipped by the seek described above.
//   - The syncer publishes groups one at a time in revision order: it stores the new
//     published revision and hands the group's events to the watch hub, and only then
//     answers the group's writers. So an acknowledged write is visible to every later
//     read and watch, and nothing unacknowledged is. Watches that replay history read
//     the event log capped at the published revision, or chunks the syncer published.
//   - Answers that depend on state, a failed condition and the TxnError.Current it
//     carries, may be computed from a group still being fsynced; they are sent with the
//     group they were evaluated in, hence after the state they saw is durable.
//   - Transactions made only of checks write nothing and are answered at the published
//     revision without the committer.
//   - If a commit or an fsync fails, the outcome of the batch on disk is unknown. Nothing
//     of that group, nor of any group after it, is published or acknowledged: their
//     writers get ErrFailed, watchers end with ErrFailed, and later writes fail with it.
//     Reads go on at the published revision. The store must be reopened.
//   - Reopening recovers a consistent state: a group is one Pebble batch, hence one
//     checksummed WAL record that recovery replays whole or not at all, and the revision
//     meta key, the versions and the event records of a revision are all in it. Pebble
//     flushes what it replays to synced sstables before Open returns, so what a
//     reopened store shows is durable.
//
// # Reads of recently written keys
//
// A read of one key is one SeekGE, but through every memtable and level that may hold a
// version of it: about 35 µs at 5000 nodes, whose Leases are renewed 500 times a second,
// each read back first. So the committer also records the newest version it writes of
// each key in a bounded cache (latest.go), which its own condition checks and Get
// consult first. It records versions before they are durable, so a reader takes an
// entry only if its revision is not above the revision being read; since every version
// written passes through the cache in revision order, such an entry is the newest at
// that revision. Deletes and the memory budget evict entries; an evicted key is read
// from Pebble.
//
// Cancelling the context of a write that is still queued drops it. Once it is in a group
// being committed it may still commit after its caller has seen ctx.Err(): like a write
// whose connection to etcd broke, its outcome is then unknown to the caller.
//
// # Pebble's own failure modes
//
// Read from the Pebble v2.1.7 source:
//
//   - A WAL write or sync error is returned to the waiters of that sync (SyncWait) and is
//     sticky in Pebble's log writer. The next WAL record written after the error has
//     been noticed makes Pebble panic while it holds its commit mutex, which would also
//     deadlock pebble.DB.Close. The committer therefore applies a group only once the
//     fsync of the previous one has succeeded, and writes nothing after a failure.
//     Apply and SyncWait run under recover() anyway; if Pebble panics there the store
//     fails and Close leaves the Pebble handle alone.
//   - Errors while rotating the WAL (syncing and closing the old file, creating the new
//     one) make Pebble panic inside its commit path with its main mutex already
//     released, which the runtime turns into a fatal "unlock of unlocked mutex": the
//     process ends. MANIFEST write or sync errors make Pebble call Logger.Fatalf, which
//     this package turns into a panic, on Pebble's own goroutines. Both end the process
//     and are left to crash recovery. The fault-injection tests inject WAL write and
//     sync errors, which are handled, and crash images, which model the rest.
//   - Background flush and compaction errors are logged and retried by Pebble.
//
// # Watches
//
// The hub (hub.go) follows etcd's watchable store. A synced watcher receives each
// published group through a non-blocking send into its buffered channel; the group's
// events are matched once per distinct prefix and the same slice is sent to every
// watcher of that prefix (events and values are shared: consumers must not modify
// them). A watcher whose buffer is full moves to the slow group with the response that
// did not fit; the hub's goroutine retries it, then replays what it missed, as an
// unsynced watcher, from an in-memory ring of recent groups or from the event log, and
// moves it back to synced under the lock that publishing takes, so nothing is missed or
// repeated. Publishing never blocks on a consumer. A watcher that needs a revision that
// compaction removed ends with ErrCompacted. A watcher costs no goroutine: context
// cancellation closes it through context.AfterFunc.
//
// # Compaction
//
// Compact(rev) raises the compacted revision at once (reads below it fail from then
// on), makes the target durable, then removes history in bounded chunks committed
// through the committer, each with a cursor recording the last key it finished; see
// compact.go. A crash leaves the target ahead of the finished revision and Open resumes
// the pass in the background. Reads at or above the target are never disturbed: they
// use Pebble iterators, which are snapshots, opened before the compacted revision is
// checked, and compaction removes only versions no such read can reach.
package store
