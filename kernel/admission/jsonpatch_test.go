package admission

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	sigsjson "sigs.k8s.io/json"

	"weft.dev/weft/plugins/core"
	"weft.dev/weft/sdk"
)

func decodeDoc(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestJSONPatch runs the examples of RFC 6902's appendix A and a few of the negative
// indices evanphx/json-patch accepts.
func TestJSONPatch(t *testing.T) {
	for _, tc := range []struct {
		name, doc, patch, want string // want "" means an error
	}{
		{"A.1 add member", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`, `{"baz":"qux","foo":"bar"}`},
		{"A.2 add element", `{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`, `{"foo":["bar","qux","baz"]}`},
		{"A.3 remove member", `{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`, `{"foo":"bar"}`},
		{"A.4 remove element", `{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`, `{"foo":["bar","baz"]}`},
		{"A.5 replace", `{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`, `{"baz":"boo","foo":"bar"}`},
		{"A.6 move member", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`, `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`, `{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`},
		{"A.7 move element", `{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`, `{"foo":["all","cows","eat","grass"]}`},
		{"A.8 test success", `{"baz":"qux","foo":["a",2,"c"]}`, `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`, `{"baz":"qux","foo":["a",2,"c"]}`},
		{"A.9 test failure", `{"baz":"qux"}`, `[{"op":"test","path":"/baz","value":"bar"}]`, ``},
		{"A.10 add nested member", `{"foo":"bar"}`, `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`, `{"child":{"grandchild":{}},"foo":"bar"}`},
		{"A.11 ignore unknown members", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux","xyz":123}]`, `{"baz":"qux","foo":"bar"}`},
		{"A.12 add to nonexistent target", `{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`, ``},
		{"A.14 escape ordering", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10}]`, `{"/":9,"~1":10}`},
		{"A.15 string is not a number", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":"10"}]`, ``},
		{"A.16 add array value", `{"foo":["bar"]}`, `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`, `{"foo":["bar",["abc","def"]]}`},
		{"copy", `{"a":{"b":[1]}}`, `[{"op":"copy","from":"/a","path":"/c"},{"op":"add","path":"/c/b/-","value":2}]`, `{"a":{"b":[1]},"c":{"b":[1,2]}}`},
		{"null value", `{"a":1}`, `[{"op":"add","path":"/b","value":null}]`, `{"a":1,"b":null}`},
		{"no value", `{"a":1}`, `[{"op":"add","path":"/b"}]`, ``},
		{"replace missing", `{"a":1}`, `[{"op":"replace","path":"/b","value":2}]`, ``},
		{"remove missing", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, ``},
		{"index past the end", `{"a":[1]}`, `[{"op":"add","path":"/a/2","value":2}]`, ``},
		{"insert at the end", `{"a":[1]}`, `[{"op":"add","path":"/a/1","value":2}]`, `{"a":[1,2]}`},
		{"negative index", `{"a":[1,2,3]}`, `[{"op":"replace","path":"/a/-1","value":9},{"op":"remove","path":"/a/-3"}]`, `{"a":[2,9]}`},
		{"move into own child", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/c"}]`, ``},
		{"move to itself", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":{"b":1}}`},
		{"unknown op", `{"a":1}`, `[{"op":"frob","path":"/a"}]`, ``},
		{"not a patch", `{"a":1}`, `{"op":"add"}`, ``},
		{"replace the root", `{"a":1}`, `[{"op":"replace","path":"","value":{"b":2}}]`, `{"b":2}`},
		{"root becomes an array", `{"a":1}`, `[{"op":"replace","path":"","value":[1]}]`, ``},
		{"integer equals float", `{"a":2}`, `[{"op":"test","path":"/a","value":2.0}]`, `{"a":2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyJSONPatch(decodeDoc(t, tc.doc), []byte(tc.patch))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("applied: %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := decodeDoc(t, tc.want); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

// FuzzJSONPatchMatchesEvanphx applies the same patch to the same object with
// evanphx/json-patch, the library the kernel used before, and fails when one applies
// it and the other does not, or the results differ.
func FuzzJSONPatchMatchesEvanphx(f *testing.F) {
	doc := `{"a":{"b":[1,2,{"c":"d"}],"e":"f"},"g":[],"h":null,"~i/":1}`
	for _, p := range []string{
		`[{"op":"add","path":"/a/b/1","value":{"x":1}}]`,
		`[{"op":"remove","path":"/a/b/-1"},{"op":"copy","from":"/a","path":"/g/0"}]`,
		`[{"op":"move","from":"/a/b","path":"/g/-"}]`,
		`[{"op":"replace","path":"/~0i~1","value":[]},{"op":"test","path":"/h","value":null}]`,
		`[{"op":"add","path":"/a/b/-4","value":0}]`,
		`[{"op":"remove","path":"/a/e"},{"op":"add","path":"/a/e/x","value":1}]`,
	} {
		f.Add(doc, p)
	}
	f.Fuzz(func(t *testing.T, doc, patch string) {
		var m map[string]any
		if sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(doc), &m) != nil || m == nil {
			return
		}
		var ops []map[string]any
		if sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(patch), &ops) != nil {
			return
		}
		for _, op := range ops {
			switch op["op"] {
			case "test":
				// evanphx compares numbers by their text; this compares them by value.
				return
			}
			path, _ := op["path"].(string)
			if from, ok := op["from"].(string); path == "" || ok && from == "" {
				// The whole document, by RFC 6901; evanphx reads it as the member ""
				// in some operations, and as the document before the patch in others.
				return
			}
			for _, k := range []string{"path", "from"} {
				if s, ok := op[k].(string); ok && hasOddToken(s) {
					return
				}
			}
		}
		canonical, _ := json.Marshal(m)
		var want map[string]any
		p, derr := jsonpatch.DecodePatch([]byte(patch))
		var out []byte
		var aerr error
		if derr == nil {
			out, aerr = p.Apply(canonical)
			if aerr == nil && sigsjson.UnmarshalCaseSensitivePreserveInts(out, &want) != nil {
				return // evanphx produced something that is not an object
			}
		}
		got, err := applyJSONPatch(m, []byte(patch))
		switch {
		case derr != nil || aerr != nil:
			if err == nil {
				t.Fatalf("applied %s to %s: %v; evanphx: %v %v", patch, canonical, got, derr, aerr)
			}
		case err != nil:
			t.Fatalf("%s on %s: %v; evanphx applied it: %s", patch, canonical, err, out)
		case !reflect.DeepEqual(got, want):
			t.Fatalf("%s on %s:\n got %v\nwant %v", patch, canonical, got, want)
		}
	})
}

// hasOddToken reports whether the two read a pointer differently: one that does not
// start with "/" (evanphx drops its first token), or one with a token that is empty
// or that strconv.Atoi reads as a number but RFC 6901 does not (a sign or a leading
// zero).
func hasOddToken(p string) bool {
	toks, err := pointer(p)
	if err != nil {
		return true
	}
	for _, t := range toks {
		if t == "" || len(t) > 1 && (t[0] == '+' || t[0] == '0' || t[0] == '-' && t[1] == '0') {
			return true
		}
	}
	return false
}

// BenchmarkPodDefaultsPatch applies the core plugin's defaulting patch for a small pod
// as the pipeline does (the object's JSON in, the decoded object out): "weft" decodes
// the JSON and patches the decoded object, "evanphx" patches the JSON with
// evanphx/json-patch and decodes the result, as the kernel did before.
func BenchmarkPodDefaultsPatch(b *testing.B) {
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"bench"},"name":"p","namespace":"default"},"spec":{"containers":[{"image":"localhost/busybox:latest","name":"c","resources":{"requests":{"cpu":"100m"}}}]}}`)
	_, h := core.Plugin()
	resp := h.Admitter.Admit(sdk.NewClient(nil, nil), sdk.AdmissionRequest{Hook: core.HookPodDefaults, Operation: "CREATE",
		Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Namespace: "default", Object: pod})
	if len(resp.Patch) == 0 {
		b.Fatal("no defaulting patch")
	}
	b.Run("weft", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var obj map[string]any
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(pod, &obj); err != nil {
				b.Fatal(err)
			}
			if _, err := applyJSONPatch(obj, resp.Patch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("evanphx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := jsonpatch.DecodePatch(resp.Patch)
			if err != nil {
				b.Fatal(err)
			}
			out, err := p.Apply(pod)
			if err != nil {
				b.Fatal(err)
			}
			var obj map[string]any
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(out, &obj); err != nil {
				b.Fatal(err)
			}
		}
	})
}
