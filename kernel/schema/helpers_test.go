package schema_test

import (
	"encoding/json"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"
	sigsjson "sigs.k8s.io/json"

	"weft.dev/weft/kernel/schema"
)

// mustSchema parses a schema written as JSON in a test table.
func mustSchema(t testing.TB, doc string) *spec.Schema {
	t.Helper()
	s := &spec.Schema{}
	if err := json.Unmarshal([]byte(doc), s); err != nil {
		t.Fatalf("bad test schema: %v\n%s", err, doc)
	}
	return s
}

func mustCompile(t testing.TB, doc string) *schema.Structural {
	t.Helper()
	s, err := schema.Compile(mustSchema(t, doc))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

// mustObject decodes like the kernel does: integers become int64.
func mustObject(t testing.TB, doc string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(doc), &obj); err != nil {
		t.Fatalf("bad test object: %v\n%s", err, doc)
	}
	return obj
}

func toJSON(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// canonical re-encodes a JSON document so that equal documents compare
// equal as strings.
func canonical(t testing.TB, doc string) string {
	t.Helper()
	return toJSON(t, mustObject(t, doc))
}
