package registry

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func objSchema() *spec.Schema {
	return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{
		"spec": {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{
			"color": {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}},
			"items": {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"array"}, Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}}}}},
		}}},
	}}}
}

func kind(mut func(*Kind)) Kind {
	k := Kind{Group: "example.com", Version: "v1", Kind: "Widget", Resource: "widgets", Namespaced: true, Schema: objSchema(), Owner: "test"}
	if mut != nil {
		mut(&k)
	}
	return k
}

func TestRegisterValidation(t *testing.T) {
	cases := map[string]func(*Kind){
		"bad group":        func(k *Kind) { k.Group = "Example_Com" },
		"bad version":      func(k *Kind) { k.Version = "one" },
		"lowercase kind":   func(k *Kind) { k.Kind = "widget" },
		"bad resource":     func(k *Kind) { k.Resource = "Widgets" },
		"bad short name":   func(k *Kind) { k.ShortNames = []string{"w_d"} },
		"no owner":         func(k *Kind) { k.Owner = "" },
		"no schema":        func(k *Kind) { k.Schema = nil },
		"bad schema":       func(k *Kind) { k.Schema = &spec.Schema{} },
		"bad scale":        func(k *Kind) { k.Scale = &Scale{SpecReplicasPath: ".spec.replicas"} },
		"bad column type":  func(k *Kind) { k.Columns = []Column{{Name: "X", Type: "map", JSONPath: ".spec"}} },
		"bad column path":  func(k *Kind) { k.Columns = []Column{{Name: "X", Type: "string", JSONPath: "{.spec"}} },
		"bad field to sel": func(k *Kind) { k.SelectableFields = []string{".spec.items[*]"} },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			err := New().Register(kind(mut))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
	if err := New().Register(kind(nil)); err != nil {
		t.Fatalf("valid kind refused: %v", err)
	}
}

func TestRegisterConflictsAndOwnership(t *testing.T) {
	r := New()
	if err := r.Register(kind(func(k *Kind) { k.ShortNames = []string{"wd"} })); err != nil {
		t.Fatal(err)
	}
	// Another owner may not take the resource.
	if err := r.Register(kind(func(k *Kind) { k.Owner = "other" })); !errors.Is(err, ErrConflict) {
		t.Fatalf("takeover: %v", err)
	}
	// Another kind may not reuse a short name in the same group, nor the kind name.
	if err := r.Register(kind(func(k *Kind) { k.Kind, k.Resource, k.ShortNames = "Gadget", "gadgets", []string{"wd"} })); !errors.Is(err, ErrConflict) {
		t.Fatalf("short name clash: %v", err)
	}
	if err := r.Register(kind(func(k *Kind) { k.Resource = "widgetz" })); !errors.Is(err, ErrConflict) {
		t.Fatalf("kind served twice: %v", err)
	}
	// All or nothing: one bad kind in a batch registers none.
	gen := r.Snapshot().Generation
	if err := r.Register(kind(func(k *Kind) { k.Kind, k.Resource = "Gizmo", "gizmos" }), kind(func(k *Kind) { k.Version = "bad" })); err == nil {
		t.Fatal("batch with a bad kind was accepted")
	}
	if r.Snapshot().Generation != gen {
		t.Fatal("failed batch published a snapshot")
	}
	// The owner may replace its kind; readers holding the old snapshot keep it.
	old := r.Snapshot()
	sub := r.Subscribe()
	if err := r.Register(kind(func(k *Kind) { k.ShortNames = []string{"wdg"} })); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub:
	case <-time.After(time.Second):
		t.Fatal("no change notification")
	}
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	if e, _ := old.Lookup(gvr); e.ShortNames[0] != "wd" {
		t.Fatal("old snapshot changed")
	}
	if e, _ := r.Snapshot().Lookup(gvr); e.ShortNames[0] != "wdg" {
		t.Fatal("replacement not visible")
	}
	if err := r.Unregister("other", gvr); !errors.Is(err, ErrConflict) {
		t.Fatalf("unregister by another owner: %v", err)
	}
	if err := r.Unregister("test", gvr); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Snapshot().Lookup(gvr); ok {
		t.Fatal("still registered")
	}
}

func TestCellsAndFields(t *testing.T) {
	r := New()
	err := r.Register(kind(func(k *Kind) {
		k.Columns = []Column{
			{Name: "Color", Type: "string", JSONPath: ".spec.color"},
			{Name: "Items", Type: "integer", CountPaths: []string{".spec.items", ".spec.more"}},
			{Name: "Ref", Type: "string", JSONPath: "{.spec.kind}/{.spec.name}"},
			{Name: "Seen", Type: "date", JSONPath: ".status.seen"},
			{Name: "Missing", Type: "string", JSONPath: ".spec.nothing"},
			{Name: "Ready", Type: "string", JSONPath: "{#.status.cs[?(@.ready==true)]}/{#.spec.items[*]}"},
			{Name: "Restarts", Type: "integer", JSONPath: "{+.status.cs[*].restarts}"},
		}
		k.SelectableFields = []string{".spec.color"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := r.Snapshot().LookupKind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"})
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	obj := map[string]any{
		"metadata": map[string]any{"name": "w", "namespace": "ns"},
		"spec":     map[string]any{"color": "red", "items": []any{"a", "b"}, "more": map[string]any{"x": 1}, "kind": "Pod", "name": "p"},
		"status": map[string]any{"seen": "2026-01-01T11:55:00Z", "cs": []any{
			map[string]any{"ready": true, "restarts": int64(2)},
			map[string]any{"ready": false, "restarts": int64(1)},
		}},
	}
	got := e.Cells(obj, now)
	want := []any{"red", int64(3), "Pod/p", "5m", nil, "1/2", int64(3)}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d = %#v, want %#v", i, got[i], want[i])
		}
	}
	for field, want := range map[string]string{"metadata.name": "w", "metadata.namespace": "ns", "spec.color": "red"} {
		if v, ok := e.FieldValue(obj, field); !ok || v != want {
			t.Errorf("field %s = %q, %v", field, v, ok)
		}
	}
	if _, ok := e.FieldValue(obj, "spec.items"); ok {
		t.Error("spec.items is not selectable")
	}
}
