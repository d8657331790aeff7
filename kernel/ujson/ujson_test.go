package ujson

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	sigsjson "sigs.k8s.io/json"
)

// same fails unless Marshal and json.Marshal agree on v, output and error alike.
func same(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, err := Marshal(v)
	if (err != nil) != (werr != nil) {
		t.Fatalf("%#v: error %v, encoding/json's %v", v, err, werr)
	}
	if string(got) != string(want) {
		t.Fatalf("%#v:\n got %s\nwant %s", v, got, want)
	}
}

func TestMatchesEncodingJSON(t *testing.T) {
	for name, v := range map[string]any{
		"nil":          nil,
		"nil map":      map[string]any(nil),
		"nil slice":    []any(nil),
		"empty map":    map[string]any{},
		"empty slice":  []any{},
		"bools":        []any{true, false},
		"ints":         []any{int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64), 7, int32(-3)},
		"floats":       []any{0.0, math.Copysign(0, -1), 0.1, 1.5, -2.25, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, 5e-324, math.MaxFloat64, 1e100, -1e-100},
		"html":         "<a href=\"x\">&amp;</a>",
		"controls":     "\x00\x01\b\f\n\r\t\x1f\x7f end",
		"escapes":      `back\slash "quoted"`,
		"unicode":      "héllo wörld ✓ 日本 😀",
		"separators":   "a\u2028b\u2029c",
		"invalid utf8": "a\xffb\xc3(c\xed\xa0\x80d",
		"sorted keys":  map[string]any{"b": 1.0, "a": 2.0, "A": 3.0, "": 4.0, "aa": 5.0, "é": 6.0, "<k>": 7.0},
		"nested": map[string]any{"metadata": map[string]any{"name": "x", "labels": map[string]any{"z": "1", "a": "2"}},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "ports": []any{map[string]any{"containerPort": int64(80)}}}}}},
		"other types":  map[string]any{"strs": []string{"b", "a"}, "m": map[string]string{"k": "<v>"}, "u": uint8(9), "t": time.Unix(0, 0).UTC()},
		"nested other": []any{map[string]int{"x": 1}, []int(nil)},
	} {
		t.Run(name, func(t *testing.T) { same(t, v) })
	}
}

func TestUnsupportedValues(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), map[string]any{"a": []any{math.Inf(-1)}}, map[string]any{"c": make(chan int)}} {
		if _, err := Marshal(v); err == nil {
			t.Errorf("%v: no error", v)
		}
		same(t, v)
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	b, err := Append([]byte("prefix:"), map[string]any{"k": "v"})
	if err != nil || string(b) != `prefix:{"k":"v"}` {
		t.Fatalf("%q %v", b, err)
	}
}

// FuzzMatchesEncodingJSON decodes JSON as the kernel does and checks that both
// encoders agree on what came out.
func FuzzMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[true,null,"x"],"c":{"d":1.5e300}}`, `"\u2028<>&\ud800"`, `[1e-7,-0.0,12345678901234567890]`, `{"":{"":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &v); err != nil {
			return
		}
		same(t, v)
	})
}

func BenchmarkMarshal(b *testing.B) {
	v := benchObject(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodingJSON(b *testing.B) {
	v := benchObject(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

// benchObject is a Deployment's pod, decoded as the kernel decodes what it stores.
func benchObject(b *testing.B) any {
	var v any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(benchPod), &v); err != nil {
		b.Fatal(err)
	}
	return v
}
