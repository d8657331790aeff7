package schema_test

import (
	"testing"
)

const defaultSchema = `{
  "type": "object",
  "properties": {
    "spec": {
      "type": "object",
      "properties": {
        "replicas": {"type": "integer", "default": 1},
        "strategy": {
          "type": "object",
          "default": {},
          "properties": {
            "type": {"type": "string", "default": "RollingUpdate"},
            "rollingUpdate": {"type": "object", "properties": {"maxSurge": {"x-kubernetes-int-or-string": true, "default": "25%"}}}
          }
        },
        "ports": {
          "type": "array",
          "items": {"type": "object", "properties": {"port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}
        },
        "byName": {"type": "object", "additionalProperties": {"type": "object", "properties": {"weight": {"type": "integer", "default": 10}}}},
        "nullableWithDefault": {"type": "string", "nullable": true, "default": "x"},
        "items": {"type": "array", "items": {"type": "string", "default": "item"}}
      }
    }
  }
}`

func TestDefault(t *testing.T) {
	s := mustCompile(t, defaultSchema)
	tests := []struct {
		name    string
		in, out string
	}{
		{
			name: "missing parent is not created",
			in:   `{"metadata": {"name": "a"}}`,
			out:  `{"metadata": {"name": "a"}}`,
		},
		{
			name: "defaults inside an existing object, and inside a default",
			in:   `{"spec": {}}`,
			out:  `{"spec": {"replicas": 1, "strategy": {"type": "RollingUpdate"}, "nullableWithDefault": "x"}}`,
		},
		{
			name: "set values win",
			in:   `{"spec": {"replicas": 5, "strategy": {"type": "Recreate"}}}`,
			out:  `{"spec": {"replicas": 5, "strategy": {"type": "Recreate"}, "nullableWithDefault": "x"}}`,
		},
		{
			name: "null is replaced unless nullable",
			in:   `{"spec": {"replicas": null, "nullableWithDefault": null}}`,
			out:  `{"spec": {"replicas": 1, "nullableWithDefault": null, "strategy": {"type": "RollingUpdate"}}}`,
		},
		{
			name: "items, additionalProperties and nested objects",
			in:   `{"spec": {"replicas": 2, "strategy": {"rollingUpdate": {}}, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}], "byName": {"a": {}, "b": {"weight": 3}}, "items": ["x", null]}}`,
			out:  `{"spec": {"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}, "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}], "byName": {"a": {"weight": 10}, "b": {"weight": 3}}, "items": ["x", "item"], "nullableWithDefault": "x"}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := mustObject(t, tc.in)
			s.Default(obj)
			if got, want := toJSON(t, obj), canonical(t, tc.out); got != want {
				t.Errorf("Default:\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// Defaults must arrive as the kernel's decoder would produce them (int64
// integers), and must never alias between objects.
func TestDefaultValuesAreFreshInt64s(t *testing.T) {
	s := mustCompile(t, defaultSchema)
	a, b := mustObject(t, `{"spec": {}}`), mustObject(t, `{"spec": {}}`)
	s.Default(a)
	s.Default(b)
	if _, ok := a["spec"].(map[string]any)["replicas"].(int64); !ok {
		t.Errorf("integer default has type %T, want int64", a["spec"].(map[string]any)["replicas"])
	}
	a["spec"].(map[string]any)["strategy"].(map[string]any)["type"] = "Recreate"
	if got := b["spec"].(map[string]any)["strategy"].(map[string]any)["type"]; got != "RollingUpdate" {
		t.Errorf("defaults alias between objects: b's strategy.type became %v", got)
	}
	if errs := s.Validate(a); len(errs) != 0 {
		t.Errorf("defaulted object does not validate: %v", errs)
	}
}
