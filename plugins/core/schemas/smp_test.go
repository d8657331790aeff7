package schemas_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// TestStrategicMergePatchMatchesKubernetes applies each patch twice: with
// the patch metadata of our generated schema, and with the metadata
// Kubernetes itself uses for built-in kinds (the Go struct tags). The
// results must be identical.
func TestStrategicMergePatchMatchesKubernetes(t *testing.T) {
	pod := `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a"]},
	  "spec": {
	    "containers": [
	      {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
	       "ports": [{"containerPort": 80, "protocol": "TCP"}]},
	      {"name": "sidecar", "image": "sidecar:1"}],
	    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "c"}}],
	    "nodeSelector": {"disk": "ssd"}}}`
	deployment := `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
	  "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
	    "selector": {"matchLabels": {"app": "d"}},
	    "template": {"metadata": {"labels": {"app": "d"}},
	      "spec": {"containers": [{"name": "app", "image": "app:1"}, {"name": "log", "image": "log:1"}]}}}}`

	tests := []struct {
		name     string
		original string
		patch    string
		goType   any
		group    string
		kind     string
	}{
		{"containers merge by name", pod,
			`{"spec": {"containers": [{"name": "app", "image": "app:2"}, {"name": "new", "image": "new:1"}]}}`,
			corev1.Pod{}, "", "Pod"},
		{"delete a container", pod,
			`{"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}`,
			corev1.Pod{}, "", "Pod"},
		{"env inside a container", pod,
			`{"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}`,
			corev1.Pod{}, "", "Pod"},
		{"ports keyed by containerPort", pod,
			`{"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443}]}]}}`,
			corev1.Pod{}, "", "Pod"},
		{"volumes merge and retainKeys", pod,
			`{"spec": {"volumes": [{"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/d"}}]}}`,
			corev1.Pod{}, "", "Pod"},
		{"finalizers are a merged set", pod,
			`{"metadata": {"finalizers": ["b"]}}`,
			corev1.Pod{}, "", "Pod"},
		{"maps merge, null deletes", pod,
			`{"spec": {"nodeSelector": {"disk": null, "zone": "a"}}}`,
			corev1.Pod{}, "", "Pod"},
		{"replace directive", pod,
			`{"spec": {"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}}`,
			corev1.Pod{}, "", "Pod"},
		{"set element order", pod,
			`{"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}], "containers": [{"name": "app", "image": "app:3"}]}}`,
			corev1.Pod{}, "", "Pod"},
		{"deployment strategy retainKeys", deployment,
			`{"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}`,
			appsv1.Deployment{}, "apps", "Deployment"},
		{"template containers", deployment,
			`{"spec": {"template": {"spec": {"containers": [{"name": "log", "$patch": "delete"}, {"name": "app", "image": "app:2"}]}}}}`,
			appsv1.Deployment{}, "apps", "Deployment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ours, err := strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta(
				mustObject(t, tc.original), mustObject(t, tc.patch), mustCompile(t, tc.group, tc.kind).PatchMeta())
			if err != nil {
				t.Fatalf("patch with schema metadata: %v", err)
			}
			kube, err := strategicpatch.StrategicMergeMapPatch(mustObject(t, tc.original), mustObject(t, tc.patch), tc.goType)
			if err != nil {
				t.Fatalf("patch with struct metadata: %v", err)
			}
			if a, b := toJSON(t, ours), toJSON(t, kube); a != b {
				t.Errorf("results differ\nschema: %s\nstruct: %s", a, b)
			}
			if toJSON(t, ours) == toJSON(t, mustObject(t, tc.original)) {
				t.Error("the patch changed nothing; the case proves nothing")
			}
		})
	}
}

func TestStrategicMergePatchMergesContainersByName(t *testing.T) {
	s := mustCompile(t, "", "Pod")
	got, err := strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta(
		mustObject(t, `{"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}`),
		mustObject(t, `{"spec": {"containers": [{"name": "b", "image": "b:2"}]}}`),
		s.PatchMeta())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:2","name":"b"}]}}`
	if g := toJSON(t, got); g != want {
		t.Errorf("\n got: %s\nwant: %s", g, want)
	}
}
