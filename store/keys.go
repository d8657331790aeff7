package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// The Pebble key space is split by a one-byte tag. doc.go draws the whole layout.
const (
	tagVersion = 'k' // k<key>\x00<^rev>   one version of one key
	tagEvent   = 'e' // e<rev>            the keys a revision changed
	tagMeta    = 'm' // m<name>           store bookkeeping
)

// Meta keys. Each holds one encoded int64 unless said otherwise.
var (
	// metaFormat is the layout version, checked on Open.
	metaFormat = []byte("mformat")
	// metaRevision is the revision of the last committed group.
	metaRevision = []byte("mrevision")
	// metaCompactTarget is the revision requested by the last Compact; it is written
	// before any history is removed.
	metaCompactTarget = []byte("mcompact.target")
	// metaCompactDone is the revision of the last compaction that finished.
	metaCompactDone = []byte("mcompact.done")
	// metaCompactCursor records how far the running compaction pass got: the target
	// of the pass followed by the last user key it finished.
	metaCompactCursor = []byte("mcompact.cursor")
)

// formatVersion is the on-disk layout version this code reads and writes.
const formatVersion = 1

// revSuffixLen is the length of the separator and revision suffix of a version key.
const revSuffixLen = 1 + 8

var errCorrupt = errors.New("store: corrupt data")

// checkKey enforces the key rules shared by every method: non-empty, no NUL byte (the
// NUL separates the user key from the revision in version keys, which is what makes
// prefix scans and "next key" seeks work on raw bytes), and not larger than a value.
func checkKey(key string, maxSize int) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalid)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: key %q contains a NUL byte", ErrInvalid, key)
	case len(key) > maxSize:
		return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrTooLarge, len(key), maxSize)
	}
	return nil
}

// checkPrefix is checkKey for watch and list prefixes, which may be empty.
func checkPrefix(prefix string) error {
	if strings.IndexByte(prefix, 0) >= 0 {
		return fmt.Errorf("%w: prefix %q contains a NUL byte", ErrInvalid, prefix)
	}
	return nil
}

// versionKey encodes k<key>\x00<^rev>. The revision is stored inverted so that the
// versions of one key sort newest first: a SeekGE to versionKey(key, rev) lands on the
// newest version at or below rev, which is the version visible at rev.
func versionKey(dst []byte, key string, rev int64) []byte {
	dst = append(dst, tagVersion)
	dst = append(dst, key...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, ^uint64(rev))
}

// versionKeyNewest is the smallest version key of key: a SeekGE to it finds the newest
// version, whatever its revision.
func versionKeyNewest(dst []byte, key string) []byte {
	return versionKey(dst, key, math.MaxInt64)
}

// afterUserKey is the smallest Pebble key above every version of key (and below the
// versions of any greater user key): k<key>\x01.
func afterUserKey(dst []byte, key string) []byte {
	dst = append(dst, tagVersion)
	dst = append(dst, key...)
	return append(dst, 1)
}

// decodeVersionKey splits a version key into its user key and revision. The returned
// key aliases k.
func decodeVersionKey(k []byte) (key []byte, rev int64, err error) {
	if len(k) < 1+1+revSuffixLen || k[0] != tagVersion || k[len(k)-revSuffixLen] != 0 {
		return nil, 0, fmt.Errorf("%w: bad version key %q", errCorrupt, k)
	}
	rev = int64(^binary.BigEndian.Uint64(k[len(k)-8:]))
	return k[1 : len(k)-revSuffixLen], rev, nil
}

// prefixBounds returns the Pebble key range holding the versions of every user key
// that starts with prefix.
func prefixBounds(prefix string) (lower, upper []byte) {
	lower = append([]byte{tagVersion}, prefix...)
	return lower, prefixEnd(lower)
}

// prefixEnd returns the smallest key greater than every key that starts with p.
// p always starts with a tag byte below 0xff, so the result always exists.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	panic("store: prefixEnd of an all-0xff key")
}

// eventKey encodes e<rev>, big-endian so that the log iterates in revision order.
func eventKey(rev int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{tagEvent}, uint64(rev))
}

func decodeEventKey(k []byte) (int64, error) {
	if len(k) != 9 || k[0] != tagEvent {
		return 0, fmt.Errorf("%w: bad event key %q", errCorrupt, k)
	}
	return int64(binary.BigEndian.Uint64(k[1:])), nil
}

// A version value is <flags byte><uvarint create revision><value bytes>. A tombstone is
// the single byte flagTombstone: it records that the key was deleted at that revision.
const flagTombstone = 1

func encodeVersion(dst []byte, createRev int64, value []byte) []byte {
	dst = append(dst, 0)
	dst = binary.AppendUvarint(dst, uint64(createRev))
	return append(dst, value...)
}

var tombstoneValue = []byte{flagTombstone}

// decodeVersion decodes a version value. value aliases v.
func decodeVersion(v []byte) (tombstone bool, createRev int64, value []byte, err error) {
	if len(v) == 0 {
		return false, 0, nil, fmt.Errorf("%w: empty version value", errCorrupt)
	}
	if v[0] == flagTombstone {
		return true, 0, nil, nil
	}
	cr, n := binary.Uvarint(v[1:])
	if n <= 0 {
		return false, 0, nil, fmt.Errorf("%w: bad version value", errCorrupt)
	}
	return false, int64(cr), v[1+n:], nil
}

// An event record lists what one revision changed: <uvarint n> then n times
// <type byte><uvarint key length><key>. Values are not repeated: they are read from the
// version keys, which compaction keeps for every revision above the compacted one.
func encodeEventRecord(dst []byte, events []Event) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(events)))
	for i := range events {
		dst = append(dst, byte(events[i].Type))
		dst = binary.AppendUvarint(dst, uint64(len(events[i].KV.Key)))
		dst = append(dst, events[i].KV.Key...)
	}
	return dst
}

type eventRef struct {
	typ EventType
	key string
}

func decodeEventRecord(v []byte) ([]eventRef, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)) {
		return nil, fmt.Errorf("%w: bad event record", errCorrupt)
	}
	v = v[k:]
	refs := make([]eventRef, 0, n)
	for range n {
		if len(v) < 2 {
			return nil, fmt.Errorf("%w: short event record", errCorrupt)
		}
		typ := EventType(v[0])
		if typ != EventPut && typ != EventDelete {
			return nil, fmt.Errorf("%w: bad event type %d", errCorrupt, typ)
		}
		l, k := binary.Uvarint(v[1:])
		if k <= 0 || uint64(len(v)-1-k) < l {
			return nil, fmt.Errorf("%w: bad event record key", errCorrupt)
		}
		v = v[1+k:]
		refs = append(refs, eventRef{typ: typ, key: string(v[:l])})
		v = v[l:]
	}
	if len(v) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes in event record", errCorrupt)
	}
	return refs, nil
}

func encodeInt(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func decodeInt(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: bad integer of %d bytes", errCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// compactCursor is the progress record of a compaction pass.
type compactCursor struct {
	target int64
	after  string // the last user key whose history the pass finished
}

func (c compactCursor) encode() []byte { return append(encodeInt(c.target), c.after...) }

func decodeCompactCursor(v []byte) (compactCursor, error) {
	if len(v) < 8 {
		return compactCursor{}, fmt.Errorf("%w: bad compaction cursor", errCorrupt)
	}
	t, _ := decodeInt(v[:8])
	return compactCursor{target: t, after: string(v[8:])}, nil
}
