package sdk

import (
	"fmt"
	"testing"
)

type testPod struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
}

func (p *testPod) ObjectMeta() *ObjectMeta { return &p.Metadata }

var podKind = GVK{Version: "v1", Kind: "Pod"}

func podJSON(ns, name, owner, node string, labels string) []byte {
	refs := ""
	if owner != "" {
		refs = fmt.Sprintf(`,"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":%q,"controller":true}]`, owner)
	}
	return fmt.Appendf(nil, `{"metadata":{"namespace":%q,"name":%q,"labels":{%s}%s},"spec":{"nodeName":%q}}`, ns, name, labels, refs, node)
}

// The cache follows adds, updates (including a change of controller) and deletes,
// keeps its controller index right, and decodes into the registered type once.
func TestCache(t *testing.T) {
	c := NewCache(map[GVK]func() any{podKind: func() any { return new(testPod) }})
	var seen []string
	c.Observe(func(t EventType, o *Object) { seen = append(seen, fmt.Sprintf("%d %s", t, o.Meta.Name)) })
	apply := func(t EventType, b []byte) {
		if err := c.Apply(FeedEvent{Type: t, Kind: podKind, Object: b}); err != nil {
			panic(err)
		}
	}
	apply(Added, podJSON("a", "p1", "rs1", "n1", `"app":"web"`))
	apply(Added, podJSON("a", "p2", "rs1", "", `"app":"web"`))
	apply(Added, podJSON("b", "p3", "rs2", "", `"app":"db"`))
	apply(Modified, podJSON("a", "p2", "rs2", "n2", `"app":"web"`))
	if got := c.Get(podKind, "a", "p2"); got == nil || got.Value.(*testPod).Spec.NodeName != "n2" || got.Meta.Namespace != "a" {
		t.Fatalf("get: %+v", got)
	}
	if n := len(c.Controlled(podKind, "rs1")); n != 1 {
		t.Fatalf("rs1 controls %d pods, want 1 after p2 changed owner", n)
	}
	if n := len(c.Controlled(podKind, "rs2")); n != 2 {
		t.Fatalf("rs2 controls %d pods, want 2", n)
	}
	if got := c.List(podKind, "a", &LabelSelector{MatchLabels: map[string]string{"app": "web"}}); len(got) != 2 || got[0].Meta.Name != "p1" {
		t.Fatalf("list: %v", got)
	}
	if got := c.List(podKind, "", nil); len(got) != 3 || got[2].Meta.Namespace != "b" {
		t.Fatalf("list all: %v", got)
	}
	apply(Deleted, podJSON("a", "p2", "rs2", "n2", ""))
	if c.Get(podKind, "a", "p2") != nil || len(c.Controlled(podKind, "rs2")) != 1 || c.Len(podKind) != 2 {
		t.Fatal("delete not applied")
	}
	if err := c.Apply(FeedEvent{Type: Added, Kind: podKind, Object: []byte(`{"metadata":`)}); err == nil {
		t.Fatal("malformed object accepted")
	}
	if c.Synced() {
		t.Fatal("synced before the marker")
	}
	_ = c.Apply(FeedEvent{Type: Synced})
	if !c.Synced() || len(seen) != 5 || seen[4] != "3 p2" {
		t.Fatalf("synced %v, observed %v", c.Synced(), seen)
	}
}

// The cache keeps nothing that aliases the host's feed buffer (which would keep the
// whole buffer alive), and keeps the JSON only of kinds without a registered type.
func TestCacheDoesNotKeepFeedBuffer(t *testing.T) {
	widgetKind := GVK{Group: "example.dev", Version: "v1", Kind: "Widget"}
	widget := []byte(`{"metadata":{"namespace":"a","name":"w","labels":{"k":"v"}},"spec":{"size":3}}`)
	for _, tc := range []struct {
		name    string
		kind    GVK
		obj     []byte
		wantRaw bool
	}{
		{"typed", podKind, podJSON("a", "p1", "rs1", "n1", `"app":"web"`), false},
		{"untyped", widgetKind, widget, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCache(map[GVK]func() any{podKind: func() any { return new(testPod) }})
			fed := append([]byte(nil), tc.obj...)
			if err := c.Apply(FeedEvent{Type: Added, Kind: tc.kind, Object: fed}); err != nil {
				t.Fatal(err)
			}
			for i := range fed {
				fed[i] = ' '
			}
			o := c.List(tc.kind, "a", nil)[0]
			if tc.wantRaw != (o.Raw != nil) || tc.wantRaw && string(o.Raw) != string(tc.obj) {
				t.Errorf("Raw %q, want it %v", o.Raw, tc.wantRaw)
			}
			if o.Meta.Namespace != "a" || o.Meta.Name == "" || len(o.Meta.Labels) != 1 {
				t.Errorf("meta %+v", o.Meta)
			}
			if p, ok := o.Value.(*testPod); ok && p.Spec.NodeName != "n1" {
				t.Errorf("value %+v", p)
			}
		})
	}
}
