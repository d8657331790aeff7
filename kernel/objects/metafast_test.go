package objects

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"weft.dev/weft/kernel/ujson"
)

// metaMapCases are metadata as requests and the store hold them; fast says whether
// metaFromMap takes them or leaves them to the converter.
var metaMapCases = []struct {
	json string
	fast bool
}{
	{`{}`, true},
	{`{"name":"p","generateName":"p-","namespace":"default","selfLink":"/x","uid":"u1","resourceVersion":"9","generation":3,
	  "creationTimestamp":"2026-11-21T10:00:00Z","deletionTimestamp":"2026-11-21T11:00:00+02:00","deletionGracePeriodSeconds":30,
	  "labels":{"app":"web","tier":""},"annotations":{"a/b":"{\"x\":1}"},"finalizers":["x/y","z"],
	  "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u0","controller":true,"blockOwnerDeletion":false},{"apiVersion":"v1","kind":"Node","name":"n","uid":"u2"}],
	  "managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-11-21T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{}}}}}},
	                   {"manager":"agent","operation":"Update","subresource":"status"}]}`, true},
	{`{"labels":{},"annotations":{},"finalizers":[],"ownerReferences":[],"managedFields":[]}`, true},
	{`{"ownerReferences":[{}]}`, true},
	// Left to the converter.
	{`{"name":null}`, false},
	{`{"name":1}`, false},
	{`{"generation":1.5}`, false},
	{`{"generation":"1"}`, false},
	{`{"creationTimestamp":null}`, false},
	{`{"creationTimestamp":"yesterday"}`, false},
	{`{"creationTimestamp":""}`, false},
	{`{"deletionGracePeriodSeconds":null}`, false},
	{`{"labels":null}`, false},
	{`{"labels":{"a":1}}`, false},
	{`{"labels":[]}`, false},
	{`{"finalizers":[1]}`, false},
	{`{"ownerReferences":[{"controller":"yes"}]}`, false},
	{`{"ownerReferences":[{"extra":1}]}`, false},
	{`{"ownerReferences":[null]}`, false},
	{`{"managedFields":[{"time":"now"}]}`, false},
	{`{"managedFields":[{"fieldsV1":"x"}]}`, false},
	{`{"clusterName":"c"}`, false},
}

// metaSame fails unless metaFromMap, when it takes in, converts it as the
// unstructured converter does; it reports whether it took it.
func metaSame(t *testing.T, in string) bool {
	t.Helper()
	mm, err := ujson.UnmarshalObject([]byte(in))
	if err != nil || mm == nil {
		return false
	}
	got, ok := metaFromMap(mm)
	if !ok {
		return false
	}
	want := &metav1.ObjectMeta{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(mm, want); err != nil {
		t.Fatalf("%s: converted by hand, but the converter fails: %v", in, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", in, got, want)
	}
	return true
}

func TestMetaFromMap(t *testing.T) {
	for _, c := range metaMapCases {
		if fast := metaSame(t, c.json); fast != c.fast {
			t.Errorf("%s: taken %v, want %v", c.json, fast, c.fast)
		}
	}
}

func FuzzMetaFromMap(f *testing.F) {
	for _, c := range metaMapCases {
		f.Add(c.json)
	}
	f.Fuzz(func(t *testing.T, in string) { metaSame(t, in) })
}
