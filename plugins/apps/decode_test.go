package apps

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"weft.dev/weft/sdk"
)

const (
	fullPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-5d8f9c7b6-00001","generateName":"web-5d8f9c7b6-","namespace":"default","uid":"pod-1","resourceVersion":"12","generation":1,"creationTimestamp":"2026-11-21T10:00:00Z","labels":{"app":"web","pod-template-hash":"5d8f9c7b6"},"annotations":{"controller.kubernetes.io/pod-deletion-cost":"-5"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d8f9c7b6","uid":"rs-uid","controller":true,"blockOwnerDeletion":true}],"finalizers":["x/y"],"managedFields":[{"manager":"kubelet","operation":"Update","fieldsV1":{"f:status":{}}}]},
		"spec":{"nodeName":"node-1","containers":[{"name":"web","image":"busybox","resources":{"limits":{"cpu":"1"}}}],"tolerations":null},
		"status":{"phase":"Running","podIP":"10.88.0.1","startTime":"2026-11-21T10:00:01Z","conditions":[{"type":"Initialized","status":"True"},{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-21T10:00:02Z"}],
		"containerStatuses":[{"name":"web","ready":true,"restartCount":3,"state":{"running":{"startedAt":"2026-11-21T10:00:02Z"}}}],"initContainerStatuses":[{"name":"init","restartCount":1},{"name":"init2"}]}}`
	fullRS = `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-5d8f9c7b6","namespace":"default","uid":"rs-uid","resourceVersion":"3","generation":2,"creationTimestamp":"2026-11-21T10:00:00Z","deletionTimestamp":"2026-11-21T11:00:00Z","deletionGracePeriodSeconds":0,"labels":{"app":"web"},"annotations":{"deployment.kubernetes.io/revision":"2"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"dep-uid","controller":true,"blockOwnerDeletion":true}]},
		"spec":{"replicas":3,"minReadySeconds":10,"selector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]}]},"template":{"metadata":{"labels":{"app":"web","pod-template-hash":"5d8f9c7b6"}},"spec":{"containers":[{"name":"web","image":"busybox","args":["a\u00e9\"b"]}]}}},
		"status":{"replicas":3,"fullyLabeledReplicas":3,"readyReplicas":2,"availableReplicas":1,"observedGeneration":2,"conditions":[{"type":"ReplicaFailure","status":"False","lastTransitionTime":"2026-11-21T10:00:00Z","reason":"FailedCreate","message":"quota"}],"terminatingReplicas":0}}`
	fullDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","uid":"dep-uid","resourceVersion":"9","generation":4,"creationTimestamp":"2026-11-21T10:00:00Z","labels":{"app":"web"},"annotations":{"deployment.kubernetes.io/revision":"3","kubectl.kubernetes.io/last-applied-configuration":"{\"spec\":{}}\n"}},
		"spec":{"replicas":5,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"busybox:1"}]}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":2}},"minReadySeconds":5,"revisionHistoryLimit":3,"paused":true,"progressDeadlineSeconds":600},
		"status":{"observedGeneration":4,"replicas":5,"updatedReplicas":4,"readyReplicas":4,"availableReplicas":3,"unavailableReplicas":2,"conditions":[{"type":"Available","status":"True","lastUpdateTime":"2026-11-21T10:00:05Z","lastTransitionTime":"2026-11-21T10:00:05Z","reason":"MinimumReplicasAvailable","message":"ok"},{"type":"Progressing","status":"True","reason":"NewReplicaSetAvailable"}],"collisionCount":1}}`
)

// decodeCorpus is representative objects of each kind: full ones, ones missing
// fields, with nulls and unknown members, duplicates, and wrong types (which must
// fail both ways).
var decodeCorpus = map[string][]string{
	"Pod": {
		fullPod, `{}`, `null`, `{"metadata":{"name":"p"}}`,
		`{"metadata":null,"spec":null,"status":null}`,
		`{"metadata":{"name":"p","labels":null,"ownerReferences":null},"spec":{"nodeName":null},"status":{"phase":null,"conditions":null,"containerStatuses":null,"initContainerStatuses":[]}}`,
		`{"status":{"containerStatuses":[null,{"restartCount":null},{"restartCount":2147483647}]},"unknown":{"deep":[1,{"x":[]}]},"spec":{"unknown":true}}`,
		`{"status":{"phase":"Pending"},"status":{"conditions":[{"type":"Ready"}]}}`,
		`{"spec":{"nodeName":"a"},"spec":{"nodeName":null}}`,
		`{"status":{"containerStatuses":[{"restartCount":1},{"restartCount":2}]},"status":{"containerStatuses":[{"name":"x"}]}}`,
		`{"metadata":{"generateName":"p-","generation":3,"deletionGracePeriodSeconds":30,"finalizers":["f"],"annotations":{"a":"b","controller.kubernetes.io/pod-deletion-cost":"7"}},"status":{"conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False","lastTransitionTime":"t1"},{"type":"Ready","status":"True"}],"initContainerStatuses":[{"restartCount":4}],"containerStatuses":[{"restartCount":2}]}}`,
		`{"metadata":{"annotations":{"a":"b"}},"status":{"conditions":[{"type":"Ready","status":"True"}]},"status":{"conditions":[{"lastTransitionTime":"t2"}]}}`,
		// Wrong types.
		`[]`, `{"metadata":"x"}`, `{"spec":{"nodeName":1}}`, `{"status":{"phase":true}}`, `{"status":{"conditions":{}}}`,
		`{"status":{"containerStatuses":[{"restartCount":"1"}]}}`, `{"status":{"containerStatuses":[{"restartCount":2147483648}]}}`,
		`{"status":{"containerStatuses":[{"restartCount":1.5}]}}`, `{"metadata":{"name":"p"}} x`, `{"metadata":{"name":"p"}`,
	},
	"ReplicaSet": {
		fullRS, `{}`, `{"metadata":{"name":"rs"},"spec":{}}`,
		`{"spec":{"replicas":null,"selector":null,"template":null,"minReadySeconds":null},"status":{"conditions":[],"replicas":null}}`,
		`{"spec":{"replicas":0,"selector":{},"template":{}}}`,
		`{"spec":{"template":  {"spec" : { } }  ,"unknown":[null]},"status":{"extra":{"a":"b"}}}`,
		`{"spec":{"replicas":1},"spec":{"selector":{"matchLabels":{"a":"b"}}},"spec":{"replicas":null}}`,
		`{"spec":{"template":"not an object but valid JSON"}}`,
		`{"spec":{"replicas":-2147483648}}`,
		// Wrong types.
		`{"spec":{"replicas":"3"}}`, `{"spec":{"replicas":1e2}}`, `{"spec":{"selector":[]}}`, `{"spec":{"template":}}`,
		`{"status":{"observedGeneration":true}}`, `{"spec":{"selector":{"matchLabels":{"a":1}}}}`, `{"spec":[]}`,
	},
	"Deployment": {
		fullDeployment, `{}`,
		`{"spec":{"strategy":{"type":"Recreate"}}}`,
		`{"spec":{"strategy":null,"paused":null,"revisionHistoryLimit":null,"progressDeadlineSeconds":2147483647},"status":{"collisionCount":null}}`,
		`{"spec":{"strategy":{"rollingUpdate":null}}}`,
		`{"spec":{"strategy":{"rollingUpdate":{}}}}`,
		`{"spec":{"strategy":{"rollingUpdate":{"maxSurge":null,"maxUnavailable":0,"unknown":"x"}}}}`,
		`{"spec":{"strategy":{"rollingUpdate":{"maxSurge":"1","maxUnavailable":"100%"}}}}`,
		`{"spec":{"strategy":{"rollingUpdate":{"maxSurge":"10%"}}},"spec":{"strategy":{"rollingUpdate":{"maxSurge":3}}}}`,
		`{"spec":{"paused":false,"template":{"metadata":{"labels":{"a":"\u00e9\ud83d\ude00"}}}}}`,
		// Wrong types.
		`{"spec":{"paused":"true"}}`, `{"spec":{"strategy":[]}}`, `{"spec":{"strategy":{"rollingUpdate":{"maxSurge":true}}}}`,
		`{"spec":{"strategy":{"rollingUpdate":{"maxSurge":1.5}}}}`, `{"spec":{"strategy":{"rollingUpdate":{"maxSurge":{}}}}}`,
		`{"status":{"collisionCount":"1"}}`, `{"spec":{"strategy":{"type":2}}}`,
	},
}

// podJSON is a pod as Pod.DecodeJSON reads it, before it keeps only what Pod holds.
type podJSON struct {
	Metadata sdk.ObjectMeta `json:"metadata"`
	Spec     struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Phase                 string            `json:"phase"`
		Conditions            []sdk.Condition   `json:"conditions"`
		ContainerStatuses     []containerStatus `json:"containerStatuses"`
		InitContainerStatuses []containerStatus `json:"initContainerStatuses"`
	} `json:"status"`
}

// pod is what a Pod keeps of j.
func (j *podJSON) pod() *Pod {
	p := &Pod{Metadata: j.Metadata}
	m := &p.Metadata
	m.GenerateName, m.Generation, m.DeletionGracePeriodSeconds, m.Finalizers, m.Annotations = "", 0, nil, nil, nil
	if v, ok := j.Metadata.Annotations[deletionCostAnn]; ok {
		m.Annotations = map[string]string{deletionCostAnn: v}
	}
	p.Spec.NodeName, p.Status.Phase = j.Spec.NodeName, j.Status.Phase
	for _, c := range j.Status.Conditions {
		if c.Type == "Ready" {
			p.Status.Ready, p.Status.ReadySince = c.Status, c.LastTransitionTime
			break
		}
	}
	for _, cs := range [][]containerStatus{j.Status.ContainerStatuses, j.Status.InitContainerStatuses} {
		for _, c := range cs {
			p.Status.Restarts = max(p.Status.Restarts, c.RestartCount)
		}
	}
	return p
}

// decodeWant is what a decoder must produce from in: what encoding/json decodes, and
// for a pod, what Pod keeps of that.
func decodeWant(kind string, in []byte) (sdk.Metadata, error) {
	if kind == "Pod" {
		var j podJSON
		err := json.Unmarshal(in, &j)
		return j.pod(), err
	}
	want := newOf(kind)
	return want, json.Unmarshal(in, want)
}

func newOf(kind string) interface {
	sdk.JSONDecoder
	sdk.Metadata
} {
	switch kind {
	case "Pod":
		return new(Pod)
	case "ReplicaSet":
		return new(ReplicaSet)
	}
	return new(Deployment)
}

// The hand-written decoders produce exactly what encoding/json produces (for a pod,
// less what Pod does not keep).
func TestDecodersMatchEncodingJSON(t *testing.T) {
	for kind, corpus := range decodeCorpus {
		for _, in := range corpus {
			compareDecode(t, kind, in)
		}
	}
}

func compareDecode(t *testing.T, kind, in string) {
	t.Helper()
	got := newOf(kind)
	want, werr := decodeWant(kind, []byte(in))
	r := sdk.NewJSONReader([]byte(in))
	gerr := got.DecodeJSON(r)
	if gerr == nil {
		gerr = r.End()
	}
	if (werr == nil) != (gerr == nil) {
		t.Errorf("%s %q: DecodeJSON error %v, encoding/json error %v", kind, in, gerr, werr)
		return
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Errorf("%s %q:\nDecodeJSON    %s\nencoding/json %s", kind, in, dump(got), dump(want))
	}
}

func dump(v any) string { return fmt.Sprintf("%+v", reflect.ValueOf(v).Elem().Interface()) }

// The cache decodes fed objects with the decoders, into what encoding/json gives.
func TestCacheUsesDecoders(t *testing.T) {
	_, h, _ := newPlugin(nil)
	c := sdk.NewCache(h.Types)
	for kind, in := range map[string]string{"Pod": fullPod, "ReplicaSet": fullRS, "Deployment": fullDeployment} {
		gvk := map[string]sdk.GVK{"Pod": podGVK, "ReplicaSet": rsGVK, "Deployment": depGVK}[kind]
		fed := []byte(in)
		if err := c.Apply(sdk.FeedEvent{Type: sdk.Added, Kind: gvk, Object: fed}); err != nil {
			t.Fatal(err)
		}
		// The host's feed buffer is not kept, so nothing cached may alias it.
		for i := range fed {
			fed[i] = 'x'
		}
		want, err := decodeWant(kind, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		o := c.Get(gvk, "default", want.ObjectMeta().Name)
		if o == nil || !reflect.DeepEqual(o.Value, want) || !reflect.DeepEqual(o.Meta, *want.ObjectMeta()) || o.Raw != nil {
			t.Errorf("%s: cached %+v", kind, o)
		}
	}
	if err := c.Apply(sdk.FeedEvent{Type: sdk.Added, Kind: podGVK, Object: []byte(`{"spec":{"nodeName":7}}`)}); err == nil ||
		!strings.Contains(err.Error(), "expected a string at offset 20") {
		t.Errorf("bad pod: %v", err)
	}
}

// foldedKey reports whether in has a key encoding/json would match to one of the
// types' fields by folding case, which the decoders, like Kubernetes, do not.
func foldedKey(in string) bool {
	var names []string
	var collect func(reflect.Type)
	seen := map[reflect.Type]bool{}
	collect = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			names = append(names, name)
			collect(t.Field(i).Type)
		}
	}
	for _, v := range []any{podJSON{}, ReplicaSet{}, Deployment{}} {
		collect(reflect.TypeOf(v))
	}
	folded := false
	var walk func(r *sdk.JSONReader)
	walk = func(r *sdk.JSONReader) {
		switch r.Kind() {
		case sdk.JSONObject:
			r.Object(func(k []byte) {
				for _, n := range names {
					if string(k) != n && strings.EqualFold(string(k), n) {
						folded = true
					}
				}
				walk(r)
			})
		case sdk.JSONArray:
			r.Array(func(int) { walk(r) })
		default:
			r.Skip()
		}
	}
	walk(sdk.NewJSONReader([]byte(in)))
	return folded
}

func FuzzDecoders(f *testing.F) {
	for kind, corpus := range decodeCorpus {
		for _, in := range corpus {
			f.Add(kind, in)
		}
	}
	f.Fuzz(func(t *testing.T, kind, in string) {
		if kind != "Pod" && kind != "ReplicaSet" && kind != "Deployment" || foldedKey(in) {
			t.Skip()
		}
		compareDecode(t, kind, in)
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, kind := range []string{"Pod", "ReplicaSet", "Deployment"} {
		in := []byte(map[string]string{"Pod": fullPod, "ReplicaSet": fullRS, "Deployment": fullDeployment}[kind])
		b.Run(kind+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := decodeWant(kind, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kind+"/JSONReader", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			var r sdk.JSONReader
			for b.Loop() {
				r.Reset(in)
				if err := newOf(kind).DecodeJSON(&r); err != nil || r.End() != nil {
					b.Fatal(err, r.Err())
				}
			}
		})
	}
}
