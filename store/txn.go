package store

import (
	"bytes"
	"context"
	"fmt"
)

// opOverhead approximates what one op adds to a batch besides its key and value: the
// version key suffix, the version header and its share of the event record.
const opOverhead = 32

// Create implements Interface. A failed condition is a *TxnError with Index 0.
func (db *DB) Create(ctx context.Context, key string, value []byte) (KV, error) {
	res, err := db.Txn(ctx, []Op{{Type: OpCreate, Key: key, Value: value}})
	if err != nil {
		return KV{}, err
	}
	return res.KVs[0], nil
}

// Update implements Interface. A failed condition is a *TxnError with Index 0.
func (db *DB) Update(ctx context.Context, key string, value []byte, modRev int64) (KV, error) {
	res, err := db.Txn(ctx, []Op{{Type: OpUpdate, Key: key, Value: value, ModRevision: modRev}})
	if err != nil {
		return KV{}, err
	}
	return res.KVs[0], nil
}

// Delete implements Interface. A failed condition is a *TxnError with Index 0.
func (db *DB) Delete(ctx context.Context, key string, modRev int64) (KV, int64, error) {
	res, err := db.Txn(ctx, []Op{{Type: OpDelete, Key: key, ModRevision: modRev}})
	if err != nil {
		return KV{}, 0, err
	}
	return res.KVs[0], res.Revision, nil
}

// Txn implements Interface.
//
// Every condition is evaluated against the state before the transaction, so a check and
// a write of the same key see the same version; two writes of one key in one
// transaction are rejected with ErrInvalid, since a key has one version per revision.
// Values are copied: the caller may reuse its buffers once Txn returns.
func (db *DB) Txn(ctx context.Context, ops []Op) (TxnResult, error) {
	if err := ctx.Err(); err != nil {
		return TxnResult{}, err
	}
	ops, size, err := db.prepareOps(ops)
	if err != nil {
		return TxnResult{}, err
	}
	if onlyChecks(ops) {
		return db.checkTxn(ctx, ops)
	}
	if err := db.failed(); err != nil {
		return TxnResult{}, err
	}
	r := &request{ops: ops, size: size}
	if err := db.committer.submit(ctx, r); err != nil {
		return TxnResult{}, err
	}
	// The committed values are also in the watch events, shared by every watcher: the
	// caller gets its own copies, free to modify.
	for i := range r.res.KVs {
		if v := r.res.KVs[i].Value; v != nil {
			r.res.KVs[i].Value = bytes.Clone(v)
		}
	}
	return r.res, nil
}

// prepareOps validates ops and returns a copy whose values the store owns: they end
// up in watch events shared by every watcher, long after the caller has returned.
func (db *DB) prepareOps(ops []Op) ([]Op, int, error) {
	if len(ops) > db.opts.MaxTxnOps {
		return nil, 0, fmt.Errorf("%w: %d ops, limit %d", ErrTooLarge, len(ops), db.opts.MaxTxnOps)
	}
	var values, size int
	writes := make(map[string]struct{}, len(ops))
	for i, op := range ops {
		if err := checkKey(op.Key, db.opts.MaxValueSize); err != nil {
			return nil, 0, fmt.Errorf("op %d: %w", i, err)
		}
		if op.ModRevision < 0 {
			return nil, 0, fmt.Errorf("%w: op %d: negative mod revision", ErrInvalid, i)
		}
		switch op.Type {
		case OpCreate:
			if op.ModRevision != 0 {
				return nil, 0, fmt.Errorf("%w: op %d: create with a mod revision", ErrInvalid, i)
			}
		case OpUpdate:
		case OpDelete, OpCheck:
			if len(op.Value) > 0 {
				return nil, 0, fmt.Errorf("%w: op %d: value on a delete or check", ErrInvalid, i)
			}
		default:
			return nil, 0, fmt.Errorf("%w: op %d: unknown type %d", ErrInvalid, i, op.Type)
		}
		if len(op.Value) > db.opts.MaxValueSize {
			return nil, 0, fmt.Errorf("%w: op %d: value of %d bytes, limit %d",
				ErrTooLarge, i, len(op.Value), db.opts.MaxValueSize)
		}
		if op.Type != OpCheck {
			if _, dup := writes[op.Key]; dup {
				return nil, 0, fmt.Errorf("%w: op %d: key %q written twice", ErrInvalid, i, op.Key)
			}
			writes[op.Key] = struct{}{}
		}
		values += len(op.Value)
		size += len(op.Key) + len(op.Value) + opOverhead
	}
	if size > db.opts.MaxTxnBytes {
		return nil, 0, fmt.Errorf("%w: transaction of %d bytes, limit %d", ErrTooLarge, size, db.opts.MaxTxnBytes)
	}
	// One allocation holds every value; each op's slice is capped so that an append by
	// a reader cannot spill into its neighbour.
	buf := make([]byte, 0, values)
	out := make([]Op, len(ops))
	for i, op := range ops {
		if op.Value != nil {
			start := len(buf)
			buf = append(buf, op.Value...)
			op.Value = buf[start:len(buf):len(buf)]
		}
		out[i] = op
	}
	return out, size, nil
}

func onlyChecks(ops []Op) bool {
	for _, op := range ops {
		if op.Type != OpCheck {
			return false
		}
	}
	return true
}

// checkCondition tells whether op's condition holds given the key's current version.
func checkCondition(i int, op Op, cur KV, exists bool) *TxnError {
	fail := func(err error) *TxnError {
		te := &TxnError{Index: i, Err: err}
		if exists {
			kv := cur
			te.Current = &kv
		}
		return te
	}
	switch op.Type {
	case OpCreate:
		if exists {
			return fail(ErrKeyExists)
		}
	case OpUpdate, OpDelete:
		if !exists {
			return fail(ErrNotFound)
		}
		if op.ModRevision > 0 && cur.ModRevision != op.ModRevision {
			return fail(ErrConflict)
		}
	case OpCheck:
		switch {
		case op.ModRevision == 0 && exists:
			return fail(ErrKeyExists)
		case op.ModRevision > 0 && !exists:
			return fail(ErrNotFound)
		case op.ModRevision > 0 && cur.ModRevision != op.ModRevision:
			return fail(ErrConflict)
		}
	}
	return nil
}

func checkResults(ops []Op, cur []KV) []KV {
	kvs := make([]KV, len(ops))
	for i, op := range ops {
		if op.ModRevision > 0 {
			kvs[i] = cur[i]
		}
	}
	return kvs
}

// checkTxn answers a transaction made only of checks at the published revision: it
// writes nothing, so it needs no revision and no fsync, and every acknowledged write is
// at or below the published revision.
func (db *DB) checkTxn(ctx context.Context, ops []Op) (TxnResult, error) {
	if err := db.enter(); err != nil {
		return TxnResult{}, err
	}
	defer db.exit()
	rev := db.published.Load()
	r, err := db.newReader(rev)
	if err != nil {
		return TxnResult{}, err
	}
	defer r.close()
	cur := make([]KV, len(ops))
	for i, op := range ops {
		if err := ctx.Err(); err != nil {
			return TxnResult{}, err
		}
		kv, exists, err := r.get(op.Key)
		if err != nil {
			return TxnResult{}, err
		}
		if terr := checkCondition(i, op, kv, exists); terr != nil {
			return TxnResult{}, terr
		}
		cur[i] = kv
	}
	return TxnResult{Revision: rev, KVs: checkResults(ops, cur)}, nil
}
