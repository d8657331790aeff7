package store

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Reads.
//
// A read at revision R sees, for each key, its newest version at or below R. Versions
// above the published revision exist in Pebble (a group is visible to iterators as soon
// as it is applied, before its fsync) but no read is ever served above the published
// revision, so they are invisible: that is the whole visibility argument, and why every
// version carries its revision in its key.

// nextsBeforeSeek is how many Next calls a scan tries before it seeks past the older
// versions of a key: most keys have one or two versions, and Next is cheaper than a seek.
const nextsBeforeSeek = 3

// resolveRev turns a requested read revision into the one to read at.
func (db *DB) resolveRev(rev int64) (int64, error) {
	pub := db.published.Load()
	switch {
	case rev < 0:
		return 0, fmt.Errorf("%w: negative revision %d", ErrInvalid, rev)
	case rev == 0:
		return pub, nil
	case rev > pub:
		return 0, fmt.Errorf("%w: revision %d, current %d", ErrFutureRevision, rev, pub)
	}
	return rev, nil
}

// reader reads versions at one revision.
type reader struct {
	rev int64
	it  *pebble.Iterator
	buf []byte
}

// newReader opens an iterator over the version keys and only then checks rev against
// the compacted revision. Compaction removes history only after it has raised the
// compacted revision, and a Pebble iterator is a snapshot: if the check passes, nothing
// the iterator can see has been removed.
func (db *DB) newReader(rev int64) (*reader, error) {
	it, err := db.pdb.NewIter(&pebble.IterOptions{
		LowerBound: []byte{tagVersion},
		UpperBound: []byte{tagVersion + 1},
	})
	if err != nil {
		return nil, err
	}
	if c := db.compacted.Load(); rev < c {
		_ = it.Close()
		return nil, fmt.Errorf("%w: revision %d, compacted %d", ErrCompacted, rev, c)
	}
	return &reader{rev: rev, it: it}, nil
}

func (r *reader) close() error { return r.it.Close() }

func (r *reader) get(key string) (KV, bool, error) {
	r.buf = versionKey(r.buf[:0], key, r.rev)
	return readVersion(r.it, r.buf, key)
}

// readVersion seeks to seek (a version key of key) and decodes the version found there,
// if it belongs to key and is not a tombstone. The value is copied.
func readVersion(it *pebble.Iterator, seek []byte, key string) (KV, bool, error) {
	if !it.SeekGE(seek) {
		return KV{}, false, it.Error()
	}
	ukey, rev, err := decodeVersionKey(it.Key())
	if err != nil {
		return KV{}, false, err
	}
	if string(ukey) != key {
		return KV{}, false, nil
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return KV{}, false, err
	}
	tomb, create, value, err := decodeVersion(v)
	if err != nil || tomb {
		return KV{}, false, err
	}
	return KV{Key: key, Value: bytes.Clone(value), CreateRevision: create, ModRevision: rev}, true, nil
}

// Get implements Interface.
func (db *DB) Get(ctx context.Context, key string, rev int64) (KV, error) {
	if err := checkKey(key, db.opts.MaxValueSize); err != nil {
		return KV{}, err
	}
	if err := ctx.Err(); err != nil {
		return KV{}, err
	}
	if err := db.enter(); err != nil {
		return KV{}, err
	}
	defer db.exit()
	rev, err := db.resolveRev(rev)
	if err != nil {
		return KV{}, err
	}
	if rev >= db.compacted.Load() {
		if kv, ok := db.latest.get(key, rev); ok {
			kv.Value = bytes.Clone(kv.Value)
			return kv, nil
		}
	}
	r, err := db.newReader(rev)
	if err != nil {
		return KV{}, err
	}
	defer r.close()
	kv, ok, err := r.get(key)
	if err != nil {
		return KV{}, err
	}
	if !ok {
		return KV{}, fmt.Errorf("%w: %q at revision %d", ErrNotFound, key, rev)
	}
	return kv, nil
}

// List implements Interface.
func (db *DB) List(ctx context.Context, opts ListOptions) (ListResult, error) {
	if err := checkPrefix(opts.Prefix); err != nil {
		return ListResult{}, err
	}
	if err := checkPrefix(opts.After); err != nil {
		return ListResult{}, err
	}
	if opts.Limit < 0 {
		return ListResult{}, fmt.Errorf("%w: negative limit", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return ListResult{}, err
	}
	if err := db.enter(); err != nil {
		return ListResult{}, err
	}
	defer db.exit()
	rev, err := db.resolveRev(opts.Revision)
	if err != nil {
		return ListResult{}, err
	}
	res := ListResult{Revision: rev}
	res.More, err = db.scan(ctx, opts.Prefix, opts.After, rev, opts.Limit, true, func(kv KV) {
		res.KVs = append(res.KVs, kv)
	})
	if err != nil {
		return ListResult{}, err
	}
	return res, nil
}

// Count implements Interface.
func (db *DB) Count(ctx context.Context, prefix string) (int64, error) {
	if err := checkPrefix(prefix); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := db.enter(); err != nil {
		return 0, err
	}
	defer db.exit()
	var n int64
	_, err := db.scan(ctx, prefix, "", db.published.Load(), 0, false, func(KV) { n++ })
	return n, err
}

// scan calls fn, in key order, with every key under prefix that is strictly after
// after and live at rev, up to limit keys (0: no limit). It reports whether more live
// keys follow. Values are only decoded and copied when withValues is set.
func (db *DB) scan(ctx context.Context, prefix, after string, rev int64, limit int,
	withValues bool, fn func(KV)) (more bool, err error) {
	lower, upper := prefixBounds(prefix)
	if after != "" {
		if a := afterUserKey(nil, after); bytes.Compare(a, lower) > 0 {
			lower = a
		}
	}
	if bytes.Compare(lower, upper) >= 0 {
		return false, nil
	}
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return false, err
	}
	defer it.Close()
	if c := db.compacted.Load(); rev < c {
		return false, fmt.Errorf("%w: revision %d, compacted %d", ErrCompacted, rev, c)
	}

	var (
		cur  []byte // the user key being looked at (a copy: the iterator reuses its key)
		seek []byte
		n    int
	)
	valid := it.First()
	for steps := 0; valid; steps++ {
		if steps%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		ukey, vrev, err := decodeVersionKey(it.Key())
		if err != nil {
			return false, err
		}
		cur = append(cur[:0], ukey...)
		if vrev > rev {
			// Newer than the read: jump to the newest version at or below rev.
			seek = versionKey(seek[:0], string(cur), rev)
			if valid = it.SeekGE(seek); !valid {
				break
			}
			if ukey, vrev, err = decodeVersionKey(it.Key()); err != nil {
				return false, err
			}
			if !bytes.Equal(ukey, cur) {
				continue // cur did not exist at rev; look at the next key from here
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return false, err
		}
		tomb, create, value, err := decodeVersion(v)
		if err != nil {
			return false, err
		}
		if !tomb {
			if limit > 0 && n == limit {
				return true, nil
			}
			kv := KV{Key: string(cur), CreateRevision: create, ModRevision: vrev}
			if withValues {
				kv.Value = bytes.Clone(value)
			}
			fn(kv)
			n++
		}
		valid = nextUserKey(it, cur, &seek)
	}
	return false, it.Error()
}

// nextUserKey moves it from a version of key to the newest version of the next key.
func nextUserKey(it *pebble.Iterator, key []byte, seek *[]byte) bool {
	for range nextsBeforeSeek {
		if !it.Next() {
			return false
		}
		ukey, _, err := decodeVersionKey(it.Key())
		if err != nil || !bytes.Equal(ukey, key) {
			return true // a decode error is reported by the caller's decode
		}
	}
	*seek = afterUserKey((*seek)[:0], string(key))
	return it.SeekGE(*seek)
}
