package sdk

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// generic reads any value with r, as encoding/json decodes into any.
func generic(r *JSONReader) any {
	switch r.Kind() {
	case JSONObject:
		m := map[string]any{}
		r.Object(func(k []byte) { m[string(k)] = generic(r) })
		return m
	case JSONArray:
		l := []any{}
		r.Array(func(int) { l = append(l, generic(r)) })
		return l
	case JSONString:
		return r.Str()
	case JSONNull:
		if !r.Null() {
			r.Skip() // "nul" and the like: let Skip report it
		}
		return nil
	case JSONBool:
		return r.Bool()
	case JSONNumber:
		return r.Float()
	}
	r.Skip() // reports the error
	return nil
}

var jsonCorpus = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `"x"`, ` 12 `,
	`{"a":1,"b":[true,false,null,"x"],"c":{"d":-1.5e3}}`, " \t\r\n{ \"sp\" : [ 1 , 2 ] } \n",
	`"esc\"aped\\\/\b\f\n\r\t"`, `"\u00e9\u2028\ud83d\ude00"`, `"\uD83D\uDE00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`,
	`"\udc00\ud83d\ude00"`, `"\ude00\ud83d"`, `"ünïcode ✓ 😀"`, "\"bad utf8 \xff\xfe end\"", "\"trunc \xe2\x9c\"", "\"\xed\xa0\x80 surrogate in utf8\"",
	"\"mixed \xff and \\n\"", `{"\u006bey":"v"}`, "{\"k\xff\":1}",
	`{"a":{"a":{"a":[[[[]]]]}}}`, `{"dup":1,"dup":2}`, `[0,-0,1e5,1E-5,1e+5,123456789012,0.5,-0.0e0,1e400]`, `1e-400`,
	`[1.7976931348623157e308, -1.7976931348623157e308, 4.9e-324]`,
	// Malformed: must fail, never panic.
	``, ` `, `{`, `[`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `"unterminated`, `"bad\escape"`, `"\u12"`, `"\u12`, `"\uzzzz"`,
	`{"a":1}}`, `tru`, `nul`, `nulll`, `falsey`, `01`, `01x`, `-`, `-a`, `1.`, `.5`, `-.5`, `1e`, `1e+`, `+1`, `0x10`, `1_000`, `Infinity`, `NaN`,
	`{"a":1 "b":2}`, `[1 2]`, "\"ctl\x01\"", "\"tab\tinside\"", `{1:2}`, `{a:2}`, `"\`, `"\"`, `{"a":1}x`, `[]]`, "1\x00", "\x00",
	`{"a" 1}`, `{"a":1,"b"}`, `[` + strings.Repeat(`[`, 20) + `]`, `'single'`,
}

func TestJSONReaderMatchesEncodingJSON(t *testing.T) {
	corpus := append(jsonCorpus,
		strings.Repeat("[", JSONMaxDepth)+strings.Repeat("]", JSONMaxDepth),
		strings.Repeat("[", JSONMaxDepth+1)+strings.Repeat("]", JSONMaxDepth+1),
		strings.Repeat(`{"a":`, JSONMaxDepth+1)+"1"+strings.Repeat("}", JSONMaxDepth+1),
	)
	for _, in := range corpus {
		compareGeneric(t, in)
	}
}

func compareGeneric(t *testing.T, in string) {
	t.Helper()
	var want any
	werr := json.Unmarshal([]byte(in), &want)
	r := NewJSONReader([]byte(in))
	got := generic(r)
	gerr := r.End()
	short := in
	if len(short) > 80 {
		short = short[:80] + "..."
	}
	if (werr == nil) != (gerr == nil) {
		t.Errorf("%q: JSONReader error %v, encoding/json error %v", short, gerr, werr)
		return
	}
	if gerr != nil {
		var je *JSONError
		if !errors.As(gerr, &je) || je.Offset < 0 || je.Offset > len(in) {
			t.Errorf("%q: error %#v is not a JSONError with an offset in the input", short, gerr)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q: JSONReader %#v, encoding/json %#v", short, got, want)
	}
}

// Errors carry the offset of the offending value or byte.
func TestJSONReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		read func(r *JSONReader)
		err  string
	}{
		{``, func(r *JSONReader) { r.Skip() }, "json: unexpected end of input at offset 0"},
		{`  `, func(r *JSONReader) { r.Object(nil) }, "json: expected an object at offset 2"},
		{`{"a":1,}`, func(r *JSONReader) { r.Skip() }, "json: expected a string key at offset 7"},
		{`{"a" 1}`, func(r *JSONReader) { r.Skip() }, "json: expected ':' after an object key at offset 5"},
		{`{"a":1 "b":2}`, func(r *JSONReader) { r.Skip() }, "json: expected ',' or '}' after an object member at offset 7"},
		{`[1 2]`, func(r *JSONReader) { r.Skip() }, "json: expected ',' or ']' after an array element at offset 3"},
		{`[1,]`, func(r *JSONReader) { r.Skip() }, "json: expected a value at offset 3"},
		{`"abc`, func(r *JSONReader) { _ = r.Str() }, "json: unterminated string at offset 4"},
		{`"ab\`, func(r *JSONReader) { _ = r.Str() }, "json: unterminated string at offset 4"},
		{`"ab\q"`, func(r *JSONReader) { _ = r.Str() }, "json: bad escape in string at offset 3"},
		{`"ab\q"`, func(r *JSONReader) { r.Skip() }, "json: bad escape in string at offset 3"},
		{`"a\u12x4"`, func(r *JSONReader) { _ = r.Str() }, "json: bad \\u escape in string at offset 2"},
		{"\"a\nb\"", func(r *JSONReader) { _ = r.Str() }, "json: control character in string at offset 2"},
		{` 12`, func(r *JSONReader) { _ = r.Str() }, "json: expected a string at offset 1"},
		{`"12"`, func(r *JSONReader) { r.Int() }, "json: expected an integer at offset 0"},
		{`1.5`, func(r *JSONReader) { r.Int() }, "json: expected an integer, not 1.5 at offset 0"},
		{`1e3`, func(r *JSONReader) { r.Int() }, "json: expected an integer, not 1e3 at offset 0"},
		{`9223372036854775808`, func(r *JSONReader) { r.Int() }, "json: integer overflows int64 at offset 0"},
		{`-9223372036854775809`, func(r *JSONReader) { r.Int() }, "json: integer overflows int64 at offset 0"},
		{`99999999999999999999999`, func(r *JSONReader) { r.Int() }, "json: integer overflows int64 at offset 0"},
		{`2147483648`, func(r *JSONReader) { r.Int32() }, "json: integer overflows int32 at offset 0"},
		{`-`, func(r *JSONReader) { r.Int() }, "json: expected a number at offset 0"},
		{`1.`, func(r *JSONReader) { r.Float() }, "json: bad number at offset 0"},
		{`1e400`, func(r *JSONReader) { r.Float() }, "json: number out of range at offset 0"},
		{`tru`, func(r *JSONReader) { r.Bool() }, "json: expected a boolean at offset 0"},
		{`"true"`, func(r *JSONReader) { r.Bool() }, "json: expected a boolean at offset 0"},
		{`{} {}`, func(r *JSONReader) { r.Skip() }, "json: data after the value at offset 3"},
		{`{"a":[1,{"b":x}]}`, func(r *JSONReader) { r.Skip() }, "json: expected a value at offset 13"},
		{`{"labels":{"a":1}}`, func(r *JSONReader) { r.ObjectMeta(new(ObjectMeta)) }, "json: expected a string at offset 15"},
		{`{"generation":"1"}`, func(r *JSONReader) { r.ObjectMeta(new(ObjectMeta)) }, "json: expected an integer at offset 14"},
		{`{"ownerReferences":{}}`, func(r *JSONReader) { r.ObjectMeta(new(ObjectMeta)) }, "json: expected an array at offset 19"},
		{`[{"type":"A","status":true}]`, func(r *JSONReader) { var c []Condition; r.Conditions(&c) }, "json: expected a string at offset 22"},
		{`{}`, func(r *JSONReader) { r.Object(func([]byte) {}); r.Fail("custom") }, "json: custom at offset 2"},
		{strings.Repeat("[", JSONMaxDepth+1), func(r *JSONReader) { r.Skip() }, "json: nested too deep at offset 10000"},
	} {
		r := NewJSONReader([]byte(tc.in))
		tc.read(r)
		err := r.End()
		if err == nil || err.Error() != tc.err {
			t.Errorf("%q: error %v, want %s", tc.in, err, tc.err)
		}
		// Once failed, the reader reads nothing more and calls nothing back.
		r.Object(func([]byte) { t.Errorf("%q: callback after an error", tc.in) })
		r.Array(func(int) { t.Errorf("%q: callback after an error", tc.in) })
		if r.Str() != "" || r.Int() != 0 || r.Raw() != nil || r.Err() != err {
			t.Errorf("%q: read after an error", tc.in)
		}
	}
}

func TestJSONReaderScalars(t *testing.T) {
	r := NewJSONReader([]byte(`[ "plain", "esc\"\u00e9\ud83d\ude00\ud800", null, 42, -9223372036854775808, 2147483647, -2147483648, 1.25e2, true, false, null, {"raw": [1, "x"]} , null, "bytes"]`))
	var got []any
	r.Array(func(i int) {
		switch i {
		case 0, 1, 2:
			got = append(got, r.Str())
		case 3, 4:
			got = append(got, r.Int())
		case 5, 6:
			got = append(got, r.Int32())
		case 7:
			got = append(got, r.Float())
		case 8, 9, 10:
			got = append(got, r.Bool())
		case 11, 12:
			got = append(got, string(r.Raw()))
		default:
			got = append(got, string(r.Bytes()))
		}
	})
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	want := []any{"plain", "esc\"é😀\uFFFD", "", int64(42), int64(-1 << 63), int32(1<<31 - 1), int32(-1 << 31), 125.0, true, false, false, `{"raw": [1, "x"]}`, "null", "bytes"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

// Text without escapes is returned without copying.
func TestJSONReaderAliases(t *testing.T) {
	in := []byte(`{"key":"value","esc":"a\nb"}`)
	r := NewJSONReader(in)
	var keys, vals [][]byte
	r.Object(func(k []byte) {
		keys = append(keys, k)
		vals = append(vals, r.Bytes())
	})
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	if &keys[0][0] != &in[2] || &vals[0][0] != &in[8] {
		t.Error("unescaped key or value was copied")
	}
	if string(vals[1]) != "a\nb" {
		t.Errorf("escaped value %q", vals[1])
	}
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		r.Object(func(k []byte) { r.Skip() })
		_ = r.End()
	}); n != 0 {
		t.Errorf("skipping an object allocates %v times", n)
	}
}

// sdkTypes is what the typed helpers are compared on.
type sdkTypes struct {
	Metadata   ObjectMeta        `json:"metadata"`
	Selector   *LabelSelector    `json:"selector"`
	Conditions []Condition       `json:"conditions"`
	Map        map[string]string `json:"map"`
}

func (v *sdkTypes) decode(r *JSONReader) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.ObjectMeta(&v.Metadata)
		case "selector":
			if r.Null() {
				v.Selector = nil
				return
			}
			if v.Selector == nil {
				v.Selector = new(LabelSelector)
			}
			r.LabelSelector(v.Selector)
		case "conditions":
			r.Conditions(&v.Conditions)
		case "map":
			r.StringMap(&v.Map)
		default:
			r.Skip()
		}
	})
}

var typedCorpus = []string{
	`{}`, `null`, `{"metadata":null,"selector":null,"conditions":null,"map":null}`,
	`{"metadata":{},"selector":{},"conditions":[],"map":{}}`,
	`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","generateName":"p-","namespace":"ns","uid":"u","resourceVersion":"7","generation":3,
	  "creationTimestamp":"2026-01-01T00:00:00Z","deletionTimestamp":"2026-01-02T00:00:00Z","deletionGracePeriodSeconds":30,
	  "labels":{"a":"1","b":""},"annotations":{"x/y":"z\n"},"finalizers":["f1","f2"],"managedFields":[{"manager":"m","fieldsV1":{"f:spec":{}}}],
	  "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"ru","controller":true,"blockOwnerDeletion":false,"extra":1},{"name":"other"}]},
	  "spec":{"whatever":[1,2,{"x":null}]}}`,
	`{"metadata":{"name":null,"labels":{"a":null},"ownerReferences":[null,{"controller":null}],"finalizers":[null,"x"],"deletionGracePeriodSeconds":null}}`,
	`{"selector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]},{"key":"k","operator":"Exists","values":null},{"key":"e","operator":"NotIn","values":[]}]}}`,
	`{"conditions":[{"type":"Ready","status":"True","observedGeneration":2,"lastUpdateTime":"t1","lastTransitionTime":"t2","reason":"R","message":"m\u00e9","unknown":{}},{}]}`,
	// Duplicates: maps are added to, slices reuse their elements, null leaves scalars.
	`{"map":{"a":"1"},"map":{"b":"2"}}`, `{"map":{"a":"1"},"map":null}`,
	`{"conditions":[{"type":"A","reason":"x"},{"type":"B"}],"conditions":[{"status":"S"}]}`,
	`{"conditions":[{"type":"A"}],"conditions":[]}`,
	`{"metadata":{"name":"a"},"metadata":{"namespace":"b","name":null}}`,
	`{"selector":{"matchLabels":{"a":"1"}},"selector":{"matchExpressions":[]}}`,
	`{"metadata":{"deletionGracePeriodSeconds":1,"deletionGracePeriodSeconds":2}}`,
	`{"metadata":{"ownerReferences":[{"controller":true}],"ownerReferences":[{"blockOwnerDeletion":true}]}}`,
	// Wrong types: errors.
	`{"metadata":[]}`, `{"metadata":{"name":1}}`, `{"metadata":{"generation":1.5}}`, `{"metadata":{"labels":[]}}`,
	`{"metadata":{"labels":{"a":true}}}`, `{"metadata":{"finalizers":"x"}}`, `{"metadata":{"finalizers":[1]}}`,
	`{"metadata":{"ownerReferences":[{"controller":"true"}]}}`, `{"selector":[]}`, `{"selector":{"matchExpressions":{}}}`,
	`{"conditions":{}}`, `{"conditions":[1]}`, `{"conditions":[{"observedGeneration":"1"}]}`, `{"map":"x"}`, `[]`, `"x"`,
	`{"metadata":{"generation":9223372036854775808}}`,
}

func TestJSONReaderTypesMatchEncodingJSON(t *testing.T) {
	for _, in := range typedCorpus {
		compareTyped(t, in)
	}
}

var sdkFieldNames []string

func init() {
	for _, typ := range []reflect.Type{reflect.TypeFor[sdkTypes](), reflect.TypeFor[ObjectMeta](), reflect.TypeFor[OwnerReference](),
		reflect.TypeFor[LabelSelector](), reflect.TypeFor[LabelSelectorRequirement](), reflect.TypeFor[Condition]()} {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			sdkFieldNames = append(sdkFieldNames, name)
		}
	}
}

// foldedKeys reports whether the document has a key that encoding/json, which folds
// case, would match to a field but JSONReader, which does not, would skip.
func foldedKeys(in string, names []string) bool {
	folded := false
	var walk func(r *JSONReader)
	walk = func(r *JSONReader) {
		switch r.Kind() {
		case JSONObject:
			r.Object(func(k []byte) {
				for _, n := range names {
					if string(k) != n && strings.EqualFold(string(k), n) {
						folded = true
					}
				}
				walk(r)
			})
		case JSONArray:
			r.Array(func(int) { walk(r) })
		default:
			r.Skip()
		}
	}
	walk(NewJSONReader([]byte(in)))
	return folded
}

func compareTyped(t *testing.T, in string) {
	t.Helper()
	var want, got sdkTypes
	werr := json.Unmarshal([]byte(in), &want)
	r := NewJSONReader([]byte(in))
	got.decode(r)
	gerr := r.End()
	if (werr == nil) != (gerr == nil) {
		t.Errorf("%q: JSONReader error %v, encoding/json error %v", in, gerr, werr)
		return
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Errorf("%q:\nJSONReader    %+v\nencoding/json %+v", in, got, want)
	}
}

func FuzzJSONReader(f *testing.F) {
	for _, in := range jsonCorpus {
		f.Add(in)
	}
	for _, in := range typedCorpus {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		compareGeneric(t, in)
		// Keys encoding/json would match case-insensitively are a documented difference.
		if !foldedKeys(in, sdkFieldNames) {
			compareTyped(t, in)
		}
	})
}

// decoded is a registered type with its own decoder.
type decoded struct {
	Meta  ObjectMeta
	Calls int
	Fail  bool
}

func (d *decoded) ObjectMeta() *ObjectMeta { return &d.Meta }

func (d *decoded) DecodeJSON(r *JSONReader) error {
	d.Calls++
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.ObjectMeta(&d.Meta)
		case "fail":
			d.Fail = r.Bool()
		default:
			r.Skip()
		}
	})
	if d.Fail {
		return errors.New("decoder says no")
	}
	return nil
}

// The cache decodes a JSONDecoder with DecodeJSON, checks what follows, and reports
// errors; other types still go through encoding/json.
func TestCacheJSONDecoder(t *testing.T) {
	k := GVK{Version: "v1", Kind: "Thing"}
	plain := GVK{Version: "v1", Kind: "Plain"}
	c := NewCache(map[GVK]func() any{
		k:     func() any { return new(decoded) },
		plain: func() any { return new(map[string]any) },
	})
	if err := c.Apply(FeedEvent{Type: Added, Kind: k, Object: []byte(`{"metadata":{"name":"a","namespace":"ns","labels":{"x":"y"}},"spec":{}}`)}); err != nil {
		t.Fatal(err)
	}
	o := c.Get(k, "ns", "a")
	if o == nil || o.Value.(*decoded).Calls != 1 || o.Meta.Labels["x"] != "y" {
		t.Fatalf("cached %+v", o)
	}
	if err := c.Apply(FeedEvent{Type: Added, Kind: plain, Object: []byte(`{"metadata":{"name":"p"},"Other":1}`)}); err != nil {
		t.Fatal(err)
	}
	if o := c.Get(plain, "", "p"); o == nil || (*o.Value.(*map[string]any))["Other"] != 1.0 {
		t.Fatalf("plain %+v", o)
	}
	for in, want := range map[string]string{
		`{"metadata":{"name":"b"}} {}`:            "sdk: feed: v1, Kind=Thing: json: data after the value at offset 26",
		`{"metadata":{"name":"b"}`:                "json: expected ',' or '}' after an object member at offset 24",
		`{"metadata":{"name":"b"},"fail":true}`:   "decoder says no",
		`{"metadata":{"name":"b"},"fail":"true"}`: "json: expected a boolean at offset 32",
	} {
		err := c.Apply(FeedEvent{Type: Added, Kind: k, Object: []byte(in)})
		if err == nil || !strings.HasSuffix(err.Error(), want) && err.Error() != want {
			t.Errorf("%s: error %v, want %s", in, err, want)
		}
	}
	if c.Len(k) != 1 {
		t.Errorf("failed decodes were cached: %d", c.Len(k))
	}
}
