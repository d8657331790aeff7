package objects

import (
	"encoding/json"
	"reflect"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	sigsjson "sigs.k8s.io/json"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/plugins/core/schemas"
)

// podRegistry is a registry serving the built-in Pod schema, and the Pod's entry.
func podRegistry(t testing.TB) (*registry.Registry, *registry.Entry) {
	t.Helper()
	sch, err := schemas.Load("", "v1", "Pod")
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New()
	if err := reg.Register(registry.Kind{Version: "v1", Kind: "Pod", Resource: "pods", Namespaced: true, Schema: sch, Status: true, Owner: "test"}); err != nil {
		t.Fatal(err)
	}
	e, _ := reg.Snapshot().LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	return reg, e
}

// podFieldManagers returns the pod kind's field managers, for the main resource and
// for its status.
func podFieldManagers(t testing.TB) (fms *fieldManagers, e *registry.Entry, main, status *managedfields.FieldManager) {
	t.Helper()
	reg, e := podRegistry(t)
	fms = newFieldManagers(reg)
	var err error
	if main, err = fms.get(e, ""); err != nil {
		t.Fatal(err)
	}
	if status, err = fms.get(e, SubStatus); err != nil {
		t.Fatal(err)
	}
	return fms, e, main, status
}

// trackStatus must own exactly what the full object's field manager owns, for every
// status write in a pod's life, whoever wrote before.
func TestTrackStatusMatchesFullObject(t *testing.T) {
	_, _, main, status := podFieldManagers(t)
	obj := func(s string) *unstructured.Unstructured {
		var m map[string]any
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: m}
	}
	const head = `"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web"}}`
	const spec = `"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox","resources":{"requests":{"cpu":"100m"}}},{"name":"d","image":"busybox"}]}`
	steps := []struct {
		manager, status string
	}{
		{"weft-scheduler", `{"conditions":[{"type":"PodScheduled","status":"True"}]}`},
		{"weft-agent", `{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Initialized","status":"True"}],"containerStatuses":[{"name":"c","ready":false,"restartCount":0,"image":"busybox","imageID":""}]}`},
		{"weft-agent", `{"phase":"Running","podIP":"10.0.0.5","podIPs":[{"ip":"10.0.0.5"}],"conditions":[{"type":"PodScheduled","status":"True"},{"type":"Initialized","status":"True"},{"type":"Ready","status":"True"}],"containerStatuses":[{"name":"c","ready":true,"restartCount":0,"image":"busybox","imageID":"x"},{"name":"d","ready":true,"restartCount":1,"image":"busybox","imageID":"y"}]}`},
		{"kubectl", `{"phase":"Running","podIP":"10.0.0.5","conditions":[{"type":"Ready","status":"False","reason":"Manual"}]}`},
		{"weft-agent", `{"phase":"Succeeded","conditions":[{"type":"Ready","status":"False"}]}`},
	}
	// The creator owns the spec; the status writers then take turns.
	cur := main.UpdateNoErrors(obj(`{"apiVersion":"v1","kind":"Pod"}`), obj(`{`+head+`,`+spec+`}`), "kubectl-create").(*unstructured.Unstructured)
	for i, st := range steps {
		next := cur.DeepCopy()
		next.Object["status"] = obj(st.status).Object
		want := status.UpdateNoErrors(cur.DeepCopy(), next.DeepCopy(), st.manager).(*unstructured.Unstructured)
		got := trackStatus(status, cur, next.DeepCopy(), st.manager)
		w, g := ownership(t, want), ownership(t, got)
		if w != g {
			t.Fatalf("step %d (%s):\nfull object: %s\nstatus only: %s", i, st.manager, w, g)
		}
		if _, ok := got.Object["spec"]; !ok {
			t.Fatalf("step %d: spec lost", i)
		}
		cur = got
	}
	if n := len(cur.GetManagedFields()); n < 3 {
		t.Fatalf("managers at the end: %+v", cur.GetManagedFields())
	}
}

// ownership is managedFields without the times, which depend on the clock.
func ownership(t *testing.T, u *unstructured.Unstructured) string {
	mf := u.GetManagedFields()
	for i := range mf {
		mf[i].Time = nil
	}
	raw, err := json.Marshal(mf)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// A write holding the entry of a kind that has since gone gets NotFound, and no
// field manager is kept for it: once the kind is back, writes track ownership again.
func TestFieldManagerForKindGone(t *testing.T) {
	sch, err := schemas.Load("", "v1", "ConfigMap")
	if err != nil {
		t.Fatal(err)
	}
	kind := registry.Kind{Version: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespaced: true, Schema: sch, Owner: "test"}
	reg := registry.New()
	if err := reg.Register(kind); err != nil {
		t.Fatal(err)
	}
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	e, _ := reg.Snapshot().LookupKind(gvk)
	fms := newFieldManagers(reg)
	if _, err := fms.get(e, ""); err != nil {
		t.Fatal(err)
	}
	if err := reg.Unregister("test", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fms.get(e, ""); !apierrors.IsNotFound(err) {
		t.Fatalf("kind gone: want NotFound, got %v", err)
	}
	if err := reg.Register(kind); err != nil {
		t.Fatal(err)
	}
	e, _ = reg.Snapshot().LookupKind(gvk)
	fm, err := fms.get(e, "")
	if err != nil {
		t.Fatal(err)
	}
	u := fm.UpdateNoErrors(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}},
		&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}, "data": map[string]any{"k": "v"}}}, "m").(*unstructured.Unstructured)
	if len(u.GetManagedFields()) != 1 {
		t.Fatalf("after the kind came back: %+v", u.GetManagedFields())
	}
}

// The field manager converts the current version of an object, which may be shared
// with watchers: the converter must never write to it.
func TestConvertToVersionLeavesInputAlone(t *testing.T) {
	in := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1beta1", "kind": "Widget", "spec": map[string]any{"a": int64(1)}}}
	before := in.DeepCopy()
	target := schema.GroupVersion{Group: "example.com", Version: "v1"}
	out, err := unstructuredConverter{}.ConvertToVersion(in, target)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.GetObjectKind().GroupVersionKind(); got != target.WithKind("Widget") {
		t.Fatalf("converted to %v", got)
	}
	if !reflect.DeepEqual(in.Object, before.Object) {
		t.Fatalf("the input was changed: %v", in.Object)
	}
	same, err := unstructuredConverter{}.ConvertToVersion(before, schema.GroupVersion{Group: "example.com", Version: "v1beta1"})
	if err != nil || same != runtime.Object(before) {
		t.Fatalf("a conversion to the object's own version returned %v, %v", same, err)
	}
}
