package objects

import (
	"math/rand/v2"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/registry"
	wschema "weft.dev/weft/kernel/schema"
	"weft.dev/weft/plugins/core/schemas"
)

// createSamples are full objects of several kinds, from which the test draws
// variants: they hold the shapes schemas give (keyed lists with one and two keys,
// sets, atomic lists and maps, int-or-string, maps of strings, empty objects).
var createSamples = []string{
	`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","generateName":"web-","namespace":"default","uid":"u1","creationTimestamp":"2026-11-22T00:00:00Z","generation":1,
	  "labels":{"app":"web","tier":"front"},"annotations":{"note":"x","empty":""},"finalizers":["a.example/x","b.example/y"],
	  "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"rs1","controller":true,"blockOwnerDeletion":true}]},
	 "spec":{"containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent","command":["sh","-c"],"args":["sleep 1"],
	    "ports":[{"containerPort":8080,"protocol":"TCP","name":"http"},{"containerPort":8080,"protocol":"UDP"}],
	    "env":[{"name":"A","value":"1"},{"name":"B","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],
	    "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"1"}},
	    "volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true}],
	    "livenessProbe":{"httpGet":{"path":"/","port":8080},"periodSeconds":10},"readinessProbe":{"httpGet":{"path":"/","port":"http"}},
	    "securityContext":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"},
	   {"name":"side","image":"busybox","resources":{}}],
	  "initContainers":[{"name":"init","image":"busybox"}],
	  "volumes":[{"name":"data","emptyDir":{}},{"name":"cfg","configMap":{"name":"cfg","items":[{"key":"a","path":"a"}]}}],
	  "tolerations":[{"key":"k","operator":"Exists","effect":"NoSchedule"}],"nodeSelector":{"disk":"ssd"},
	  "affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]}]}]}}},
	  "topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}}}],
	  "imagePullSecrets":[{"name":"reg"}],"hostAliases":[{"ip":"10.0.0.1","hostnames":["a"]}],
	  "restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","schedulerName":"default-scheduler","securityContext":{},
	  "enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority","priority":0}}`,
	`{"apiVersion":"v1","kind":"Event","metadata":{"name":"web-1.1","namespace":"default","uid":"e1","creationTimestamp":"2026-11-22T00:00:00Z"},
	 "involvedObject":{"apiVersion":"v1","kind":"Pod","name":"web-1","namespace":"default","uid":"u1"},"reason":"Scheduled",
	 "message":"Successfully assigned default/web-1 to n1","source":{"component":"weft-scheduler"},"type":"Normal","count":1,
	 "firstTimestamp":"2026-11-22T00:00:00Z","lastTimestamp":"2026-11-22T00:00:00Z","reportingComponent":"weft-scheduler","reportingInstance":"k"}`,
	`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"default","labels":{"a":"b"}},"data":{"a":"1","b.txt":"two"},"binaryData":{"bin":"AAE="},"immutable":false}`,
	`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default","annotations":{}},
	 "spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"},{"name":"dns","port":53,"targetPort":"dns","protocol":"UDP"}],
	  "type":"ClusterIP","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ipFamilies":["IPv4"],"sessionAffinity":"None"}}`,
	`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},
	 "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":1}},
	  "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":80}]}]}}}}`,
}

// createRegistry registers the samples' kinds, with status subresources where
// kube-apiserver has them.
func createRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg := registry.New()
	for _, k := range []struct {
		group, version, kind, resource string
		status                         bool
	}{
		{"", "v1", "Pod", "pods", true}, {"", "v1", "Event", "events", false}, {"", "v1", "ConfigMap", "configmaps", false},
		{"", "v1", "Service", "services", true}, {"apps", "v1", "Deployment", "deployments", true},
	} {
		sch, err := schemas.Load(k.group, k.version, k.kind)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(registry.Kind{Group: k.group, Version: k.version, Kind: k.kind, Resource: k.resource,
			Namespaced: true, Schema: sch, Status: k.status, Owner: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// thin drops each map entry and list item of v with probability p, at any depth,
// and now and then empties a map or a list or sets a value to null.
func thin(r *rand.Rand, v any, p float64) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, c := range x {
			if r.Float64() < p {
				continue
			}
			out[k] = thin(r, c, p)
		}
		return out
	case []any:
		var out []any
		for _, c := range x {
			if r.Float64() < p {
				continue
			}
			out = append(out, thin(r, c, p))
		}
		if out == nil {
			out = []any{}
		}
		return out
	}
	if r.IntN(40) == 0 {
		return nil
	}
	return v
}

// trackCreateFast must record what the main endpoint's field manager records for a
// create, whenever it answers; and it must answer for most creates.
func TestTrackCreateFastMatchesFieldManager(t *testing.T) {
	reg := createRegistry(t)
	fms := newFieldManagers(reg)
	r := rand.New(rand.NewPCG(3, 4))
	fast, total := 0, 0
	for _, sample := range createSamples {
		base := decodeObject(t, sample)
		e, ok := reg.Snapshot().LookupKind(schema.FromAPIVersionAndKind(base.GetAPIVersion(), base.GetKind()))
		if !ok {
			t.Fatalf("%s not registered", base.GetKind())
		}
		fm, err := fms.get(e, "")
		if err != nil {
			t.Fatal(err)
		}
		o, ok := fms.createOwnership(e)
		if !ok {
			t.Fatalf("no create ownership for %s", e.Kind.Kind)
		}
		for i := range 300 {
			obj := base.DeepCopy()
			if i > 0 {
				// Keep the identity: the field manager strips it either way.
				meta := obj.Object["metadata"]
				obj.Object = thin(r, obj.Object, []float64{0.05, 0.2, 0.5}[i%3]).(map[string]any)
				obj.Object["apiVersion"], obj.Object["kind"] = base.Object["apiVersion"], base.Object["kind"]
				if r.IntN(4) > 0 {
					obj.Object["metadata"] = meta
				}
			}
			total++
			want := trackUpdate(fm, newObject(e), obj.DeepCopy(), "kubectl-create")
			got := obj.DeepCopy()
			if !trackCreateFast(o, got, "kubectl-create", time.Now()) {
				if i == 0 {
					t.Fatalf("%s: the fast path declined the whole sample", e.Kind.Kind)
				}
				continue
			}
			fast++
			w, g := createdEntries(t, want), createdEntries(t, got)
			if w != g {
				raw, _ := obj.MarshalJSON()
				t.Fatalf("%s case %d: %s\nfield manager: %s\nfast:          %s", e.Kind.Kind, i, raw, w, g)
			}
			delete(got.Object["metadata"].(map[string]any), "managedFields")
			if !wschema.JSONEqual(got.Object, obj.Object) {
				t.Fatalf("%s case %d: the fast path changed the object beyond managedFields", e.Kind.Kind, i)
			}
		}
	}
	if fast < total*3/5 {
		t.Fatalf("the fast path answered %d of %d creates", fast, total)
	}
	t.Logf("the fast path answered %d of %d creates", fast, total)
}

// createdEntries is managedFields as stored, with times blanked (each path reads the
// clock).
func createdEntries(t *testing.T, u *unstructured.Unstructured) string {
	t.Helper()
	items, _, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
	for _, x := range items {
		x.(map[string]any)["time"] = "now"
	}
	return entriesJSON(t, &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"managedFields": items}}}, "")
}

// The creates the fast path must leave to the field manager.
func TestTrackCreateFastDeclines(t *testing.T) {
	reg := createRegistry(t)
	fms := newFieldManagers(reg)
	e, _ := reg.Snapshot().LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	if _, err := fms.get(e, ""); err != nil {
		t.Fatal(err)
	}
	o, _ := fms.createOwnership(e)
	const head = `"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"`
	for _, c := range []struct{ name, obj string }{
		{"managedFields brought along", head + `,"managedFields":[]},"spec":{"containers":[{"name":"c"}]}`},
		{"no metadata", `"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c"}]}`},
		{"nothing owned", head + `}`},
		{"a list item without any of its keys", head + `},"spec":{"containers":[{"image":"busybox"}]}`},
		{"repeated list items", head + `},"spec":{"containers":[{"name":"c"},{"name":"c"}]}`},
		{"a key that needs escaping", head + `},"spec":{"containers":[{"name":"c<d"}]}`},
		{"a float in a key", head + `},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80.5,"protocol":"TCP"}]}]}`},
		{"a string where the schema has an object", head + `},"spec":"x"`},
		{"a number where the schema has a string", head + `},"spec":{"containers":[{"name":"c","image":7}]}`},
		{"a list where the schema has a map", head + `},"spec":{"nodeSelector":["a"]}`},
		{"a non-ASCII label key", head + `,"labels":{"é":"x"}},"spec":{"containers":[{"name":"c"}]}`},
		{"a null list item", head + `},"spec":{"containers":[null]}`},
	} {
		obj := decodeObject(t, "{"+c.obj+"}")
		before := obj.DeepCopy()
		if trackCreateFast(o, obj, "m", time.Now()) {
			t.Errorf("%s: the fast path answered", c.name)
		}
		if !wschema.JSONEqual(before.Object, obj.Object) {
			t.Errorf("%s: the object changed though the fast path declined", c.name)
		}
	}
}

// BenchmarkCreateOwnership is the ownership of a pod's create, by the field manager
// and by the fast path.
func BenchmarkCreateOwnership(b *testing.B) {
	fms, e, main, _ := podFieldManagers(b)
	o, _ := fms.createOwnership(e)
	pod := decodeObject(b, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web"}},
		"spec":{"schedulerName":"default-scheduler","restartPolicy":"Always","dnsPolicy":"ClusterFirst","terminationGracePeriodSeconds":30,
		"enableServiceLinks":true,"securityContext":{},"preemptionPolicy":"PreemptLowerPriority","priority":0,
		"containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File",
		"resources":{"requests":{"cpu":"100m"}}}]}}`)
	b.Run("field-manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			trackUpdate(main, newObject(e), pod.DeepCopy(), "kubectl-create")
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !trackCreateFast(o, pod.DeepCopy(), "kubectl-create", time.Now()) {
				b.Fatal("declined")
			}
		}
	})
}
