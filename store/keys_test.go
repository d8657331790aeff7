package store

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
)

// TestVersionKeyOrder checks the property reads rely on: version keys sort by user key,
// then newest revision first, and every version of a key sorts inside
// [versionKeyNewest(key), afterUserKey(key)) and before any greater key.
func TestVersionKeyOrder(t *testing.T) {
	type kr struct {
		key string
		rev int64
	}
	// In the order the encoding must produce.
	want := []kr{
		{"a", math.MaxInt64}, {"a", 300}, {"a", 256}, {"a", 255}, {"a", 1}, {"a", 0},
		{"a\x01", 5}, {"a/", 9}, {"a/", 2}, {"a/b", 7}, {"ab", 3}, {"b", 1},
		{"\xff", 4}, {"\xff\xff", 4},
	}
	enc := make([][]byte, len(want))
	for i, v := range want {
		enc[i] = versionKey(nil, v.key, v.rev)
	}
	if !slices.IsSortedFunc(enc, bytes.Compare) {
		for i := 1; i < len(enc); i++ {
			if bytes.Compare(enc[i-1], enc[i]) >= 0 {
				t.Errorf("%v does not sort before %v", want[i-1], want[i])
			}
		}
	}
	for i, v := range want {
		key, rev, err := decodeVersionKey(enc[i])
		if err != nil || string(key) != v.key || rev != v.rev {
			t.Errorf("decode(%q) = %q, %d, %v; want %q, %d", enc[i], key, rev, err, v.key, v.rev)
		}
		lo, hi := versionKeyNewest(nil, v.key), afterUserKey(nil, v.key)
		if bytes.Compare(enc[i], lo) < 0 || bytes.Compare(enc[i], hi) >= 0 {
			t.Errorf("%v is outside its key's range", v)
		}
		for j, o := range want {
			if o.key > v.key && bytes.Compare(enc[j], hi) < 0 {
				t.Errorf("%v sorts below the end of %q's versions", o, v.key)
			}
		}
	}
}

func TestDecodeVersionKeyRejectsGarbage(t *testing.T) {
	for _, k := range [][]byte{
		nil,
		[]byte("k"),
		[]byte("e12345678"),
		append([]byte("ka\x01"), make([]byte, 8)...), // no NUL separator
		append([]byte("k\x00"), make([]byte, 8)...),  // empty user key
	} {
		if _, _, err := decodeVersionKey(k); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeVersionKey(%q) = %v, want errCorrupt", k, err)
		}
	}
}

func TestPrefixBounds(t *testing.T) {
	tests := []struct {
		prefix    string
		lo, hi    string
		in, notIn []string
	}{
		{"", "k", "l", []string{"a", "\xff\xff"}, nil},
		{"a", "ka", "kb", []string{"a", "a/b", "a\xff"}, []string{"b", "`"}},
		{"a\xff", "ka\xff", "kb", []string{"a\xff", "a\xff\xff"}, []string{"a", "b"}},
		{"\xff", "k\xff", "l", []string{"\xff", "\xff\xff"}, []string{"a"}},
	}
	for _, tt := range tests {
		lo, hi := prefixBounds(tt.prefix)
		if string(lo) != tt.lo || string(hi) != tt.hi {
			t.Errorf("prefixBounds(%q) = %q, %q; want %q, %q", tt.prefix, lo, hi, tt.lo, tt.hi)
		}
		for _, k := range tt.in {
			v := versionKey(nil, k, 1)
			if bytes.Compare(v, lo) < 0 || bytes.Compare(v, hi) >= 0 {
				t.Errorf("%q not in prefix %q's bounds", k, tt.prefix)
			}
		}
		for _, k := range tt.notIn {
			v := versionKey(nil, k, 1)
			if bytes.Compare(v, lo) >= 0 && bytes.Compare(v, hi) < 0 {
				t.Errorf("%q in prefix %q's bounds", k, tt.prefix)
			}
		}
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key  string
		want error
	}{
		{"a", nil},
		{"/registry/pods/default/x", nil},
		{"\xff\x01", nil},
		{"", ErrInvalid},
		{"a\x00", ErrInvalid},
		{"\x00a", ErrInvalid},
		{"0123456789abcdefghijklmnopqrstuvwxyz", ErrTooLarge},
	}
	for _, tt := range tests {
		if err := checkKey(tt.key, 32); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("checkKey(%q) = %v, want %v", tt.key, err, tt.want)
		}
	}
}

func TestVersionValueRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		create int64
		value  []byte
	}{{1, nil}, {1 << 40, []byte("hello")}, {300, bytes.Repeat([]byte{0}, 1000)}} {
		tomb, create, value, err := decodeVersion(encodeVersion(nil, tt.create, tt.value))
		if err != nil || tomb || create != tt.create || !bytes.Equal(value, tt.value) {
			t.Errorf("round trip of %d/%q = %v %d %q %v", tt.create, tt.value, tomb, create, value, err)
		}
	}
	if tomb, _, _, err := decodeVersion(tombstoneValue); !tomb || err != nil {
		t.Errorf("tombstone decodes as %v, %v", tomb, err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 0x80}} {
		if _, _, _, err := decodeVersion(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeVersion(%v) = %v, want errCorrupt", bad, err)
		}
	}
}

func TestEventRecordRoundTrip(t *testing.T) {
	evs := []Event{
		{Type: EventPut, KV: KV{Key: "a"}},
		{Type: EventDelete, KV: KV{Key: "b/c"}},
		{Type: EventPut, KV: KV{Key: string(bytes.Repeat([]byte("x"), 300))}},
	}
	refs, err := decodeEventRecord(encodeEventRecord(nil, evs))
	if err != nil || len(refs) != len(evs) {
		t.Fatalf("decode = %v, %v", refs, err)
	}
	for i, r := range refs {
		if r.typ != evs[i].Type || r.key != evs[i].KV.Key {
			t.Errorf("ref %d = %+v, want %v %q", i, r, evs[i].Type, evs[i].KV.Key)
		}
	}
}

// FuzzDecodeEventRecord checks that no input makes the decoder panic, and that what it
// accepts survives a re-encoding (the bytes may differ: varints need not be minimal).
func FuzzDecodeEventRecord(f *testing.F) {
	f.Add(encodeEventRecord(nil, []Event{{Type: EventPut, KV: KV{Key: "a"}}}))
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := decodeEventRecord(b)
		if err != nil {
			return
		}
		evs := make([]Event, len(refs))
		for i, r := range refs {
			evs[i] = Event{Type: r.typ, KV: KV{Key: r.key}}
		}
		again, err := decodeEventRecord(encodeEventRecord(nil, evs))
		if err != nil || !slices.Equal(again, refs) {
			t.Fatalf("re-encoding %x: %v, %v; want %v", b, again, err, refs)
		}
	})
}
