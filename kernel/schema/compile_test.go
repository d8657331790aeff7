package schema_test

import (
	"errors"
	"strings"
	"testing"

	"weft.dev/weft/kernel/schema"
)

func TestCompileRejectsNonStructural(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   string // a substring of the error
	}{
		{
			name:   "root is not an object",
			schema: `{"type": "string"}`,
			want:   `openAPIV3Schema.type: Invalid value: "string": must be object at the root`,
		},
		{
			name:   "property without type",
			schema: `{"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}}`,
			want:   `openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields`,
		},
		{
			name:   "items without type",
			schema: `{"type": "object", "properties": {"l": {"type": "array", "items": {}}}}`,
			want:   `openAPIV3Schema.properties[l].items.type: Required value: must not be empty for specified array items`,
		},
		{
			name:   "$ref",
			schema: `{"type": "object", "properties": {"spec": {"$ref": "#/components/schemas/Spec"}}}`,
			want:   `$ref is not supported`,
		},
		{
			name:   "array without items",
			schema: `{"type": "object", "properties": {"l": {"type": "array"}}}`,
			want:   `openAPIV3Schema.properties[l].items: Required value: must be specified`,
		},
		{
			name:   "items on a string",
			schema: `{"type": "object", "properties": {"s": {"type": "string", "items": {"type": "string"}}}}`,
			want:   `properties[s].items: Forbidden: must only be used with type array`,
		},
		{
			name:   "properties and additionalProperties",
			schema: `{"type": "object", "properties": {"m": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}}}`,
			want:   `additionalProperties and properties are mutual exclusive`,
		},
		{
			name:   "additionalProperties false",
			schema: `{"type": "object", "properties": {"m": {"type": "object", "additionalProperties": false}}}`,
			want:   `properties[m].additionalProperties: Forbidden: must not be false`,
		},
		{
			name:   "additionalProperties at the root",
			schema: `{"type": "object", "additionalProperties": {"type": "string"}}`,
			want:   `openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root`,
		},
		{
			name:   "metadata beyond name and generateName",
			schema: `{"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}`,
			want:   `must not specify anything other than name and generateName`,
		},
		{
			name:   "apiVersion that is not a string",
			schema: `{"type": "object", "properties": {"apiVersion": {"type": "integer"}}}`,
			want:   `properties[apiVersion].type: Invalid value: "integer": must be string`,
		},
		{
			name:   "two types",
			schema: `{"type": "object", "properties": {"x": {"type": ["string", "integer"]}}}`,
			want:   `must be a single type`,
		},
		{
			name:   "int-or-string that preserves unknown fields",
			schema: `{"type": "object", "properties": {"x": {"x-kubernetes-int-or-string": true, "x-kubernetes-preserve-unknown-fields": true}}}`,
			want:   `must be false if x-kubernetes-int-or-string is true`,
		},
		{
			name:   "embedded resource that is not an object",
			schema: `{"type": "object", "properties": {"x": {"type": "string", "x-kubernetes-embedded-resource": true}}}`,
			want:   `must be object if x-kubernetes-embedded-resource is true`,
		},
		{
			name:   "list-type map without keys",
			schema: `{"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}`,
			want:   `x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map`,
		},
		{
			name:   "list-map key that is not a property",
			schema: `{"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"], "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}`,
			want:   `entries must all be names of item properties`,
		},
		{
			name:   "list-map keys without list-type map",
			schema: `{"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}`,
			want:   `must be map if x-kubernetes-list-map-keys is non-empty`,
		},
		{
			name:   "set of granular objects",
			schema: `{"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}}`,
			want:   `must be atomic as item of a list with x-kubernetes-list-type=set`,
		},
		{
			name:   "unknown list type",
			schema: `{"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "bag", "items": {"type": "string"}}}}`,
			want:   `x-kubernetes-list-type: Unsupported value: "bag"`,
		},
		{
			name:   "map type on an array",
			schema: `{"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-map-type": "atomic", "items": {"type": "string"}}}}`,
			want:   `must be object if x-kubernetes-map-type is specified`,
		},
		{
			name:   "type inside anyOf",
			schema: `{"type": "object", "properties": {"x": {"type": "string", "anyOf": [{"type": "string"}]}}}`,
			want:   `properties[x].anyOf[0].type: Forbidden: must be empty to be structural`,
		},
		{
			name:   "junctor property not specified outside",
			schema: `{"type": "object", "properties": {"x": {"type": "object", "anyOf": [{"properties": {"y": {"minLength": 1}}}]}}}`,
			want:   `properties[x].anyOf[0].properties[y]: Required value: must be specified outside`,
		},
		{
			name:   "bad pattern",
			schema: `{"type": "object", "properties": {"x": {"type": "string", "pattern": "("}}}`,
			want:   `must be a valid regular expression`,
		},
		{
			name:   "default that does not validate",
			schema: `{"type": "object", "properties": {"x": {"type": "integer", "maximum": 3, "default": 5}}}`,
			want:   `openAPIV3Schema.properties[x].default: Invalid value: 5: default: Invalid value: 5: default in body should be less than or equal to 3`,
		},
		{
			name:   "default with fields pruning would drop",
			schema: `{"type": "object", "properties": {"x": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "1", "b": "2"}}}}`,
			want:   `must not have fields the schema prunes: b`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schema.Compile(mustSchema(t, tc.schema))
			if err == nil {
				t.Fatalf("Compile accepted a schema it must reject (want %q)", tc.want)
			}
			if !errors.Is(err, schema.ErrNotStructural) {
				t.Errorf("error does not wrap ErrNotStructural: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\ndoes not contain\n  %s", err, tc.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	tests := []struct {
		name   string
		schema string
	}{
		{"empty object", `{"type": "object"}`},
		{"int-or-string idiom", `{"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}}`},
		{"int-or-string idiom in allOf", `{"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true, "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^[0-9a-z]+$"}]}}}`},
		{"preserve-unknown without type", `{"type": "object", "properties": {"any": {"x-kubernetes-preserve-unknown-fields": true}}}`},
		{"name rule", `{"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "generateName": {"type": "string", "maxLength": 4}}}}}`},
		{"embedded resource", `{"type": "object", "properties": {"t": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}`},
		{"set of atomic objects", `{"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"a": {"type": "string"}}}}}}`},
		{"valid nested default", `{"type": "object", "properties": {"s": {"type": "object", "default": {}, "properties": {"t": {"type": "string", "default": "x"}}}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := schema.Compile(mustSchema(t, tc.schema)); err != nil {
				t.Errorf("Compile: %v", err)
			}
		})
	}
}

func TestCompileAddsObjectFields(t *testing.T) {
	in := mustSchema(t, `{"type": "object", "properties": {
		"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}}},
		"spec": {"type": "object", "properties": {"template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}}}}}`)
	before := toJSON(t, in)
	s, err := schema.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	if toJSON(t, in) != before {
		t.Error("Compile modified its input")
	}
	full := s.Schema()
	for _, k := range []string{"apiVersion", "kind"} {
		if got := full.Properties[k].Type; len(got) != 1 || got[0] != "string" {
			t.Errorf("%s: type %v, want string", k, got)
		}
	}
	meta := full.Properties["metadata"]
	for _, k := range []string{"name", "namespace", "labels", "annotations", "ownerReferences", "managedFields", "finalizers"} {
		if _, ok := meta.Properties[k]; !ok {
			t.Errorf("metadata.%s missing from the compiled schema", k)
		}
	}
	if ml := meta.Properties["name"].MaxLength; ml == nil || *ml != 8 {
		t.Errorf("metadata.name should carry the kind's maxLength 8, got %v", ml)
	}
	tmpl := full.Properties["spec"].Properties["template"]
	for _, k := range []string{"apiVersion", "kind", "metadata", "spec"} {
		if _, ok := tmpl.Properties[k]; !ok {
			t.Errorf("embedded resource lacks %s", k)
		}
	}
}

func TestCompileNil(t *testing.T) {
	if _, err := schema.Compile(nil); !errors.Is(err, schema.ErrNotStructural) {
		t.Errorf("Compile(nil) = %v, want ErrNotStructural", err)
	}
}
