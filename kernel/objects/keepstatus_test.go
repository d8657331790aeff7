package objects

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// keepStatusOnlyByCopy is what a status write did before keepStatusOnly: a fresh copy
// of cur with next's status and managedFields. keepStatusOnly must make the same.
func keepStatusOnlyByCopy(cur, next *unstructured.Unstructured) *unstructured.Unstructured {
	mf, hasMF, _ := unstructured.NestedFieldNoCopy(next.Object, "metadata", "managedFields")
	status, hasStatus := next.Object["status"]
	out := cur.DeepCopy()
	if hasMF {
		_ = unstructured.SetNestedField(out.Object, mf, "metadata", "managedFields")
	}
	if hasStatus {
		out.Object["status"] = status
	} else {
		delete(out.Object, "status")
	}
	return out
}

func TestKeepStatusOnly(t *testing.T) {
	const pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web"},
"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}]},
"spec":{"nodeName":"n1","priority":7,"containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Pending"}}`
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
	}{
		{"status only", func(m map[string]any) { m["status"] = map[string]any{"phase": "Running"} }},
		{"spec changed too", func(m map[string]any) {
			m["status"] = map[string]any{"phase": "Running"}
			m["spec"].(map[string]any)["nodeName"] = "elsewhere"
		}},
		{"spec removed", func(m map[string]any) { delete(m, "spec") }},
		{"member added", func(m map[string]any) { m["extra"] = "x" }},
		{"labels and name changed", func(m map[string]any) {
			md := m["metadata"].(map[string]any)
			md["labels"] = map[string]any{"app": "other", "new": "y"}
			md["name"] = "q"
			md["annotations"] = map[string]any{"a": "b"}
		}},
		{"managedFields replaced", func(m map[string]any) {
			m["metadata"].(map[string]any)["managedFields"] = []any{map[string]any{"manager": "weft-agent"}}
		}},
		{"managedFields dropped", func(m map[string]any) { delete(m["metadata"].(map[string]any), "managedFields") }},
		{"status dropped", func(m map[string]any) { delete(m, "status") }},
		{"metadata not an object", func(m map[string]any) { m["metadata"] = "nonsense" }},
		{"metadata dropped", func(m map[string]any) { delete(m, "metadata") }},
		{"number added", func(m map[string]any) { m["spec"].(map[string]any)["overhead"] = float64(1) }},
		// Equal as JSON and encoded alike: kept as the writer has it.
		{"number as a float", func(m map[string]any) { m["spec"].(map[string]any)["priority"] = float64(7) }},
		{"number changed", func(m map[string]any) { m["spec"].(map[string]any)["priority"] = float64(7.5) }},
		{"null added", func(m map[string]any) { m["spec"].(map[string]any)["nodeSelector"] = map[string]any(nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := decodeObject(t, pod)
			before, _ := json.Marshal(cur.Object)
			next := cur.DeepCopy()
			tc.edit(next.Object)
			want := keepStatusOnlyByCopy(cur, next.DeepCopy())
			keepStatusOnly(cur, next)
			got, _ := json.Marshal(next.Object)
			wantJSON, _ := json.Marshal(want.Object)
			if string(got) != string(wantJSON) {
				t.Fatalf("got  %s\nwant %s", got, wantJSON)
			}
			// Nothing of cur may be shared: admission edits next in place.
			mark(next.Object)
			if after, _ := json.Marshal(cur.Object); string(after) != string(before) {
				t.Fatalf("cur changed through next:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// mark adds a member to every object under v.
func mark(v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			mark(x)
		}
		v["zz-marked"] = true
	case []any:
		for _, x := range v {
			mark(x)
		}
	}
}

// BenchmarkKeepStatusOnly: a node's status write of a pod, as a fresh copy of the
// stored pod (before) and by restoring what the writer's copy changed (now). Each
// iteration includes the writer's own copy, which both need.
func BenchmarkKeepStatusOnly(b *testing.B) {
	_, _, main, _ := podFieldManagers(b)
	created := decodeObject(b, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web","pod-template-hash":"5d4f8"},
"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d4f8","uid":"u0","controller":true,"blockOwnerDeletion":true}]},
"spec":{"nodeName":"n1","schedulerName":"default-scheduler","restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst",
"containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent","resources":{"requests":{"cpu":"100m","memory":"64Mi"}},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
"tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]},
"status":{"phase":"Pending","qosClass":"Burstable"}}`)
	cur := main.UpdateNoErrors(decodeObject(b, `{"apiVersion":"v1","kind":"Pod"}`), created, "kube-controller-manager").(*unstructured.Unstructured)
	status := map[string]any{"phase": "Running", "qosClass": "Burstable", "podIP": "10.0.0.9"}
	for _, tc := range []struct {
		name string
		keep func(cur, next *unstructured.Unstructured) *unstructured.Unstructured
	}{
		{"copy", keepStatusOnlyByCopy},
		{"restore", func(cur, next *unstructured.Unstructured) *unstructured.Unstructured {
			keepStatusOnly(cur, next)
			return next
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				next := cur.DeepCopy()
				next.Object["status"] = status
				tc.keep(cur, next)
			}
		})
	}
}
