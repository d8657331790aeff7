package schema_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

const patchSchema = `{
  "type": "object",
  "properties": {
    "spec": {
      "type": "object",
      "properties": {
        "items": {
          "type": "array",
          "x-kubernetes-patch-strategy": "merge",
          "x-kubernetes-patch-merge-key": "name",
          "items": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}
        },
        "finalizers": {"type": "array", "x-kubernetes-patch-strategy": "merge", "items": {"type": "string"}},
        "replaced": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "strategy": {
          "type": "object",
          "x-kubernetes-patch-strategy": "retainKeys",
          "properties": {"type": {"type": "string"}, "rolling": {"type": "object", "properties": {"max": {"type": "integer"}}}}
        },
        "byName": {
          "type": "object",
          "additionalProperties": {
            "type": "object",
            "properties": {"entries": {"type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "k",
              "items": {"type": "object", "properties": {"k": {"type": "string"}, "v": {"type": "string"}}}}}
          }
        },
        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
      }
    }
  }
}`

func TestPatchMetaStrategicMerge(t *testing.T) {
	s := mustCompile(t, patchSchema)
	tests := []struct {
		name, original, patch, want string
	}{
		{
			name:     "merge list by key",
			original: `{"spec": {"items": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]}}`,
			patch:    `{"spec": {"items": [{"name": "b", "value": "3"}, {"name": "c", "value": "4"}]}}`,
			want:     `{"spec": {"items": [{"name": "a", "value": "1"}, {"name": "b", "value": "3"}, {"name": "c", "value": "4"}]}}`,
		},
		{
			name:     "$patch: delete removes one element",
			original: `{"spec": {"items": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]}}`,
			patch:    `{"spec": {"items": [{"name": "a", "$patch": "delete"}]}}`,
			want:     `{"spec": {"items": [{"name": "b", "value": "2"}]}}`,
		},
		{
			name:     "merge list of primitives",
			original: `{"spec": {"finalizers": ["a"]}}`,
			patch:    `{"spec": {"finalizers": ["b"]}}`,
			want:     `{"spec": {"finalizers": ["b", "a"]}}`, // SMP's own ordering rules
		},
		{
			name:     "lists without a strategy are replaced",
			original: `{"spec": {"replaced": [{"name": "a"}]}}`,
			patch:    `{"spec": {"replaced": [{"name": "b"}]}}`,
			want:     `{"spec": {"replaced": [{"name": "b"}]}}`,
		},
		{
			name:     "retainKeys clears what the patch does not keep",
			original: `{"spec": {"strategy": {"type": "RollingUpdate", "rolling": {"max": 1}}}}`,
			patch:    `{"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}`,
			want:     `{"spec": {"strategy": {"type": "Recreate"}}}`,
		},
		{
			name:     "into additionalProperties values",
			original: `{"spec": {"byName": {"x": {"entries": [{"k": "1", "v": "a"}]}}}}`,
			patch:    `{"spec": {"byName": {"x": {"entries": [{"k": "2", "v": "b"}]}}}}`,
			want:     `{"spec": {"byName": {"x": {"entries": [{"k": "2", "v": "b"}, {"k": "1", "v": "a"}]}}}}`,
		},
		{
			name:     "preserve-unknown-fields merges like JSON merge patch",
			original: `{"spec": {"raw": {"a": {"b": 1, "c": [1]}}}}`,
			patch:    `{"spec": {"raw": {"a": {"d": 2, "c": [2]}}}}`,
			want:     `{"spec": {"raw": {"a": {"b": 1, "c": [2], "d": 2}}}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta(
				mustObject(t, tc.original), mustObject(t, tc.patch), s.PatchMeta())
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if g, w := toJSON(t, got), canonical(t, tc.want); g != w {
				t.Errorf("\n got: %s\nwant: %s", g, w)
			}
		})
	}
}

func TestPatchMetaLookups(t *testing.T) {
	s := mustCompile(t, patchSchema)
	spec, _, err := s.PatchMeta().LookupPatchMetadataForStruct("spec")
	if err != nil {
		t.Fatal(err)
	}
	_, m, err := spec.LookupPatchMetadataForSlice("items")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.GetPatchStrategies(), ","); got != "merge" || m.GetPatchMergeKey() != "name" {
		t.Errorf("items: strategies %q, merge key %q", got, m.GetPatchMergeKey())
	}
	if _, _, err := spec.LookupPatchMetadataForStruct("nosuchfield"); err == nil || !strings.Contains(err.Error(), `"nosuchfield"`) {
		t.Errorf("unknown field: err = %v, want an error naming the field", err)
	}
	raw, _, err := spec.LookupPatchMetadataForStruct("raw")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := raw.LookupPatchMetadataForStruct("anything"); err != nil {
		t.Errorf("inside preserve-unknown-fields every key is acceptable: %v", err)
	}
}
