package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"weft.dev/weft/store"
)

func testEmpty(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	if r := s.CurrentRevision(); r != 0 {
		t.Fatalf("CurrentRevision of an empty store = %d, want 0", r)
	}
	if r := s.CompactedRevision(); r != 0 {
		t.Fatalf("CompactedRevision of an empty store = %d, want 0", r)
	}
	_, err := s.Get(ctx, "a", 0)
	wantErr(t, "Get", err, store.ErrNotFound)
	res, err := s.List(ctx, store.ListOptions{})
	if err != nil || len(res.KVs) != 0 || res.More || res.Revision != 0 {
		t.Fatalf("List = %+v, %v; want empty at revision 0", res, err)
	}
	if n, err := s.Count(ctx, ""); n != 0 || err != nil {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

func testCreate(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	kv := mustCreate(t, s, "a", "1")
	wantKV(t, "Create", kv, "a", "1", 1, 1)
	if r := s.CurrentRevision(); r != 1 {
		t.Fatalf("CurrentRevision = %d, want 1", r)
	}
	_, err := s.Create(ctx, "a", []byte("2"))
	wantTxnErr(t, "second Create", err, 0, store.ErrKeyExists, 1)
	if r := s.CurrentRevision(); r != 1 {
		t.Fatalf("a failed Create moved the revision to %d", r)
	}
	wantKV(t, "Get", mustGet(t, s, "a", 0), "a", "1", 1, 1)
}

func testRevisionsConsecutive(t *testing.T, open Open) {
	s := open(t)
	for i := 1; i <= 10; i++ {
		kv := mustCreate(t, s, fmt.Sprintf("k%d", i), "v")
		if kv.ModRevision != int64(i) {
			t.Fatalf("write %d committed at revision %d", i, kv.ModRevision)
		}
	}
	if r := s.CurrentRevision(); r != 10 {
		t.Fatalf("CurrentRevision = %d, want 10", r)
	}
}

func testUpdate(t *testing.T, open Open) {
	tests := []struct {
		name    string
		key     string
		modRev  func(created int64) int64
		wantErr error
		wantCur int64 // mod revision of TxnError.Current; -1: nil
	}{
		{"unconditional", "a", func(int64) int64 { return 0 }, nil, 0},
		{"matching revision", "a", func(c int64) int64 { return c }, nil, 0},
		{"stale revision", "a", func(c int64) int64 { return c - 1 }, store.ErrConflict, 2},
		{"future revision", "a", func(c int64) int64 { return c + 5 }, store.ErrConflict, 2},
		{"missing key", "missing", func(int64) int64 { return 0 }, store.ErrNotFound, -1},
		{"missing key with revision", "missing", func(c int64) int64 { return c }, store.ErrNotFound, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			mustCreate(t, s, "other", "x")
			created := mustCreate(t, s, "a", "1").ModRevision // 2
			kv, err := s.Update(ctxT(t), tt.key, []byte("2"), tt.modRev(created))
			if tt.wantErr != nil {
				wantTxnErr(t, "Update", err, 0, tt.wantErr, tt.wantCur)
				wantKV(t, "Get after failed Update", mustGet(t, s, "a", 0), "a", "1", created, created)
				return
			}
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			wantKV(t, "Update", kv, "a", "2", created, 3)
			wantKV(t, "Get", mustGet(t, s, "a", 0), "a", "2", created, 3)
		})
	}
}

func testDelete(t *testing.T, open Open) {
	tests := []struct {
		name    string
		key     string
		modRev  int64
		wantErr error
		wantCur int64
	}{
		{"unconditional", "a", 0, nil, 0},
		{"matching revision", "a", 2, nil, 0},
		{"stale revision", "a", 1, store.ErrConflict, 2},
		{"missing key", "missing", 0, store.ErrNotFound, -1},
		{"missing key with revision", "missing", 2, store.ErrNotFound, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ctx := ctxT(t)
			mustCreate(t, s, "a", "1")
			mustUpdate(t, s, "a", "2") // a is at revision 2
			prev, rev, err := s.Delete(ctx, tt.key, tt.modRev)
			if tt.wantErr != nil {
				wantTxnErr(t, "Delete", err, 0, tt.wantErr, tt.wantCur)
				wantKV(t, "Get after failed Delete", mustGet(t, s, "a", 0), "a", "2", 1, 2)
				return
			}
			if err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if rev != 3 {
				t.Fatalf("Delete revision = %d, want 3", rev)
			}
			wantKV(t, "deleted version", prev, "a", "2", 1, 2)
			_, err = s.Get(ctx, "a", 0)
			wantErr(t, "Get after Delete", err, store.ErrNotFound)
			wantKV(t, "Get before Delete", mustGet(t, s, "a", 2), "a", "2", 1, 2)
			_, _, err = s.Delete(ctx, "a", 0)
			wantTxnErr(t, "second Delete", err, 0, store.ErrNotFound, -1)
		})
	}
}

func testRecreate(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "a", "1")
	mustDelete(t, s, "a")
	kv := mustCreate(t, s, "a", "2")
	wantKV(t, "recreated", kv, "a", "2", 3, 3)
	kv = mustUpdate(t, s, "a", "3")
	wantKV(t, "updated after recreate", kv, "a", "3", 3, 4)
}

func testGetAtRevision(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	mustCreate(t, s, "a", "1") // 1
	mustCreate(t, s, "b", "x") // 2
	mustUpdate(t, s, "a", "2") // 3
	mustDelete(t, s, "a")      // 4
	mustCreate(t, s, "a", "3") // 5
	tests := []struct {
		rev     int64
		value   string
		create  int64
		mod     int64
		wantErr error
	}{
		{rev: 1, value: "1", create: 1, mod: 1},
		{rev: 2, value: "1", create: 1, mod: 1},
		{rev: 3, value: "2", create: 1, mod: 3},
		{rev: 4, wantErr: store.ErrNotFound},
		{rev: 5, value: "3", create: 5, mod: 5},
		{rev: 0, value: "3", create: 5, mod: 5},
		{rev: 6, wantErr: store.ErrFutureRevision},
		{rev: -1, wantErr: store.ErrInvalid},
	}
	for _, tt := range tests {
		kv, err := s.Get(ctx, "a", tt.rev)
		what := fmt.Sprintf("Get(a, %d)", tt.rev)
		if tt.wantErr != nil {
			wantErr(t, what, err, tt.wantErr)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		wantKV(t, what, kv, "a", tt.value, tt.create, tt.mod)
	}
	_, err := s.Get(ctx, "b", 1)
	wantErr(t, "Get(b, 1) before it was created", err, store.ErrNotFound)
}

func testInvalidKeys(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	for _, key := range []string{"", "a\x00b", "\x00"} {
		calls := map[string]func() error{
			"Get":    func() error { _, err := s.Get(ctx, key, 0); return err },
			"Create": func() error { _, err := s.Create(ctx, key, nil); return err },
			"Update": func() error { _, err := s.Update(ctx, key, nil, 0); return err },
			"Delete": func() error { _, _, err := s.Delete(ctx, key, 0); return err },
			"Txn": func() error {
				_, err := s.Txn(ctx, []store.Op{{Type: store.OpCheck, Key: key}})
				return err
			},
		}
		for name, call := range calls {
			wantErr(t, fmt.Sprintf("%s(%q)", name, key), call(), store.ErrInvalid)
		}
	}
	_, err := s.List(ctx, store.ListOptions{Prefix: "a\x00"})
	wantErr(t, "List with a NUL in the prefix", err, store.ErrInvalid)
	_, err = s.Count(ctx, "a\x00")
	wantErr(t, "Count with a NUL in the prefix", err, store.ErrInvalid)
	_, err = s.Watch(ctx, "a\x00", 0, store.WatchOptions{})
	wantErr(t, "Watch with a NUL in the prefix", err, store.ErrInvalid)
	_, err = s.Watch(ctx, "a", -1, store.WatchOptions{})
	wantErr(t, "Watch from a negative revision", err, store.ErrInvalid)
	if r := s.CurrentRevision(); r != 0 {
		t.Fatalf("invalid requests moved the revision to %d", r)
	}
}

func testLimits(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	big := make([]byte, store.DefaultMaxValueSize)
	if _, err := s.Create(ctx, "max", big); err != nil {
		t.Fatalf("Create with a value of the maximum size: %v", err)
	}
	_, err := s.Create(ctx, "over", append(big, 0))
	wantErr(t, "Create with a value over the maximum", err, store.ErrTooLarge)
	_, err = s.Update(ctx, "max", append(big, 0), 0)
	wantErr(t, "Update with a value over the maximum", err, store.ErrTooLarge)

	ops := make([]store.Op, store.DefaultMaxTxnOps+1)
	for i := range ops {
		ops[i] = store.Op{Type: store.OpCreate, Key: fmt.Sprintf("k%05d", i)}
	}
	_, err = s.Txn(ctx, ops)
	wantErr(t, "Txn over the maximum number of ops", err, store.ErrTooLarge)
	res, err := s.Txn(ctx, ops[:store.DefaultMaxTxnOps])
	if err != nil {
		t.Fatalf("Txn with the maximum number of ops: %v", err)
	}
	if n, _ := s.Count(ctx, "k"); n != store.DefaultMaxTxnOps || res.Revision != 2 {
		t.Fatalf("after a maximal Txn: %d keys at revision %d", n, res.Revision)
	}
}

func testValueIsolation(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	v := []byte("abc")
	mustCreateBytes := func(key string, value []byte) {
		if _, err := s.Create(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	mustCreateBytes("a", v)
	v[0] = 'X'
	got := mustGet(t, s, "a", 0)
	if string(got.Value) != "abc" {
		t.Fatalf("the store kept the caller's buffer: %q", got.Value)
	}
	got.Value[0] = 'Y'
	if again := mustGet(t, s, "a", 0); string(again.Value) != "abc" {
		t.Fatalf("Get returned the store's own buffer: %q", again.Value)
	}
	// A write's result is the caller's to modify too: not the store's, nor a watcher's.
	w := mustWatch(t, s, "b", 0, store.WatchOptions{})
	kv := mustCreate(t, s, "b", "xyz")
	kv.Value[0] = 'Q'
	if got := mustGet(t, s, "b", 0); string(got.Value) != "xyz" {
		t.Fatalf("Create returned the store's own buffer: %q", got.Value)
	}
	wantEvents(t, collect(t, w, 1), false, `PUT {b="xyz" c2 m2}`)
}

func testEmptyValue(t *testing.T, open Open) {
	s := open(t)
	for key, v := range map[string][]byte{"nil": nil, "empty": {}} {
		if _, err := s.Create(ctxT(t), key, v); err != nil {
			t.Fatalf("Create(%q) with an empty value: %v", key, err)
		}
		if got := mustGet(t, s, key, 0); len(got.Value) != 0 {
			t.Fatalf("Get(%q) = %q, want an empty value", key, got.Value)
		}
	}
}

func listKeys(kvs []store.KV) string {
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = kv.Key
	}
	return strings.Join(keys, ",")
}

func testList(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	for _, k := range []string{"a/2", "a/1", "b/1", "a/3", "a", "a/1/x", "ab", "\xff"} {
		mustCreate(t, s, k, "v:"+k)
	}
	mustDelete(t, s, "a/3")
	tests := []struct {
		opts     store.ListOptions
		want     string
		wantMore bool
	}{
		{store.ListOptions{}, "a,a/1,a/1/x,a/2,ab,b/1,\xff", false},
		{store.ListOptions{Prefix: "a/"}, "a/1,a/1/x,a/2", false},
		{store.ListOptions{Prefix: "a"}, "a,a/1,a/1/x,a/2,ab", false},
		{store.ListOptions{Prefix: "a/1"}, "a/1,a/1/x", false},
		{store.ListOptions{Prefix: "c"}, "", false},
		{store.ListOptions{Prefix: "\xff"}, "\xff", false},
		{store.ListOptions{Prefix: "a/", Limit: 2}, "a/1,a/1/x", true},
		{store.ListOptions{Prefix: "a/", Limit: 3}, "a/1,a/1/x,a/2", false},
		{store.ListOptions{Prefix: "a/", After: "a/1"}, "a/1/x,a/2", false},
		{store.ListOptions{Prefix: "a/", After: "a/1/x", Limit: 1}, "a/2", false},
		{store.ListOptions{Prefix: "a/", After: "a/2"}, "", false},
		{store.ListOptions{Prefix: "a/", After: "0"}, "a/1,a/1/x,a/2", false},
		{store.ListOptions{After: "a/2", Limit: 2}, "ab,b/1", true},
	}
	for _, tt := range tests {
		res, err := s.List(ctx, tt.opts)
		if err != nil {
			t.Fatalf("List(%+v): %v", tt.opts, err)
		}
		if got := listKeys(res.KVs); got != tt.want || res.More != tt.wantMore || res.Revision != 9 {
			t.Fatalf("List(%+v) = %q more=%v rev=%d; want %q more=%v rev=9",
				tt.opts, got, res.More, res.Revision, tt.want, tt.wantMore)
		}
		for _, kv := range res.KVs {
			if string(kv.Value) != "v:"+kv.Key || kv.ModRevision == 0 || kv.CreateRevision != kv.ModRevision {
				t.Fatalf("List returned %s", kvString(kv))
			}
		}
	}
	_, err := s.List(ctx, store.ListOptions{Limit: -1})
	wantErr(t, "List with a negative limit", err, store.ErrInvalid)
	_, err = s.List(ctx, store.ListOptions{Revision: 10})
	wantErr(t, "List at a future revision", err, store.ErrFutureRevision)
}

// testListPaging pages through a listing while writes go on: every page read at the
// first page's revision belongs to the same snapshot.
func testListPaging(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	for i := range 25 {
		mustCreate(t, s, fmt.Sprintf("p/%02d", i), "old")
	}
	var got []store.KV
	opts := store.ListOptions{Prefix: "p/", Limit: 4}
	for page := 0; ; page++ {
		res, err := s.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.KVs...)
		if !res.More {
			break
		}
		if page > 10 {
			t.Fatal("paging does not end")
		}
		opts.Revision = res.Revision
		opts.After = res.KVs[len(res.KVs)-1].Key
		// Concurrent churn that the snapshot must not show.
		mustUpdate(t, s, fmt.Sprintf("p/%02d", 24-page), "new")
		mustCreate(t, s, fmt.Sprintf("p/%02d+", page*4+5), "new")
		mustDelete(t, s, fmt.Sprintf("p/%02d", 12+page))
	}
	if len(got) != 25 {
		t.Fatalf("paged listing returned %d keys: %s", len(got), listKeys(got))
	}
	for i, kv := range got {
		if kv.Key != fmt.Sprintf("p/%02d", i) || string(kv.Value) != "old" {
			t.Fatalf("page entry %d = %s", i, kvString(kv))
		}
	}
}

func testListAtRevision(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	mustCreate(t, s, "x/a", "1") // 1
	mustCreate(t, s, "x/b", "1") // 2
	mustUpdate(t, s, "x/a", "2") // 3
	mustDelete(t, s, "x/b")      // 4
	mustCreate(t, s, "x/c", "1") // 5
	tests := []struct {
		rev  int64
		want string
	}{
		{1, "x/a=1"}, {2, "x/a=1,x/b=1"}, {3, "x/a=2,x/b=1"}, {4, "x/a=2"}, {5, "x/a=2,x/c=1"},
	}
	for _, tt := range tests {
		res, err := s.List(ctx, store.ListOptions{Prefix: "x/", Revision: tt.rev})
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, kv := range res.KVs {
			parts = append(parts, kv.Key+"="+string(kv.Value))
		}
		if got := strings.Join(parts, ","); got != tt.want || res.Revision != tt.rev {
			t.Fatalf("List at %d = %q (rev %d), want %q", tt.rev, got, res.Revision, tt.want)
		}
	}
}

func testListMoreIgnoresDeleted(t *testing.T, open Open) {
	s := open(t)
	for _, k := range []string{"a", "b", "c", "d"} {
		mustCreate(t, s, k, "v")
	}
	mustDelete(t, s, "c")
	mustDelete(t, s, "d")
	res, err := s.List(ctxT(t), store.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if listKeys(res.KVs) != "a,b" || res.More {
		t.Fatalf("List = %s more=%v; only deleted keys follow, so More must be false", listKeys(res.KVs), res.More)
	}
}

func testCount(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	for i := range 7 {
		mustCreate(t, s, fmt.Sprintf("c/%d", i), "v")
	}
	mustCreate(t, s, "d/0", "v")
	mustDelete(t, s, "c/3")
	for prefix, want := range map[string]int64{"": 7, "c/": 6, "d/": 1, "e": 0, "c/3": 0} {
		if n, err := s.Count(ctx, prefix); n != want || err != nil {
			t.Fatalf("Count(%q) = %d, %v; want %d", prefix, n, err, want)
		}
	}
}

func testTxnCommit(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	mustCreate(t, s, "u", "1") // 1
	mustCreate(t, s, "d", "1") // 2
	mustCreate(t, s, "c", "1") // 3
	res, err := s.Txn(ctx, []store.Op{
		{Type: store.OpCreate, Key: "n", Value: []byte("new")},
		{Type: store.OpUpdate, Key: "u", Value: []byte("2"), ModRevision: 1},
		{Type: store.OpDelete, Key: "d", ModRevision: 2},
		{Type: store.OpCheck, Key: "c", ModRevision: 3},
		{Type: store.OpCheck, Key: "absent"},
	})
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if res.Revision != 4 || len(res.KVs) != 5 {
		t.Fatalf("Txn = %+v, want revision 4 and 5 results", res)
	}
	wantKV(t, "create result", res.KVs[0], "n", "new", 4, 4)
	wantKV(t, "update result", res.KVs[1], "u", "2", 1, 4)
	wantKV(t, "delete result", res.KVs[2], "d", "1", 2, 2)
	wantKV(t, "check result", res.KVs[3], "c", "1", 3, 3)
	if res.KVs[4].Key != "" || res.KVs[4].ModRevision != 0 {
		t.Fatalf("result of an absence check = %s, want the zero KV", kvString(res.KVs[4]))
	}
	if r := s.CurrentRevision(); r != 4 {
		t.Fatalf("CurrentRevision = %d, want 4", r)
	}
	wantKV(t, "Get n", mustGet(t, s, "n", 0), "n", "new", 4, 4)
	wantKV(t, "Get u", mustGet(t, s, "u", 0), "u", "2", 1, 4)
	_, err = s.Get(ctx, "d", 0)
	wantErr(t, "Get d", err, store.ErrNotFound)
}

func testTxnFailureIsAtomic(t *testing.T, open Open) {
	tests := []struct {
		name    string
		failing store.Op
		want    error
		cur     int64
	}{
		{"create of existing key", store.Op{Type: store.OpCreate, Key: "e"}, store.ErrKeyExists, 1},
		{"update of missing key", store.Op{Type: store.OpUpdate, Key: "m"}, store.ErrNotFound, -1},
		{"update with stale revision", store.Op{Type: store.OpUpdate, Key: "e", ModRevision: 7}, store.ErrConflict, 1},
		{"delete of missing key", store.Op{Type: store.OpDelete, Key: "m"}, store.ErrNotFound, -1},
		{"delete with stale revision", store.Op{Type: store.OpDelete, Key: "e", ModRevision: 7}, store.ErrConflict, 1},
		{"check of absence on existing key", store.Op{Type: store.OpCheck, Key: "e"}, store.ErrKeyExists, 1},
		{"check of revision on missing key", store.Op{Type: store.OpCheck, Key: "m", ModRevision: 1}, store.ErrNotFound, -1},
		{"check of wrong revision", store.Op{Type: store.OpCheck, Key: "e", ModRevision: 7}, store.ErrConflict, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ctx := ctxT(t)
			mustCreate(t, s, "e", "1")
			ops := []store.Op{
				{Type: store.OpCreate, Key: "x", Value: []byte("x")},
				{Type: store.OpUpdate, Key: "e", Value: []byte("2")},
				tt.failing,
			}
			if tt.failing.Key == "e" {
				ops[1] = store.Op{Type: store.OpCheck, Key: "e", ModRevision: 1}
			}
			_, err := s.Txn(ctx, ops)
			wantTxnErr(t, "Txn", err, 2, tt.want, tt.cur)
			if r := s.CurrentRevision(); r != 1 {
				t.Fatalf("a failed Txn moved the revision to %d", r)
			}
			_, err = s.Get(ctx, "x", 0)
			wantErr(t, "Get of a key created by a failed Txn", err, store.ErrNotFound)
			wantKV(t, "Get e", mustGet(t, s, "e", 0), "e", "1", 1, 1)
		})
	}
}

func testTxnCheckOnly(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	mustCreate(t, s, "a", "1")
	mustCreate(t, s, "b", "1")
	res, err := s.Txn(ctx, []store.Op{
		{Type: store.OpCheck, Key: "a", ModRevision: 1},
		{Type: store.OpCheck, Key: "z"},
	})
	if err != nil {
		t.Fatalf("check-only Txn: %v", err)
	}
	if res.Revision != 2 || s.CurrentRevision() != 2 {
		t.Fatalf("check-only Txn reported revision %d (current %d), want 2 and no new revision",
			res.Revision, s.CurrentRevision())
	}
	wantKV(t, "checked version", res.KVs[0], "a", "1", 1, 1)
	_, err = s.Txn(ctx, []store.Op{{Type: store.OpCheck, Key: "b", ModRevision: 1}})
	wantTxnErr(t, "failing check", err, 0, store.ErrConflict, 2)
	res, err = s.Txn(ctx, nil)
	if err != nil || res.Revision != 2 {
		t.Fatalf("empty Txn = %+v, %v; want the current revision", res, err)
	}
}

func testTxnInvalid(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	mustCreate(t, s, "a", "1")
	tests := []struct {
		name string
		ops  []store.Op
	}{
		{"unknown op type", []store.Op{{Type: 0, Key: "a"}}},
		{"unknown op type 99", []store.Op{{Type: 99, Key: "a"}}},
		{"create with a mod revision", []store.Op{{Type: store.OpCreate, Key: "n", ModRevision: 1}}},
		{"negative mod revision", []store.Op{{Type: store.OpUpdate, Key: "a", ModRevision: -1}}},
		{"value on a delete", []store.Op{{Type: store.OpDelete, Key: "a", Value: []byte("x")}}},
		{"value on a check", []store.Op{{Type: store.OpCheck, Key: "a", Value: []byte("x")}}},
		{"two writes of one key", []store.Op{
			{Type: store.OpUpdate, Key: "a", Value: []byte("2")},
			{Type: store.OpDelete, Key: "a"},
		}},
		{"create and update of one key", []store.Op{
			{Type: store.OpCreate, Key: "n"},
			{Type: store.OpUpdate, Key: "n"},
		}},
	}
	for _, tt := range tests {
		_, err := s.Txn(ctx, tt.ops)
		wantErr(t, tt.name, err, store.ErrInvalid)
	}
	if r := s.CurrentRevision(); r != 1 {
		t.Fatalf("invalid transactions moved the revision to %d", r)
	}
}

func testTxnConditionsSeePriorState(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "a", "1")
	res, err := s.Txn(ctxT(t), []store.Op{
		{Type: store.OpCheck, Key: "a", ModRevision: 1},
		{Type: store.OpUpdate, Key: "a", Value: []byte("2"), ModRevision: 1},
		{Type: store.OpCheck, Key: "b"},
		{Type: store.OpCreate, Key: "b", Value: []byte("b")},
	})
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	wantKV(t, "check before update", res.KVs[0], "a", "1", 1, 1)
	wantKV(t, "update", res.KVs[1], "a", "2", 1, 2)
}

func testConcurrentCreates(t *testing.T, open Open) {
	s := open(t)
	const writers, each = 8, 40
	revs := make(chan int64, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				kv, err := s.Create(ctxT(t), fmt.Sprintf("w%d/%d", w, i), []byte("v"))
				if err != nil {
					t.Error(err)
					return
				}
				revs <- kv.ModRevision
			}
		})
	}
	wg.Wait()
	close(revs)
	seen := make(map[int64]bool)
	for r := range revs {
		if seen[r] || r < 1 || r > writers*each {
			t.Fatalf("revision %d assigned twice or out of range", r)
		}
		seen[r] = true
	}
	if len(seen) != writers*each || s.CurrentRevision() != writers*each {
		t.Fatalf("%d distinct revisions, current %d; want %d", len(seen), s.CurrentRevision(), writers*each)
	}
}

// testConcurrentCAS increments a counter from many goroutines with read-modify-write
// loops. Compare-and-swap must lose no increment.
func testConcurrentCAS(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "counter", "0")
	const workers, each = 6, 15
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			ctx := ctxT(t)
			for range each {
				for {
					kv, err := s.Get(ctx, "counter", 0)
					if err != nil {
						t.Error(err)
						return
					}
					var n int
					fmt.Sscan(string(kv.Value), &n)
					_, err = s.Update(ctx, "counter", []byte(fmt.Sprint(n+1)), kv.ModRevision)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if got := mustGet(t, s, "counter", 0); string(got.Value) != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d", got.Value, workers*each)
	}
}

func testCancelledContext(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "a", "1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"Get":    func() error { _, err := s.Get(ctx, "a", 0); return err },
		"List":   func() error { _, err := s.List(ctx, store.ListOptions{}); return err },
		"Create": func() error { _, err := s.Create(ctx, "b", nil); return err },
		"Update": func() error { _, err := s.Update(ctx, "a", nil, 0); return err },
		"Delete": func() error { _, _, err := s.Delete(ctx, "a", 0); return err },
		"Txn": func() error {
			_, err := s.Txn(ctx, []store.Op{{Type: store.OpCreate, Key: "c"}})
			return err
		},
		"Watch": func() error { _, err := s.Watch(ctx, "", 0, store.WatchOptions{}); return err },
	}
	for name, call := range calls {
		wantErr(t, name+" with a cancelled context", call(), context.Canceled)
	}
	if r := s.CurrentRevision(); r != 1 {
		t.Fatalf("writes with a cancelled context committed: revision %d", r)
	}
	if got := mustGet(t, s, "a", 0); !bytes.Equal(got.Value, []byte("1")) {
		t.Fatalf("a = %q", got.Value)
	}
}

func testClose(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	mustCreate(t, s, "a", "1")
	w, err := s.Watch(ctx, "", 0, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	calls := map[string]func() error{
		"Get":     func() error { _, err := s.Get(ctx, "a", 0); return err },
		"List":    func() error { _, err := s.List(ctx, store.ListOptions{}); return err },
		"Count":   func() error { _, err := s.Count(ctx, ""); return err },
		"Create":  func() error { _, err := s.Create(ctx, "b", nil); return err },
		"Update":  func() error { _, err := s.Update(ctx, "a", nil, 0); return err },
		"Delete":  func() error { _, _, err := s.Delete(ctx, "a", 0); return err },
		"Txn":     func() error { _, err := s.Txn(ctx, []store.Op{{Type: store.OpCreate, Key: "c"}}); return err },
		"Watch":   func() error { _, err := s.Watch(ctx, "", 0, store.WatchOptions{}); return err },
		"Compact": func() error { return s.Compact(ctx, 1) },
	}
	for name, call := range calls {
		wantErr(t, name+" after Close", call(), store.ErrClosed)
	}
	drain(t, w)
	_ = s.Close() // a second Close must not panic
}
