package core

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeCorpus is JSON, well-formed and not, that the decoders must handle without
// panicking. It seeds FuzzDecoders.
var decodeCorpus = []string{
	`{}`, `[]`, `null`, `{"a":1,"b":[true,false,null,"x"],"c":{"d":-1.5e3}}`, ` { "sp" : [ 1 , 2 ] } `,
	`"esc\"aped\\\/\b\f\n\r\t"`, `"\u00e9\u2028\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\udc00\ud83d\ude00"`, `"ünïcode"`,
	`{"a":{"a":{"a":[[[[]]]]}}}`, `{"dup":1,"dup":2}`, `[0,-0,1e5,1E-5,123456789012]`,
	`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`,
	`{"metadata":{"name":"s","annotations":{"kubernetes.io/service-account.name":"sa"}},"data":{"k":"dg=="},"stringData":{"a":"b"},"type":"Opaque","immutable":true}`,
	// Malformed: must fail, never panic.
	``, `{`, `[`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `"unterminated`, `"bad\escape"`, `"\u12"`, `{"a":1}}`, `tru`, `nul`,
	`01x`, `-`, `{"a":1 "b":2}`, `[1 2]`, "\"ctl\x01\"", `{1:2}`, `"\`,
}

// The decoders accept only what encoding/json accepts, however deep the fault: every
// member is read or skipped, and skipping checks. The numbers below were accepted by
// the plugin's own reader before it moved to sdk.JSONReader.
func TestDecodersRejectMalformedJSON(t *testing.T) {
	bad := []string{
		`{"spec":{"priority":01}}`, `{"spec":{"unknown":01}}`, `{"x":1.}`, `{"x":-.5}`, `{"x":[1,]}`, "{}\x00",
		`{"spec":{"containers":[{"ports":[{"containerPort":80.5}]}]}}`, `{"spec":{"hostNetwork":"true"}}`,
		`{"spec":{"containers":[{"name":1}]}}`, `{"metadata":{"name":"\x"}}`, `{"spec":{"dnsConfig":{"a":}}}`,
	}
	for _, in := range append(bad, decodeCorpus...) {
		if json.Valid([]byte(in)) {
			continue
		}
		if _, _, _, err := decodePod([]byte(in)); err == nil {
			t.Errorf("decodePod(%q) accepted malformed JSON", in)
		}
		var o dataObject
		if err := decodeData([]byte(in), &o); err == nil {
			t.Errorf("decodeData(%q) accepted malformed JSON", in)
		}
	}
	for _, in := range bad[6:9] { // well-formed, but the wrong type for the field
		if _, _, _, err := decodePod([]byte(in)); err == nil {
			t.Errorf("decodePod(%q) accepted a mistyped field", in)
		}
	}
}

// Null leaves a scalar as it was, sets a pointer to nil and a present field to false,
// as encoding/json does; a repeated key replaces.
func TestDecodePodNullsAndRepeats(t *testing.T) {
	in := `{"metadata":{"name":"a","name":null},
	 "spec" :  {"restartPolicy":"Never","restartPolicy":null,"priority":5,"priority":null,
	  "hostNetwork":true,"hostNetwork":null,"activeDeadlineSeconds":7,
	  "dnsConfig":{},"securityContext":null,
	  "containers":[{"name":"x"}],"containers":[{"name":"c","ports":[{"containerPort":80,"containerPort":null}],
	   "resources":{"limits":{"cpu":"1","cpu":"2","memory":1e3}}}]} }`
	name, spec, raw, err := decodePod([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if name != "a" || spec.RestartPolicy != "Never" || spec.Priority != nil || !spec.HostNetwork ||
		spec.ActiveDeadlineSeconds == nil || *spec.ActiveDeadlineSeconds != 7 || !bool(spec.DNSConfig) || bool(spec.SecurityContext) {
		t.Errorf("decoded %q, %+v", name, spec)
	}
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "c" || spec.Containers[0].Ports[0].ContainerPort != 80 {
		t.Errorf("containers %+v", spec.Containers)
	}
	want := rawList{{"cpu", []byte(`"2"`)}, {"memory", []byte(`1e3`)}}
	if got := spec.Containers[0].Resources.Limits; !reflect.DeepEqual(got, want) {
		t.Errorf("limits %q, want %q", got, want)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil || raw[0] != '{' || raw[len(raw)-1] != '}' {
		t.Errorf("raw spec %q: %v", raw, err)
	}
	if _, spec, raw, err := decodePod([]byte(`{"spec":{"restartPolicy":"Always"},"spec":null}`)); err != nil || spec != nil || raw != nil {
		t.Errorf("null spec: %+v %q %v", spec, raw, err)
	}
}

// Strings are unescaped as encoding/json unescapes them, keys included.
func TestDecodeDataStrings(t *testing.T) {
	in := `{"metadata":{"name":"\u006e\u00e9"},"data":{"k\u0031":"\ud83d\ude00","bad":"\ud83dx","raw":"` + "\xff" + `"},"data":{"k\u0031":"v"},"immutable":false}`
	var o dataObject
	if err := decodeData([]byte(in), &o); err != nil {
		t.Fatal(err)
	}
	var want struct {
		Metadata struct{ Name string }
		Data     map[string]string
	}
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	// encoding/json adds to the map on a repeated key; the decoder replaces it, as
	// it always has.
	if o.Name != want.Metadata.Name || !reflect.DeepEqual(o.Data, map[string]string{"k1": "v"}) || o.Immutable == nil || *o.Immutable {
		t.Errorf("decoded %+v", o)
	}
	if err := decodeData([]byte(`{"data":{"a":"\ud83dx","b":"`+"\xff"+`"}}`), &o); err != nil || o.Data["a"] != "\ufffdx" || o.Data["b"] != "\ufffd" {
		t.Errorf("decoded %q, %v", o.Data, err)
	}
}

func FuzzDecoders(f *testing.F) {
	for _, in := range decodeCorpus {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		valid := json.Valid([]byte(in))
		_, _, raw, err := decodePod([]byte(in))
		if err == nil && !valid {
			t.Fatalf("decodePod accepted malformed %q", in)
		}
		if err == nil && raw != nil {
			for _, grace := range []bool{false, true} {
				if out, err := stripSpec(raw, grace); err != nil || !json.Valid(out) {
					t.Fatalf("stripSpec(%q) = %q, %v", raw, out, err)
				}
			}
		}
		var o dataObject
		if err := decodeData([]byte(in), &o); err == nil && !valid {
			t.Fatalf("decodeData accepted malformed %q", in)
		}
		hasMember([]byte(in), "status")
		rawQuantity([]byte(in))
	})
}
