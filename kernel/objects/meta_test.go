package objects

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsjson "sigs.k8s.io/json"

	"weft.dev/weft/kernel/registry"
)

// A pod as stored after its scheduler and its node wrote it: three managers.
const storedPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","resourceVersion":"9","generation":1,"creationTimestamp":"2026-11-21T10:00:00Z","labels":{"app":"web"},
"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-11-21T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{},"f:resources":{".":{},"f:requests":{".":{},"f:cpu":{}}}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{}}}},
{"manager":"weft-agent","operation":"Update","apiVersion":"v1","time":"2026-11-21T10:00:01Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:conditions":{"k:{\"type\":\"Ready\"}":{".":{},"f:status":{},"f:type":{}}},"f:phase":{},"f:podIP":{}}},"subresource":"status"}]},
"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Running"}}`

func storedPodObject(t testing.TB) *unstructured.Unstructured {
	var m map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(storedPod), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// metaToValidate must give what metaOf gives, fieldsV1 aside, and leave the object
// alone.
func TestMetaToValidate(t *testing.T) {
	e := &registry.Entry{}
	u := storedPodObject(t)
	before := u.DeepCopy()
	slim, err := metaToValidate(e, u)
	if err != nil {
		t.Fatal(err)
	}
	full, err := metaOf(e, u)
	if err != nil {
		t.Fatal(err)
	}
	for i := range full.ManagedFields {
		if full.ManagedFields[i].FieldsV1 == nil {
			t.Fatal("the stored pod's managedFields have no fieldsV1: the test proves nothing")
		}
		full.ManagedFields[i].FieldsV1 = nil
	}
	if !reflect.DeepEqual(slim, full) {
		t.Fatalf("metaToValidate\n%+v\nmetaOf\n%+v", slim, full)
	}
	if !reflect.DeepEqual(u.Object, before.Object) {
		t.Fatal("metaToValidate changed the object")
	}
}

func BenchmarkMetaToValidate(b *testing.B) {
	e, u := &registry.Entry{}, storedPodObject(b)
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			_, _ = metaOf(e, u)
		}
	})
	b.Run("without-fieldsV1", func(b *testing.B) {
		for b.Loop() {
			_, _ = metaToValidate(e, u)
		}
	})
}

// BenchmarkTrackStatus is a node's status write's ownership: the pod as stored, then
// Running.
func BenchmarkTrackStatus(b *testing.B) {
	reg, e := podRegistry(b)
	fm, err := newFieldManagers(reg).get(e, SubStatus)
	if err != nil {
		b.Fatal(err)
	}
	cur := storedPodObject(b)
	next := cur.DeepCopy()
	_ = unstructured.SetNestedField(next.Object, "10.0.0.9", "status", "podIP")
	for b.Loop() {
		trackStatus(fm, cur, next.DeepCopy(), "weft-agent")
	}
}
