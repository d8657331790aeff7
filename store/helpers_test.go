package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// testLogger discards the store's messages unless WEFT_STORE_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("WEFT_STORE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testOptions(fs vfs.FS) Options {
	return Options{FS: fs, Logger: testLogger(), ProgressInterval: 50 * time.Millisecond}
}

// openTest opens a store and closes it when the test ends.
func openTest(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func bg(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rawVersion is one version key as stored.
type rawVersion struct {
	key       string
	rev       int64
	tombstone bool
	value     string
	create    int64
}

// rawState is everything the store keeps in Pebble, decoded.
type rawState struct {
	revision, compactTarget, compactDone int64
	versions                             []rawVersion // Pebble order
	log                                  map[int64][]eventRef
}

func readRaw(db *pebble.DB) (rawState, error) {
	st := rawState{log: make(map[int64][]eventRef)}
	it, err := db.NewIter(nil)
	if err != nil {
		return st, err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		k, v := it.Key(), it.Value()
		switch k[0] {
		case tagVersion:
			key, rev, err := decodeVersionKey(k)
			if err != nil {
				return st, err
			}
			tomb, create, value, err := decodeVersion(v)
			if err != nil {
				return st, err
			}
			st.versions = append(st.versions, rawVersion{string(key), rev, tomb, string(value), create})
		case tagEvent:
			rev, err := decodeEventKey(k)
			if err != nil {
				return st, err
			}
			if st.log[rev], err = decodeEventRecord(v); err != nil {
				return st, err
			}
		case tagMeta:
			var dst *int64
			switch {
			case bytes.Equal(k, metaRevision):
				dst = &st.revision
			case bytes.Equal(k, metaCompactTarget):
				dst = &st.compactTarget
			case bytes.Equal(k, metaCompactDone):
				dst = &st.compactDone
			}
			if dst != nil {
				if *dst, err = decodeInt(v); err != nil {
					return st, err
				}
			}
		default:
			return st, fmt.Errorf("unknown key %q", k)
		}
	}
	return st, it.Error()
}

// checkConsistency checks the invariants that tie the versions, the event log and the
// meta keys together, as a crash must leave them:
//   - no version above the revision meta key; every revision above the finished
//     compaction has an event record, and no record exists at or below it;
//   - each record names exactly the versions written at its revision (a revision is
//     never split or partly written), or a superset of them below a compaction that
//     is still removing history;
//   - once a compaction has finished, each key keeps at most one version at or below
//     its target, and never a tombstone.
func checkConsistency(db *DB) (rawState, error) {
	st, err := readRaw(db.pdb)
	if err != nil {
		return st, err
	}
	if p := db.published.Load(); p != st.revision {
		return st, fmt.Errorf("published revision %d, meta revision %d", p, st.revision)
	}
	byRev := make(map[int64][]eventRef)
	below := make(map[string]int)
	for _, v := range st.versions {
		if v.rev > st.revision || v.rev <= 0 {
			return st, fmt.Errorf("version %s@%d outside (0, %d]", v.key, v.rev, st.revision)
		}
		typ := EventPut
		if v.tombstone {
			typ = EventDelete
		}
		if v.rev > st.compactDone {
			byRev[v.rev] = append(byRev[v.rev], eventRef{typ, v.key})
		} else if st.compactDone == st.compactTarget {
			if below[v.key]++; below[v.key] > 1 || v.tombstone {
				return st, fmt.Errorf("%s@%d survived compaction to %d", v.key, v.rev, st.compactDone)
			}
		}
	}
	for rev := range st.log {
		if rev <= st.compactDone || rev > st.revision {
			return st, fmt.Errorf("event record at %d outside (%d, %d]", rev, st.compactDone, st.revision)
		}
	}
	for rev := st.compactDone + 1; rev <= st.revision; rev++ {
		refs, ok := st.log[rev]
		if !ok {
			return st, fmt.Errorf("no event record at %d", rev)
		}
		got, want := refStrings(byRev[rev]), refStrings(refs)
		if rev > st.compactTarget && !slices.Equal(got, want) {
			return st, fmt.Errorf("revision %d: versions %v, event record %v", rev, got, want)
		}
		// Below a compaction still running, versions may already be gone, but the
		// record must name every one that is left.
		for _, g := range got {
			if !slices.Contains(want, g) {
				return st, fmt.Errorf("revision %d: version %s not in event record %v", rev, g, want)
			}
		}
	}
	return st, nil
}

func refStrings(refs []eventRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = fmt.Sprintf("%d:%s", r.typ, r.key)
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond until it holds; the bound is a liveness guard, not a timing check.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func isTxnErr(err error) bool {
	var te *TxnError
	return errors.As(err, &te)
}
