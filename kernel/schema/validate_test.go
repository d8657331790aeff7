package schema_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// widgetSchema exercises every kind of constraint Validate supports.
const widgetSchema = `{
  "type": "object",
  "properties": {
    "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}},
    "spec": {
      "type": "object",
      "required": ["replicas"],
      "properties": {
        "replicas": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 10},
        "ratio": {"type": "number", "multipleOf": 0.5, "maximum": 2, "exclusiveMaximum": true},
        "mode": {"type": "string", "enum": ["A", "B"]},
        "level": {"type": "integer", "enum": [1, 2]},
        "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
        "when": {"type": "string", "format": "date-time"},
        "data": {"type": "string", "format": "byte"},
        "host": {"type": "string", "format": "no-such-format"},
        "port": {"x-kubernetes-int-or-string": true},
        "cpu": {"x-kubernetes-int-or-string": true, "format": "quantity"},
        "tags": {"type": "array", "maxItems": 3, "minItems": 1, "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "ports": {
          "type": "array",
          "x-kubernetes-list-type": "map",
          "x-kubernetes-list-map-keys": ["port", "protocol"],
          "items": {"type": "object", "required": ["port"], "properties": {
            "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}
        },
        "containers": {
          "type": "array",
          "x-kubernetes-list-type": "map",
          "x-kubernetes-list-map-keys": ["name"],
          "items": {"type": "object", "properties": {"name": {"type": "string"}, "image": {"type": "string"}}}
        },
        "labels": {"type": "object", "maxProperties": 2, "minProperties": 1, "additionalProperties": {"type": "string"}},
        "opt": {"type": "string", "nullable": true},
        "flag": {"type": "boolean"},
        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "uniq": {"type": "array", "uniqueItems": true, "items": {"type": "integer"}},
        "choice": {
          "type": "object",
          "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
          "oneOf": [{"required": ["a"]}, {"required": ["b"]}]
        },
        "either": {
          "x-kubernetes-int-or-string": true,
          "anyOf": [{"type": "integer"}, {"type": "string"}],
          "not": {"enum": ["forbidden"]}
        }
      }
    }
  }
}`

func TestValidate(t *testing.T) {
	s := mustCompile(t, widgetSchema)
	tests := []struct {
		name string
		obj  string
		want []string
	}{
		{
			name: "valid",
			obj: `{"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "b"}},
			       "spec": {"replicas": 3, "ratio": 1.5, "mode": "A", "level": 2, "name": "abc",
			                "when": "2024-05-01T10:00:00Z", "data": "aGVsbG8=", "host": "anything",
			                "port": "http", "cpu": 0.5, "tags": ["a", "b"],
			                "ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}],
			                "containers": [{"name": "a"}, {"name": "b"}], "labels": {"x": "y"},
			                "opt": null, "flag": true, "raw": {"anything": [1, {"goes": true}]},
			                "uniq": [1, 2], "choice": {"a": "x"}, "either": 7, "unknown": "ignored"}}`,
		},
		{
			name: "integral float is an integer",
			obj:  `{"spec": {"replicas": 3.0}}`,
		},
		{
			name: "wrong type",
			obj:  `{"spec": {"replicas": "three"}}`,
			want: []string{`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`},
		},
		{
			name: "fraction is not an integer",
			obj:  `{"spec": {"replicas": 1.5}}`,
			want: []string{`spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number"`},
		},
		{
			name: "required",
			obj:  `{"spec": {}}`,
			want: []string{`spec.replicas: Required value`},
		},
		{
			name: "maximum and int32",
			obj:  `{"spec": {"replicas": 3000000000}}`,
			want: []string{
				`spec.replicas: Invalid value: 3000000000: spec.replicas in body must be of type int32: "3000000000"`,
				`spec.replicas: Invalid value: 3000000000: spec.replicas in body should be less than or equal to 10`,
			},
		},
		{
			name: "minimum",
			obj:  `{"spec": {"replicas": -1}}`,
			want: []string{`spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0`},
		},
		{
			name: "exclusive maximum and multipleOf",
			obj:  `{"spec": {"replicas": 1, "ratio": 2, "level": 1}}`,
			want: []string{`spec.ratio: Invalid value: 2: spec.ratio in body should be less than 2`},
		},
		{
			name: "multipleOf",
			obj:  `{"spec": {"replicas": 1, "ratio": 0.3}}`,
			want: []string{`spec.ratio: Invalid value: 0.3: spec.ratio in body should be a multiple of 0.5`},
		},
		{
			name: "enum",
			obj:  `{"spec": {"replicas": 1, "mode": "C", "level": 3}}`,
			want: []string{
				`spec.level: Unsupported value: 3: supported values: "1", "2"`,
				`spec.mode: Unsupported value: "C": supported values: "A", "B"`,
			},
		},
		{
			name: "pattern",
			obj:  `{"spec": {"replicas": 1, "name": "ABC"}}`,
			want: []string{`spec.name: Invalid value: "ABC": spec.name in body should match '^[a-z]+$'`},
		},
		{
			name: "lengths",
			obj:  `{"spec": {"replicas": 1, "name": "a"}}`,
			want: []string{`spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long`},
		},
		{
			name: "too long",
			obj:  `{"spec": {"replicas": 1, "name": "abcdefg"}}`,
			want: []string{`spec.name: Too long: may not be more than 5 bytes`},
		},
		{
			name: "formats",
			obj:  `{"spec": {"replicas": 1, "when": "yesterday", "data": "not base64!"}}`,
			want: []string{
				`spec.data: Invalid value: "not base64!": spec.data in body must be of type byte: "not base64!"`,
				`spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"`,
			},
		},
		{
			name: "int-or-string",
			obj:  `{"spec": {"replicas": 1, "port": true, "either": 1.5}}`,
			want: []string{
				`spec.either: Invalid value: "number": spec.either in body must be of type integer,string: "number"`,
				`spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"`,
			},
		},
		{
			name: "quantity",
			obj:  `{"spec": {"replicas": 1, "cpu": "lots"}}`,
			want: []string{`spec.cpu: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`},
		},
		{
			name: "list set",
			obj:  `{"spec": {"replicas": 1, "tags": ["a", "b", "a", "a"]}}`,
			want: []string{
				`spec.tags: Too many: 4: must have at most 3 items`,
				`spec.tags[2]: Duplicate value: "a"`,
			},
		},
		{
			name: "minItems",
			obj:  `{"spec": {"replicas": 1, "tags": []}}`,
			want: []string{`spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items`},
		},
		{
			name: "list map with two keys, one defaulted",
			obj:  `{"spec": {"replicas": 1, "ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}]}}`,
			want: []string{`spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}`},
		},
		{
			name: "list map",
			obj:  `{"spec": {"replicas": 1, "containers": [{"name": "a"}, {"name": "a", "image": "x"}, {}, {}]}}`,
			want: []string{
				`spec.containers[1]: Duplicate value: {"name":"a"}`,
				`spec.containers[3]: Duplicate value: {}`,
			},
		},
		{
			name: "list map of non-objects",
			obj:  `{"spec": {"replicas": 1, "containers": ["a"]}}`,
			want: []string{
				`spec.containers[0]: Invalid value: "a": must be an object for an array of list-type map`,
				`spec.containers[0]: Invalid value: "string": spec.containers[0] in body must be of type object: "string"`,
			},
		},
		{
			name: "map values and size",
			obj:  `{"spec": {"replicas": 1, "labels": {"a": "x", "b": "y", "c": 3}}}`,
			want: []string{
				`spec.labels: Too many: 3: must have at most 2 items`,
				`spec.labels[c]: Invalid value: "integer": spec.labels[c] in body must be of type string: "integer"`,
			},
		},
		{
			name: "minProperties",
			obj:  `{"spec": {"replicas": 1, "labels": {}}}`,
			want: []string{`spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties`},
		},
		{
			name: "null",
			obj:  `{"spec": {"replicas": 1, "opt": null, "flag": null}}`,
			want: []string{`spec.flag: Invalid value: "null": spec.flag in body must be of type boolean: "null"`},
		},
		{
			name: "uniqueItems",
			obj:  `{"spec": {"replicas": 1, "uniq": [1, 2, 1]}}`,
			want: []string{`spec.uniq: Invalid value: "": spec.uniq in body shouldn't contain duplicates`},
		},
		{
			name: "oneOf none",
			obj:  `{"spec": {"replicas": 1, "choice": {}}}`,
			want: []string{
				`spec.choice: Invalid value: {}: "spec.choice" must validate one and only one schema (oneOf). Found none valid`,
				`spec.choice.a: Required value`,
			},
		},
		{
			name: "oneOf both",
			obj:  `{"spec": {"replicas": 1, "choice": {"a": "x", "b": "y"}}}`,
			want: []string{`spec.choice: Invalid value: {"a":"x","b":"y"}: "spec.choice" must validate one and only one schema (oneOf). Found 2 valid alternatives`},
		},
		{
			name: "not",
			obj:  `{"spec": {"replicas": 1, "either": "forbidden"}}`,
			want: []string{`spec.either: Invalid value: "forbidden": "spec.either" must not validate the schema (not)`},
		},
		{
			name: "metadata: only the kind's name rule applies",
			obj:  `{"metadata": {"name": "much-too-long-a-name", "labels": 5, "bogus": true}, "spec": {"replicas": 1}}`,
			want: []string{`metadata.name: Too long: may not be more than 10 bytes`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := errorStrings(s.Validate(mustObject(t, tc.obj)))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Validate:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestValidateErrorTypes(t *testing.T) {
	s := mustCompile(t, widgetSchema)
	tests := []struct {
		obj  string
		want field.ErrorType
	}{
		{`{"spec": {}}`, field.ErrorTypeRequired},
		{`{"spec": {"replicas": "x"}}`, field.ErrorTypeTypeInvalid},
		{`{"spec": {"replicas": 1, "mode": "C"}}`, field.ErrorTypeNotSupported},
		{`{"spec": {"replicas": 1, "tags": ["a", "a"]}}`, field.ErrorTypeDuplicate},
		{`{"spec": {"replicas": 1, "name": "A1"}}`, field.ErrorTypeInvalid},
		{`{"spec": {"replicas": 1, "name": "toolongname"}}`, field.ErrorTypeTooLong},
		{`{"spec": {"replicas": 1, "tags": ["a", "b", "c", "d"]}}`, field.ErrorTypeTooMany},
	}
	for _, tc := range tests {
		errs := s.Validate(mustObject(t, tc.obj))
		if len(errs) == 0 || errs[0].Type != tc.want {
			t.Errorf("%s: got %v, want a %s error", tc.obj, errs, tc.want)
		}
	}
}

// The root's metadata is the kernel's business unless the kind constrains
// name or generateName; a kind without such rules never reports metadata.
func TestValidateSkipsMetadata(t *testing.T) {
	s := mustCompile(t, `{"type": "object", "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}}}`)
	errs := s.Validate(mustObject(t, `{"metadata": {"name": 7, "labels": [1]}, "data": {"a": "b"}}`))
	if len(errs) != 0 {
		t.Errorf("unexpected errors: %v", errs)
	}
}

func TestValidateEmbeddedResource(t *testing.T) {
	s := mustCompile(t, `{"type": "object", "properties": {"spec": {"type": "object", "properties": {
		"template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}}}`)
	tests := []struct {
		obj  string
		want []string
	}{
		{`{"spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"anything": true}}}}`, nil},
		{`{"spec": {"template": {}}}`, []string{
			`spec.template.apiVersion: Required value`,
			`spec.template.kind: Required value`,
		}},
		{`{"spec": {"template": {"apiVersion": "a/b/c", "kind": "Not_A_Kind"}}}`, []string{
			`spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c`,
			`spec.template.kind: Invalid value: "Not_A_Kind": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
		}},
		{`{"spec": {"template": {"apiVersion": 1, "kind": ""}}}`, []string{
			`spec.template.apiVersion: Invalid value: "integer": spec.template.apiVersion in body must be of type string: "integer"`,
			`spec.template.kind: Invalid value: "": must not be empty`,
		}},
	}
	for _, tc := range tests {
		got := errorStrings(s.Validate(mustObject(t, tc.obj)))
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got: %q\nwant: %q", tc.obj, got, tc.want)
		}
	}
}
