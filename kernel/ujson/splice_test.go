package ujson

import (
	"maps"
	"testing"
)

// withRV is what AppendWithResourceVersion must produce for obj: Marshal of obj with
// metadata.resourceVersion set and, if drop, managedFields gone.
func withRV(t *testing.T, obj map[string]any, rv string, drop bool) []byte {
	t.Helper()
	o := maps.Clone(obj)
	m := maps.Clone(o["metadata"].(map[string]any))
	m["resourceVersion"] = rv
	if drop {
		delete(m, "managedFields")
	}
	o["metadata"] = m
	b, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendWithResourceVersion(t *testing.T) {
	for _, src := range []string{
		benchPod,
		`{"metadata":{}}`,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{}}`,
		`{"metadata":{"annotations":{"x":"}\"{"},"creationTimestamp":"2026-11-22T00:00:00Z","managedFields":[{"fieldsV1":{"f:metadata":{}},"manager":"m"}],"name":"a","uid":"u"},"status":{"phase":"Running"}}`,
		`{"metadata":{"managedFields":[{"manager":"m"}]}}`,
		`{"metadata":{"uid":"u","zzz":[1,2,{"a":[]}]},"z":null}`,
		`{"a":[{"b":"]}"},-1.5e-7,true,false,null],"metadata":{"labels":{"resourceVersion":"nested is not metadata's"},"name":"n"},"z":{}}`,
		`{"metadata":{"name":"\u003cangle\u003e","x":"\\\""}}`,
	} {
		obj, err := UnmarshalObject([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		raw, err := Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, drop := range []bool{false, true} {
			prefix := []byte("prefix")
			got, ok := AppendWithResourceVersion(prefix, raw, "42", drop)
			if !ok {
				t.Fatalf("%s (drop %v): declined", raw, drop)
			}
			if want := withRV(t, obj, "42", drop); string(got) != "prefix"+string(want) {
				t.Fatalf("%s (drop %v):\n got %s\nwant prefix%s", raw, drop, got, want)
			}
		}
	}
}

// The inputs it must decline, appending nothing.
func TestAppendWithResourceVersionDeclines(t *testing.T) {
	for _, src := range []string{
		``, `[]`, `"x"`, `{}`, `{"spec":{}}`, `{"metadata":[]}`, `{"metadata":"x"}`,
		`{"metadata":{"resourceVersion":"1"}}`,
		`{"metadata":{"a\u003cb":1}}`,
		`{"metadata":{"a":1}} `, ` {"metadata":{}}`, `{"metadata": {}}`, `{"metadata":{"a" :1}}`,
		`{"metadata":{"a":1}`, `{"metadata":{"a":}}`, `{"metadata":{"a":1,}}`,
		`{"metadata":{"a":"x}}`, `{"metadata":{"a":[}}`, `{"a":1 "metadata":{}}`,
		"\x00{\"metadata\":{}}", `{"metadata":{"a":tr ue}}`,
	} {
		got, ok := AppendWithResourceVersion([]byte("p"), []byte(src), "1", true)
		if ok || string(got) != "p" {
			t.Errorf("%q: got %q, %v; want a decline", src, got, ok)
		}
	}
}

// For any JSON object without repeated keys: wherever it is what Marshal writes for
// an object with a metadata object and no resourceVersion, the splice is Marshal's
// output for the object changed; wherever else it answers, its output decodes to the
// object changed. (Other input is outside its contract.)
func FuzzAppendWithResourceVersion(f *testing.F) {
	for _, s := range []string{benchPod, `{"metadata":{}}`, `{"metadata":{"managedFields":[],"z":"\""}}`, `{"a":{"}":"{"},"metadata":{"b":[]}}`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, drop bool) {
		obj, valid := DecodeObject(data) // which declines repeated keys
		if !valid {
			return
		}
		got, ok := AppendWithResourceVersion(nil, data, "7", drop)
		meta, isMap := obj["metadata"].(map[string]any)
		_, hasRV := meta["resourceVersion"]
		canonical, _ := Marshal(obj)
		if isMap && !hasRV && string(canonical) == string(data) && !ok {
			// Declined only for a metadata key with an escape.
			escaped := false
			for k := range meta {
				kb, _ := Marshal(k)
				escaped = escaped || len(kb) != len(k)+2
			}
			if !escaped {
				t.Fatalf("%s: declined", data)
			}
		}
		if !ok {
			return
		}
		if !isMap || hasRV {
			t.Fatalf("%s: spliced into %s", data, got)
		}
		want := withRV(t, obj, "7", drop)
		if string(canonical) == string(data) {
			if string(got) != string(want) {
				t.Fatalf("%s:\n got %s\nwant %s", data, got, want)
			}
			return
		}
		back, err := UnmarshalObject(got)
		if err != nil {
			t.Fatalf("%s: spliced into %s, which does not decode: %v", data, got, err)
		}
		if b, _ := Marshal(back); string(b) != string(want) {
			t.Fatalf("%s: spliced into %s, which decodes to %s, want %s", data, got, b, want)
		}
	})
}

func BenchmarkAppendWithResourceVersion(b *testing.B) {
	obj, _ := UnmarshalObject([]byte(benchPod))
	raw, _ := Marshal(obj)
	b.Run("splice", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = AppendWithResourceVersion(buf[:0], raw, "12345", true)
		}
	})
	b.Run("decoded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := maps.Clone(obj["metadata"].(map[string]any))
			m["resourceVersion"] = "12345"
			o := maps.Clone(obj)
			o["metadata"] = m
			if _, err := Marshal(o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
