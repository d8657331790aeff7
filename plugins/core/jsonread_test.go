package core

import (
	"encoding/json"
	"reflect"
	"testing"
)

// generic reads any value with reader, as encoding/json decodes into any.
func (r *reader) generic() any {
	switch c := r.peek(); {
	case c == '{':
		m := map[string]any{}
		r.object(func(k []byte) { m[string(k)] = r.generic() })
		return m
	case c == '[':
		l := []any{}
		r.array(func(int) { l = append(l, r.generic()) })
		return l
	case c == '"':
		var s string
		r.str(&s)
		return s
	case c == 'n':
		r.null()
		return nil
	case c == 't' || c == 'f':
		var b bool
		r.boolean(&b)
		return b
	default:
		var f float64
		if err := json.Unmarshal(r.raw(), &f); err != nil {
			r.fail("bad number")
		}
		return f
	}
}

var readerCorpus = []string{
	`{}`, `[]`, `null`, `{"a":1,"b":[true,false,null,"x"],"c":{"d":-1.5e3}}`, ` { "sp" : [ 1 , 2 ] } `,
	`"esc\"aped\\\/\b\f\n\r\t"`, `"\u00e9\u2028\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\udc00\ud83d\ude00"`, `"ünïcode"`,
	`{"a":{"a":{"a":[[[[]]]]}}}`, `{"dup":1,"dup":2}`, `[0,-0,1e5,1E-5,123456789012]`,
	// Malformed: must fail, never panic.
	``, `{`, `[`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `"unterminated`, `"bad\escape"`, `"\u12"`, `{"a":1}}`, `tru`, `nul`,
	`01x`, `-`, `{"a":1 "b":2}`, `[1 2]`, "\"ctl\x01\"", `{1:2}`, `"\`,
}

func TestReaderMatchesEncodingJSON(t *testing.T) {
	for _, in := range readerCorpus {
		var want any
		werr := json.Unmarshal([]byte(in), &want)
		r := reader{b: []byte(in)}
		got := r.generic()
		gerr := r.end()
		if (werr == nil) != (gerr == nil) {
			// The reader is lenient about numbers only as encoding/json is not: "01".
			t.Errorf("%q: reader error %v, encoding/json %v", in, gerr, werr)
			continue
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: reader %#v, encoding/json %#v", in, got, want)
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, in := range readerCorpus {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := reader{b: []byte(in)}
		r.generic()
		_ = r.end()
		// And the pod decoder, on anything.
		_, _, _, _ = decodePod([]byte(in))
	})
}
