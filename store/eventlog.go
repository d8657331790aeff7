package store

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// readLog rebuilds the events of whole revisions from..to (capped at the published
// revision) from the event log, stopping after the revision that reaches maxEvents.
// The records name the changed keys; values and previous versions come from the
// version keys, which compaction keeps for every revision above the compacted one.
func (db *DB) readLog(from, to int64, maxEvents int) (*chunk, error) {
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.exit()
	to = min(to, db.published.Load())
	if from > to {
		return nil, fmt.Errorf("store: event log read from %d to %d", from, to)
	}
	logIt, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: eventKey(from), UpperBound: eventKey(to + 1)})
	if err != nil {
		return nil, err
	}
	defer logIt.Close()
	r, err := db.newReader(to) // checks compaction after both iterators exist
	if err != nil {
		return nil, err
	}
	defer r.close()
	if c := db.compacted.Load(); from <= c {
		return nil, fmt.Errorf("%w: event log from %d, compacted %d", ErrCompacted, from, c)
	}

	c := &chunk{first: from, last: from - 1}
	var seek []byte
	for valid := logIt.First(); valid && len(c.events) < maxEvents; valid = logIt.Next() {
		rev, err := decodeEventKey(logIt.Key())
		if err != nil {
			return nil, err
		}
		if rev != c.last+1 {
			return nil, fmt.Errorf("%w: event log jumps from %d to %d", errCorrupt, c.last, rev)
		}
		v, err := logIt.ValueAndErr()
		if err != nil {
			return nil, err
		}
		refs, err := decodeEventRecord(v)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			ev, err := r.eventAt(ref, rev, &seek)
			if err != nil {
				return nil, err
			}
			c.events = append(c.events, ev)
		}
		c.last = rev
	}
	if err := logIt.Error(); err != nil {
		return nil, err
	}
	if c.last < from {
		return nil, fmt.Errorf("%w: event log has no revision %d", errCorrupt, from)
	}
	return c, nil
}

// eventAt rebuilds the event of ref at rev: the version written at rev, and the one
// just below it as PrevKV.
func (r *reader) eventAt(ref eventRef, rev int64, seek *[]byte) (Event, error) {
	*seek = versionKey((*seek)[:0], ref.key, rev)
	if !r.it.SeekGE(*seek) || !bytes.Equal(r.it.Key(), *seek) {
		if err := r.it.Error(); err != nil {
			return Event{}, err
		}
		return Event{}, fmt.Errorf("%w: revision %d logs %q, which has no version there", errCorrupt, rev, ref.key)
	}
	v, err := r.it.ValueAndErr()
	if err != nil {
		return Event{}, err
	}
	tomb, create, value, err := decodeVersion(v)
	if err != nil {
		return Event{}, err
	}
	if tomb != (ref.typ == EventDelete) {
		return Event{}, fmt.Errorf("%w: revision %d logs %v for %q but stores tombstone=%v", errCorrupt, rev, ref.typ, ref.key, tomb)
	}
	ev := Event{Type: ref.typ, KV: KV{Key: ref.key, ModRevision: rev}}
	if !tomb {
		ev.KV.Value = bytes.Clone(value)
		ev.KV.CreateRevision = create
	}
	// The previous version, if any, is the next entry: versions sort newest first.
	if r.it.Next() {
		ukey, prev, err := decodeVersionKey(r.it.Key())
		if err != nil {
			return Event{}, err
		}
		if string(ukey) == ref.key {
			pv, err := r.it.ValueAndErr()
			if err != nil {
				return Event{}, err
			}
			ptomb, pcreate, pvalue, err := decodeVersion(pv)
			if err != nil {
				return Event{}, err
			}
			if !ptomb {
				ev.PrevKV = &KV{Key: ref.key, Value: bytes.Clone(pvalue), CreateRevision: pcreate, ModRevision: prev}
			}
		}
	}
	return ev, r.it.Error()
}
