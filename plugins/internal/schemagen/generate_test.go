package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCheckedInFilesAreUpToDate regenerates everything into a temporary
// directory and compares it with the checked-in files, so that a change to
// the generator, the kind list or the k8s.io/api version in go.mod cannot
// go unnoticed. Run `go generate ./plugins/core/schemas ./plugins/apps` to fix
// a failure.
func TestCheckedInFilesAreUpToDate(t *testing.T) {
	tmp := t.TempDir()
	kindsTmp, metaTmp, appsTmp := filepath.Join(tmp, "kinds"), filepath.Join(tmp, "meta"), filepath.Join(tmp, "apps")
	if err := run(kindsTmp, metaTmp, appsTmp); err != nil {
		t.Fatal(err)
	}
	for _, dirs := range [][2]string{
		{kindsTmp, filepath.Join("..", "..", "core", "schemas")},
		{metaTmp, filepath.Join("..", "..", "..", "kernel", "schema", "generated")},
		{appsTmp, filepath.Join("..", "..", "apps", "schemas")},
	} {
		want, got := jsonFiles(t, dirs[0]), jsonFiles(t, dirs[1])
		if !slices.Equal(sortedKeys(want), sortedKeys(got)) {
			t.Errorf("%s holds %v, the generator makes %v", dirs[1], sortedKeys(got), sortedKeys(want))
		}
		for name, data := range want {
			if !bytes.Equal(data, got[name]) {
				t.Errorf("%s is stale; run go generate ./plugins/core/schemas ./plugins/apps", filepath.Join(dirs[1], name))
			}
		}
	}
}

func jsonFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs of the generator differ")
	}
}

func TestDescription(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"joins lines", []string{"A pod is", "a group."}, "A pod is a group."},
		{"keeps paragraphs", []string{"One.", "", "Two."}, "One.\n\nTwo."},
		{"drops markers and TODOs", []string{"Text.", "+optional", "TODO: later", "+listType=map"}, "Text."},
		{"stops at ---", []string{"Public.", "---", "Private."}, "Public."},
		{"keeps indented lines", []string{"Example:", "  a: b", "End."}, "Example:\n  a: b\nEnd."},
	}
	for _, tc := range tests {
		if got := description(tc.lines); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMarkers(t *testing.T) {
	m := parseMarkers([]string{"Doc.", "+optional", "+listType=map", "+listMapKey=a", "+listMapKey=b", `+default="TCP"`, "+k8s:listType=set"})
	if !m.has("optional") || m.has("required") {
		t.Error("+optional not recognised")
	}
	if v, _ := m.first("listType", "k8s:listType"); v != "map" {
		t.Errorf("classic +listType should win, got %q", v)
	}
	if !slices.Equal(m["listMapKey"], []string{"a", "b"}) {
		t.Errorf("listMapKey = %v", m["listMapKey"])
	}
	if v, _ := m.last("default"); v != `"TCP"` {
		t.Errorf("default = %q", v)
	}
}

func TestJSONNameAndOptional(t *testing.T) {
	type embedded struct{ X string }
	type sample struct {
		metav1.TypeMeta `json:",inline"`
		embedded
		Named     string `json:"named"`
		Omit      string `json:"omit,omitempty"`
		Skipped   string `json:"-"`
		NoTag     string
		unexposed string
	}
	st := reflect.TypeFor[sample]()
	tests := []struct {
		field    string
		name     string
		skip     bool
		optional bool
	}{
		{"TypeMeta", "", false, false},
		{"embedded", "", false, false},
		{"Named", "named", false, false},
		{"Omit", "omit", false, true},
		{"Skipped", "", true, false},
		{"NoTag", "NoTag", false, false},
		{"unexposed", "", true, false},
	}
	for _, tc := range tests {
		f, _ := st.FieldByName(tc.field)
		name, opts, skip := jsonName(f)
		if name != tc.name || skip != tc.skip {
			t.Errorf("%s: got (%q, skip %v), want (%q, skip %v)", tc.field, name, skip, tc.name, tc.skip)
		}
		if !skip && name != "" && isOptional(markers{}, opts) != tc.optional {
			t.Errorf("%s: optional = %v, want %v", tc.field, !tc.optional, tc.optional)
		}
	}
	if !isOptional(markers{"optional": {""}}, nil) || isOptional(markers{"required": {""}}, []string{"omitempty"}) {
		t.Error("+optional and +required must override omitempty")
	}
}

func TestDefinitionName(t *testing.T) {
	if got := definitionName(reflect.TypeFor[metav1.ObjectMeta]()); got != "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" {
		t.Errorf("got %s", got)
	}
	if got := definitionName(reflect.TypeFor[corev1.Pod]()); got != "io.k8s.api.core.v1.Pod" {
		t.Errorf("got %s", got)
	}
}

func TestFileName(t *testing.T) {
	if got := fileName("", "v1", "Pod"); got != "core_v1_Pod.json" {
		t.Errorf("got %s", got)
	}
	if got := fileName("networking.k8s.io", "v1", "Ingress"); got != "networking.k8s.io_v1_Ingress.json" {
		t.Errorf("got %s", got)
	}
}

// A type whose JSON is not its Go shape must be mapped by hand; the
// generator must refuse rather than guess.
type customJSON struct{ A int }

func (customJSON) MarshalJSON() ([]byte, error) { return []byte(`"x"`), nil }

func TestRefusesUnknownCustomJSON(t *testing.T) {
	type holder struct {
		C customJSON `json:"c"`
	}
	if _, err := newBuilder(docIndex{}, false).structSchema(reflect.TypeFor[holder](), false); err == nil {
		t.Error("a custom-marshalled type was given a schema from its Go fields")
	}
}
