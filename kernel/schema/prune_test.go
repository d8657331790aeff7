package schema_test

import (
	"strings"
	"testing"
)

const pruneSchema = `{
  "type": "object",
  "properties": {
    "spec": {
      "type": "object",
      "properties": {
        "containers": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "byName": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}}},
        "raw": {
          "type": "object",
          "x-kubernetes-preserve-unknown-fields": true,
          "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}
        },
        "template": {
          "type": "object",
          "x-kubernetes-embedded-resource": true,
          "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}
        },
        "anything": {"type": "object", "additionalProperties": true},
        "flag": {"type": "boolean"},
        "opt": {"type": "string", "nullable": true},
        "mode": {"type": "string", "default": "auto"}
      }
    }
  }
}`

func TestPrune(t *testing.T) {
	s := mustCompile(t, pruneSchema)
	tests := []struct {
		name       string
		in, out    string
		wantPruned []string
	}{
		{
			name: "known fields stay",
			in:   `{"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}`,
			out:  `{"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}`,
		},
		{
			name:       "unknown fields anywhere",
			in:         `{"foo": 1, "metadata": {"baz": 2}, "spec": {"foo": 3, "containers": [{"name": "c"}, {"name": "d", "bar": 4}]}}`,
			out:        `{"metadata": {}, "spec": {"containers": [{"name": "c"}, {"name": "d"}]}}`,
			wantPruned: []string{"foo", "metadata.baz", "spec.containers[1].bar", "spec.foo"},
		},
		{
			name:       "additionalProperties values",
			in:         `{"spec": {"byName": {"x": {"v": "1", "w": "2"}}}}`,
			out:        `{"spec": {"byName": {"x": {"v": "1"}}}}`,
			wantPruned: []string{"spec.byName.x.w"},
		},
		{
			name:       "preserve-unknown-fields keeps unknown fields but prunes known ones",
			in:         `{"spec": {"raw": {"free": {"form": [1]}, "known": {"a": "x", "b": "y"}}}}`,
			out:        `{"spec": {"raw": {"free": {"form": [1]}, "known": {"a": "x"}}}}`,
			wantPruned: []string{"spec.raw.known.b"},
		},
		{
			name:       "embedded resource",
			in:         `{"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "bogus": 1}, "spec": {"x": "y", "z": 1}, "extra": true}}}`,
			out:        `{"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "y"}}}}`,
			wantPruned: []string{"spec.template.extra", "spec.template.metadata.bogus", "spec.template.spec.z"},
		},
		{
			name: "additionalProperties true keeps values whole",
			in:   `{"spec": {"anything": {"a": {"b": [1, {"c": 2}]}}}}`,
			out:  `{"spec": {"anything": {"a": {"b": [1, {"c": 2}]}}}}`,
		},
		{
			name: "nulls: dropped unless nullable or defaulted",
			in:   `{"spec": {"flag": null, "opt": null, "mode": null}}`,
			out:  `{"spec": {"opt": null, "mode": null}}`,
		},
		{
			name: "managed fields content is opaque",
			in:   `{"metadata": {"managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}]}}`,
			out:  `{"metadata": {"managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}]}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := mustObject(t, tc.in)
			pruned := s.Prune(obj)
			if got, want := toJSON(t, obj), canonical(t, tc.out); got != want {
				t.Errorf("object after Prune:\n got: %s\nwant: %s", got, want)
			}
			if strings.Join(pruned, ",") != strings.Join(tc.wantPruned, ",") {
				t.Errorf("pruned paths: got %q, want %q", pruned, tc.wantPruned)
			}
		})
	}
}
