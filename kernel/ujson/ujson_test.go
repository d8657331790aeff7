package ujson

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
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

// decodeSame fails unless DecodeObject, when it takes in, decodes it as
// sigs.k8s.io/json does, value for value and type for type.
func decodeSame(t *testing.T, in string) (fast bool) {
	t.Helper()
	got, ok := DecodeObject([]byte(in))
	var want map[string]any
	err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(in), &want)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("%q: decoded, but sigs.k8s.io/json fails: %v", in, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", in, got, want)
	}
	return true
}

var decodeCases = []struct {
	in   string
	fast bool
}{
	{`{}`, true},
	{` {"a":1} `, true},
	{`{"a":1,"b":-2,"c":0,"d":-0,"e":1.5,"f":1e3,"g":1E-2,"h":-0.0,"i":12345678901234567890,"j":9223372036854775807,"k":-9223372036854775808,"l":9223372036854775808}`, true},
	{`{"s":"plain","e":"esc\"aped\\\/\b\f\n\r\t","u":"\u00e9\u65e5\ud83d\ude00","lone":"\ud800x","pair-bad":"\ud800\u0041","non-ascii":"héllo ✓"}`, true},
	{`{"a":[],"b":{},"c":[1,"two",true,false,null,{"d":[[]]}],"n":null}`, true},
	{"{\"a\"\t:\n[ 1 , 2 ]\r}", true},
	{`{"metadata":{"name":"x","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}`, true},
	// Left to the caller's decoder.
	{`null`, false},
	{`[1]`, false},
	{`"s"`, false},
	{`{"a":1,"a":2}`, false},
	{`{"a":{"b":1,"b":1}}`, false},
	{"{\"a\":\"\xff\"}", false},
	{`{"a":1e400}`, false},
	{`{"a":01}`, false},
	{`{"a":1.}`, false},
	{`{"a":.5}`, false},
	{`{"a":+1}`, false},
	{`{"a":1e}`, false},
	{`{"a":-}`, false},
	{`{"a":"\x"}`, false},
	{`{"a":"\u12"}`, false},
	{"{\"a\":\"tab\there\"}", false},
	{`{"a":1,}`, false},
	{`{"a":[1,]}`, false},
	{`{"a" 1}`, false},
	{`{a:1}`, false},
	{`{"a":tru}`, false},
	{`{"a":1} x`, false},
	{`{"a":1`, false},
	{`{"a":"unterminated`, false},
	{``, false},
}

func TestDecodeObject(t *testing.T) {
	for _, c := range decodeCases {
		if fast := decodeSame(t, c.in); fast != c.fast {
			t.Errorf("%q: decoded %v, want %v", c.in, fast, c.fast)
		}
	}
	deep := strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth)
	if !decodeSame(t, deep) {
		t.Error("nesting at the limit was not decoded")
	}
	deeper := strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1)
	if _, ok := DecodeObject([]byte(deeper)); ok {
		t.Error("nesting beyond encoding/json's limit was decoded")
	}
	if a, ok := DecodeArray([]byte(`[{"op":"add","path":"/a","value":1}]`)); !ok || len(a) != 1 {
		t.Errorf("DecodeArray: %v %v", a, ok)
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, c := range decodeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		decodeSame(t, in)
		if a, ok := DecodeArray([]byte(in)); ok {
			var want []any
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(in), &want); err != nil || !reflect.DeepEqual(a, want) {
				t.Fatalf("%q: DecodeArray %#v, sigs.k8s.io/json %#v (%v)", in, a, want, err)
			}
		}
	})
}

func BenchmarkDecodeObject(b *testing.B) {
	raw, err := json.Marshal(benchObject(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ujson", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := DecodeObject(raw); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("sigs.k8s.io-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
