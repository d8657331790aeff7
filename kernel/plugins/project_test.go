package plugins

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestProject(t *testing.T) {
	const src = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","managedFields":[{"manager":"m"}],"labels":{"a":"b"}},
		"spec":{"nodeName":"n1","containers":[{"name":"c"}]},"status":{"phase":"Running","podIP":"10.0.0.1"}}`
	cases := []struct {
		name  string
		paths []string
		want  string
	}{
		{"whole object", nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"a":"b"},"name":"p"},"spec":{"containers":[{"name":"c"}],"nodeName":"n1"},"status":{"phase":"Running","podIP":"10.0.0.1"}}`},
		{"scheduler's", []string{".spec", ".status.phase"}, `{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"a":"b"},"name":"p"},"spec":{"containers":[{"name":"c"}],"nodeName":"n1"},"status":{"phase":"Running"}}`},
		{"a field and its parent", []string{".spec", ".spec.nodeName", ".status.podIP", ".status.phase"}, `{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"a":"b"},"name":"p"},"spec":{"containers":[{"name":"c"}],"nodeName":"n1"},"status":{"phase":"Running","podIP":"10.0.0.1"}}`},
		{"missing field", []string{".spec.nodeName", ".status.hostIP"}, `{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"a":"b"},"name":"p"},"spec":{"nodeName":"n1"}}`},
		{"metadata path", []string{".metadata.labels"}, `{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"a":"b"},"name":"p"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var obj map[string]any
			if err := json.Unmarshal([]byte(src), &obj); err != nil {
				t.Fatal(err)
			}
			before, _ := json.Marshal(obj)
			var paths [][]string
			for _, p := range tc.paths {
				paths = append(paths, strings.Split(strings.TrimPrefix(p, "."), "."))
			}
			got, _ := json.Marshal(project(obj, paths))
			if string(got) != tc.want {
				t.Fatalf("projected\n%s\nwant\n%s", got, tc.want)
			}
			if after, _ := json.Marshal(obj); string(after) != string(before) {
				t.Fatalf("the watched object changed:\n%s", after)
			}
		})
	}
}
