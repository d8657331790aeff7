package sdktest

import (
	"encoding/json"
	"testing"
	"time"

	"weft.dev/weft/sdk"
)

var (
	widgetGVK = sdk.GVK{Group: "example.dev", Version: "v1", Kind: "Widget"}
	widgets   = sdk.Resource{Group: "example.dev", Version: "v1", Resource: "widgets"}
	pods      = sdk.Resource{Version: "v1", Resource: "pods"}
)

// newTest returns a kernel for a plugin with a Widget kind whose controller owns
// pods, and a log of the requests it reconciled.
func newTest(rec func(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error)) (*Kernel, *[]sdk.ReconcileRequest) {
	var seen []sdk.ReconcileRequest
	m := sdk.Manifest{
		Name:  "test",
		Kinds: []sdk.KindSpec{{Group: "example.dev", Version: "v1", Kind: "Widget", Resource: "widgets", Namespaced: true, Status: true}},
		Controllers: []sdk.Controller{{Name: "widget", For: widgetGVK, Owns: []sdk.GVK{{Version: "v1", Kind: "Pod"}},
			Fields: []sdk.FieldSet{{Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Paths: []string{".spec.nodeName"}}}}},
	}
	h := sdk.Handlers{Reconciler: sdk.ReconcileFunc(func(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
		seen = append(seen, req)
		if rec != nil {
			return rec(c, req)
		}
		return sdk.ReconcileResult{}, nil
	})}
	return New(m, h), &seen
}

func TestSelector(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "fe"}
	tests := []struct {
		sel  string
		want bool
	}{
		{"", true},
		{"app=web", true},
		{"app==web,tier=fe", true},
		{"app!=web", false},
		{"app!=db", true},
		{"app in (db, web)", true},
		{"app notin (db,web)", false},
		{"tier,app", true},
		{"!tier", false},
		{"!missing", true},
		{"missing", false},
		{"app in (web),tier notin (be)", true},
	}
	for _, tc := range tests {
		s, err := ParseSelector(tc.sel)
		if err != nil {
			t.Fatalf("%q: %v", tc.sel, err)
		}
		if got := s.Matches(labels); got != tc.want {
			t.Errorf("%q matches %v: %v", tc.sel, labels, got)
		}
	}
	for _, bad := range []string{"app in web", "a b"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func status(err error) *sdk.Status {
	st, _ := err.(*sdk.Status)
	return st
}

func TestCRUD(t *testing.T) {
	k, _ := newTest(nil)
	c := k.Client()
	m, err := c.Create(widgets, "ns", map[string]any{"metadata": map[string]any{"generateName": "w-"}, "spec": map[string]any{"size": 1}, "status": map[string]any{"x": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Name) != len("w-")+5 || m.UID == "" || m.ResourceVersion == "" || m.Generation != 1 || m.Namespace != "ns" || m.CreationTimestamp != Epoch.Format(time.RFC3339) {
		t.Fatalf("created %+v", m)
	}
	if obj := k.Get("example.dev", "widgets", "ns", m.Name); obj["status"] != nil {
		t.Errorf("create kept status %v", obj["status"])
	}
	_, err = c.Create(widgets, "ns", map[string]any{"metadata": map[string]any{"name": m.Name}})
	if st := status(err); st == nil || st.Code != 409 || !sdk.IsAlreadyExists(err) {
		t.Errorf("duplicate create: %v", err)
	}
	// Update: CAS on resourceVersion; generation follows the spec; status is kept.
	stale := m.ResourceVersion
	m2, err := c.Update(widgets, "ns", map[string]any{"metadata": map[string]any{"name": m.Name, "resourceVersion": stale}, "spec": map[string]any{"size": 2}, "status": map[string]any{"y": 1}})
	if err != nil || m2.Generation != 2 || m2.ResourceVersion == stale {
		t.Fatalf("update: %+v %v", m2, err)
	}
	if _, err := c.Update(widgets, "ns", map[string]any{"metadata": map[string]any{"name": m.Name, "resourceVersion": stale}}); !sdk.IsConflict(err) {
		t.Errorf("stale update: %v", err)
	}
	m3, err := c.UpdateStatus(widgets, "ns", map[string]any{"metadata": map[string]any{"name": m.Name}, "spec": map[string]any{"size": 9}, "status": map[string]any{"ok": true}})
	if err != nil || m3.Generation != 2 {
		t.Fatalf("update status: %+v %v", m3, err)
	}
	obj := k.Get("example.dev", "widgets", "ns", m.Name)
	if obj["spec"].(map[string]any)["size"] != 2.0 || obj["status"].(map[string]any)["ok"] != true {
		t.Errorf("after status update: %v", obj)
	}
	// Patches: merge, JSON, and a resourceVersion precondition.
	if _, err := c.Patch(widgets, "ns", m.Name, sdk.MergePatch, []byte(`{"metadata":{"labels":{"a":"b"}},"spec":{"size":null,"color":"red"}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Patch(widgets, "ns", m.Name, sdk.JSONPatch, []byte(`[{"op":"replace","path":"/spec/color","value":"blue"},{"op":"add","path":"/metadata/labels/c","value":"d"}]`)); err != nil {
		t.Fatal(err)
	}
	obj = k.Get("example.dev", "widgets", "ns", m.Name)
	if spec := obj["spec"].(map[string]any); spec["color"] != "blue" || spec["size"] != nil || len(obj["metadata"].(map[string]any)["labels"].(map[string]any)) != 2 {
		t.Errorf("after patches: %v", obj)
	}
	if _, err := c.Patch(widgets, "ns", m.Name, sdk.MergePatch, []byte(`{"metadata":{"resourceVersion":"1"}}`)); !sdk.IsConflict(err) {
		t.Errorf("patch with a stale resourceVersion: %v", err)
	}
	// Get, list, not found.
	var got map[string]any
	if err := c.Get(widgets, "ns", "missing", &got); !sdk.IsNotFound(err) || status(err).Reason != "NotFound" {
		t.Errorf("get missing: %v", err)
	}
	var list struct{ Items []map[string]any }
	if err := c.List(widgets, "ns", sdk.ListOptions{LabelSelector: "a=b,c"}, &list); err != nil || len(list.Items) != 1 {
		t.Errorf("list: %v %d", err, len(list.Items))
	}
	// Delete with a wrong UID precondition, then for real.
	if err := c.Delete(widgets, "ns", m.Name, sdk.DeleteOptions{UID: "nope"}); !sdk.IsConflict(err) {
		t.Errorf("delete with a wrong uid: %v", err)
	}
	if err := c.Delete(widgets, "ns", m.Name, sdk.DeleteOptions{}); err != nil || k.Get("example.dev", "widgets", "ns", m.Name) != nil {
		t.Errorf("delete: %v", err)
	}
}

func TestFeedQueueAndGC(t *testing.T) {
	var k *Kernel
	k, seen := newTest(func(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
		w := c.Cache().Get(widgetGVK, req.Namespace, req.Name)
		if w == nil {
			return sdk.ReconcileResult{}, nil
		}
		if len(c.Cache().Controlled(sdk.GVK{Version: "v1", Kind: "Pod"}, w.Meta.UID)) == 0 {
			pod := map[string]any{"metadata": map[string]any{"name": req.Name + "-pod", "ownerReferences": []sdk.OwnerReference{sdk.ControllerRef(widgetGVK, &w.Meta)}}, "spec": map[string]any{"nodeName": "n", "x": 1}}
			items := []sdk.BatchItem{}
			it, _ := sdk.CreateItem(pods, req.Namespace, pod)
			items = append(items, it, sdk.BatchItem{Op: sdk.OpEvent, Request: sdk.CallRequest{Namespace: req.Namespace, Name: req.Name, Reason: "Made", Message: "made a pod"}})
			rs, err := c.Batch(items)
			if err != nil || rs[0].Err() != nil {
				t.Errorf("batch: %v %v", err, rs)
			}
		}
		return sdk.ReconcileResult{RequeueAfterMillis: 60_000}, nil
	})
	k.Create(t, `{"apiVersion":"example.dev/v1","kind":"Widget","metadata":{"name":"w"}}`)
	k.Run(t)
	// Created widget, then its pod's creation requeued it through the owner reference.
	if len(*seen) != 2 {
		t.Fatalf("reconciled %v", *seen)
	}
	if o := k.Client().Cache().Get(sdk.GVK{Version: "v1", Kind: "Pod"}, "default", "w-pod"); o == nil || string(o.Raw) == "" {
		t.Fatal("the pod was not fed")
	} else {
		var p map[string]any
		_ = json.Unmarshal(o.Raw, &p)
		if spec := p["spec"].(map[string]any); spec["x"] != nil || spec["nodeName"] != "n" || p["status"] != nil {
			t.Errorf("fed pod not projected to .spec.nodeName: %s", o.Raw)
		}
	}
	if ev := k.Events(); len(ev) != 1 || ev[0].Reason != "Made" {
		t.Errorf("events %+v", ev)
	}
	// RequeueAfter waits for the clock.
	k.Advance(59 * time.Second)
	if k.Run(t) != 0 {
		t.Error("requeued before its time")
	}
	k.Advance(time.Second)
	if k.Run(t) != 1 {
		t.Error("not requeued after its time")
	}
	// Deleting the widget collects the pod; with GracefulPods, the pod terminates first.
	k.GracefulPods = true
	k.Delete(t, "example.dev", "widgets", "default", "w", "")
	if p := k.Get("", "pods", "default", "w-pod"); p == nil || p["metadata"].(map[string]any)["deletionTimestamp"] == nil {
		t.Fatalf("pod after its owner's deletion: %v", p)
	}
	if k.FinishTerminating() != 1 || k.Get("", "pods", "default", "w-pod") != nil {
		t.Error("FinishTerminating did not remove the pod")
	}
}

func TestOrphanAndSetPodsReady(t *testing.T) {
	k, _ := newTest(nil)
	w := k.Create(t, `{"apiVersion":"example.dev/v1","kind":"Widget","metadata":{"name":"w"}}`)
	uid := w["metadata"].(map[string]any)["uid"]
	k.Create(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"x"},"ownerReferences":[{"apiVersion":"example.dev/v1","kind":"Widget","name":"w","uid":"`+uid.(string)+`","controller":true}]},"spec":{}}`)
	if n := k.SetPodsReady("default", "app=x"); n != 1 {
		t.Errorf("SetPodsReady changed %d pods", n)
	}
	if n := k.SetPodsReady("default", "app=x"); n != 0 {
		t.Errorf("SetPodsReady changed %d already ready pods", n)
	}
	p := k.Get("", "pods", "default", "p")
	st := p["status"].(map[string]any)
	if st["phase"] != "Running" || st["conditions"].([]any)[0].(map[string]any)["status"] != "True" || p["spec"].(map[string]any)["nodeName"] != "sdktest-node" {
		t.Errorf("pod %v", p)
	}
	k.Delete(t, "example.dev", "widgets", "default", "w", "Orphan")
	p = k.Get("", "pods", "default", "p")
	if p == nil || p["metadata"].(map[string]any)["ownerReferences"] != nil {
		t.Errorf("orphaned pod %v", p)
	}
}
