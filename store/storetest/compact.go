package storetest

import (
	"fmt"
	"strings"
	"testing"

	"weft.dev/weft/store"
)

func testCompact(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	mustCreate(t, s, "a", "1") // 1
	mustCreate(t, s, "b", "1") // 2
	mustUpdate(t, s, "a", "2") // 3
	mustDelete(t, s, "b")      // 4
	mustCreate(t, s, "c", "1") // 5
	mustUpdate(t, s, "a", "3") // 6
	mustCreate(t, s, "d", "1") // 7
	mustDelete(t, s, "d")      // 8
	mustCreate(t, s, "e", "1") // 9
	mustUpdate(t, s, "c", "2") // 10
	if err := s.Compact(ctx, 5); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if r := s.CompactedRevision(); r != 5 {
		t.Fatalf("CompactedRevision = %d, want 5", r)
	}
	for rev := int64(1); rev < 5; rev++ {
		_, err := s.Get(ctx, "a", rev)
		wantErr(t, fmt.Sprintf("Get at %d", rev), err, store.ErrCompacted)
		_, err = s.List(ctx, store.ListOptions{Revision: rev})
		wantErr(t, fmt.Sprintf("List at %d", rev), err, store.ErrCompacted)
	}
	// The state at the compacted revision and after it is intact.
	tests := []struct {
		rev  int64
		want string
	}{
		{5, `{a="2" c1 m3},{c="1" c5 m5}`},
		{6, `{a="3" c1 m6},{c="1" c5 m5}`},
		{7, `{a="3" c1 m6},{c="1" c5 m5},{d="1" c7 m7}`},
		{8, `{a="3" c1 m6},{c="1" c5 m5}`},
		{10, `{a="3" c1 m6},{c="2" c5 m10},{e="1" c9 m9}`},
		{0, `{a="3" c1 m6},{c="2" c5 m10},{e="1" c9 m9}`},
	}
	for _, tt := range tests {
		res, err := s.List(ctx, store.ListOptions{Revision: tt.rev})
		if err != nil {
			t.Fatalf("List at %d: %v", tt.rev, err)
		}
		var got []string
		for _, kv := range res.KVs {
			got = append(got, kvString(kv))
		}
		if g := strings.Join(got, ","); g != tt.want {
			t.Fatalf("List at %d = %s, want %s", tt.rev, g, tt.want)
		}
	}
	_, err := s.Get(ctx, "b", 5)
	wantErr(t, "Get of a key deleted before the compacted revision", err, store.ErrNotFound)
	wantKV(t, "Get a at 5", mustGet(t, s, "a", 5), "a", "2", 1, 3)
	if n, err := s.Count(ctx, ""); n != 3 || err != nil {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
	// Events above the compacted revision, with their PrevKVs, are still there.
	w := mustWatch(t, s, "", 6, store.WatchOptions{PrevKV: true})
	wantEvents(t, collect(t, w, 5), true,
		`PUT {a="3" c1 m6} prev={a="2" c1 m3}`,
		`PUT {d="1" c7 m7}`,
		`DEL d@8 prev={d="1" c7 m7}`,
		`PUT {e="1" c9 m9}`,
		`PUT {c="2" c5 m10} prev={c="1" c5 m5}`)
}

func testCompactErrors(t *testing.T, open Open) {
	s := open(t)
	ctx := ctxT(t)
	for i := range 4 {
		mustCreate(t, s, fmt.Sprintf("k%d", i), "v")
	}
	wantErr(t, "Compact above the current revision", s.Compact(ctx, 5), store.ErrFutureRevision)
	if err := s.Compact(ctx, 2); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Compact to the compacted revision", s.Compact(ctx, 2), store.ErrCompacted)
	wantErr(t, "Compact below the compacted revision", s.Compact(ctx, 1), store.ErrCompacted)
	if err := s.Compact(ctx, 4); err != nil {
		t.Fatalf("Compact to the current revision: %v", err)
	}
	if r := s.CompactedRevision(); r != 4 {
		t.Fatalf("CompactedRevision = %d, want 4", r)
	}
	res, err := s.List(ctx, store.ListOptions{})
	if err != nil || len(res.KVs) != 4 {
		t.Fatalf("List after compacting everything = %d keys, %v", len(res.KVs), err)
	}
}

func testWriteAfterCompact(t *testing.T, open Open) {
	s := open(t)
	mustCreate(t, s, "a", "1")
	mustUpdate(t, s, "a", "2")
	if err := s.Compact(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	kv := mustUpdate(t, s, "a", "3")
	wantKV(t, "update after compaction", kv, "a", "3", 1, 3)
	w := mustWatch(t, s, "", 3, store.WatchOptions{PrevKV: true})
	wantEvents(t, collect(t, w, 1), true, `PUT {a="3" c1 m3} prev={a="2" c1 m2}`)
}
