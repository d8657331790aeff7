package objects

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsjson "sigs.k8s.io/json"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/ujson"
	"weft.dev/weft/store"
)

// A Deployment's pod after scheduling, its node's status write and the defaults, as
// stored: sorted keys, no resourceVersion.
const typicalPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-7d4b9c6f5-x2k8p","generateName":"web-7d4b9c6f5-","namespace":"default","uid":"3f1c2a4e-8b7d-4c1e-9a2f-5d6e7f8a9b0c","generation":1,"creationTimestamp":"2026-11-21T10:00:00Z",
"labels":{"app":"web","pod-template-hash":"7d4b9c6f5"},
"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c6f5","uid":"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d","controller":true,"blockOwnerDeletion":true}],
"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"2026-11-21T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{".":{},"f:limits":{".":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}},
{"manager":"weft-agent","operation":"Update","apiVersion":"v1","time":"2026-11-21T10:00:02Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Initialized\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.244.3.17\"}":{".":{},"f:ip":{}}},"f:startTime":{}}},"subresource":"status"}]},
"spec":{"containers":[{"name":"web","image":"registry.example/web:1.27","imagePullPolicy":"IfNotPresent","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"limits":{"memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","volumeMounts":[{"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","name":"kube-api-access-7xk2p","readOnly":true}]}],
"dnsPolicy":"ClusterFirst","enableServiceLinks":true,"nodeName":"sim-01234","preemptionPolicy":"PreemptLowerPriority","priority":0,"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"serviceAccount":"default","serviceAccountName":"default","terminationGracePeriodSeconds":30,
"tolerations":[{"effect":"NoExecute","key":"node.kubernetes.io/not-ready","operator":"Exists","tolerationSeconds":300},{"effect":"NoExecute","key":"node.kubernetes.io/unreachable","operator":"Exists","tolerationSeconds":300}],
"volumes":[{"name":"kube-api-access-7xk2p","projected":{"defaultMode":420,"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"items":[{"key":"ca.crt","path":"ca.crt"}],"name":"kube-root-ca.crt"}},{"downwardAPI":{"items":[{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"},"path":"namespace"}]}}]}}]},
"status":{"conditions":[{"lastProbeTime":null,"lastTransitionTime":"2026-11-21T10:00:01Z","status":"True","type":"Initialized"},{"lastProbeTime":null,"lastTransitionTime":"2026-11-21T10:00:02Z","status":"True","type":"Ready"},{"lastProbeTime":null,"lastTransitionTime":"2026-11-21T10:00:02Z","status":"True","type":"ContainersReady"},{"lastProbeTime":null,"lastTransitionTime":"2026-11-21T10:00:00Z","status":"True","type":"PodScheduled"}],
"containerStatuses":[{"containerID":"sim://3f1c2a4e-web","image":"registry.example/web:1.27","imageID":"registry.example/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","lastState":{},"name":"web","ready":true,"restartCount":0,"started":true,"state":{"running":{"startedAt":"2026-11-21T10:00:02Z"}}}],
"hostIP":"172.16.4.210","phase":"Running","podIP":"10.244.3.17","podIPs":[{"ip":"10.244.3.17"}],"qosClass":"Burstable","startTime":"2026-11-21T10:00:01Z"}}`

// A node's Lease as the kernel creates and renews it.
const typicalLease = `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"sim-01234","namespace":"kube-node-lease","uid":"6d5c4b3a-2f1e-4d0c-9b8a-7f6e5d4c3b2a","generation":1,"creationTimestamp":"2026-11-21T09:00:00Z",
"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"sim-01234","uid":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}],
"managedFields":[{"manager":"weft-nodes","operation":"Update","apiVersion":"coordination.k8s.io/v1","time":"2026-11-21T09:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:ownerReferences":{".":{},"k:{\"uid\":\"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d\"}":{}}},"f:spec":{"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:renewTime":{}}}}]},
"spec":{"holderIdentity":"sim-01234","leaseDurationSeconds":40,"renewTime":"2026-11-21T10:00:00.123456Z"}}`

// The scheduler's event for a pod.
const typicalEvent = `{"apiVersion":"v1","kind":"Event","metadata":{"name":"web-7d4b9c6f5-x2k8p.18a9b7c6d5e4f3a2","namespace":"default","uid":"0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0","creationTimestamp":"2026-11-21T10:00:00Z",
"managedFields":[{"manager":"weft-scheduler","operation":"Update","apiVersion":"v1","time":"2026-11-21T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:count":{},"f:firstTimestamp":{},"f:involvedObject":{},"f:lastTimestamp":{},"f:message":{},"f:reason":{},"f:reportingComponent":{},"f:source":{"f:component":{}},"f:type":{}}}]},
"involvedObject":{"apiVersion":"v1","kind":"Pod","name":"web-7d4b9c6f5-x2k8p","namespace":"default","uid":"3f1c2a4e-8b7d-4c1e-9a2f-5d6e7f8a9b0c","resourceVersion":"120034"},
"reason":"Scheduled","message":"Successfully assigned default/web-7d4b9c6f5-x2k8p to sim-01234","source":{"component":"default-scheduler"},"reportingComponent":"default-scheduler",
"firstTimestamp":"2026-11-21T10:00:00Z","lastTimestamp":"2026-11-21T10:00:00Z","count":1,"type":"Normal","eventTime":null}`

// stored gives a value as the service stores it: sorted keys, no resourceVersion.
func stored(t testing.TB, js string) []byte {
	var m map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	b, err := ujson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameMeta decodes value both ways and fails unless both refuse it or both give the
// same apiVersion, kind and metadata without managedFields, and nothing else.
func sameMeta(t *testing.T, value []byte) {
	t.Helper()
	e := &registry.Entry{}
	kv := store.KV{Key: "/core/pods/ns/p", ModRevision: 42, Value: value}
	full, ferr := (&Service{}).decode(e, kv)
	meta, merr := (&Service{}).DecodeListedMeta(e, kv)
	if (ferr == nil) != (merr == nil) {
		t.Fatalf("full decode: %v; metadata decode: %v\n%q", ferr, merr, value)
	}
	if ferr != nil {
		return
	}
	if m, ok := full.Object["metadata"].(map[string]any); ok {
		delete(m, "managedFields")
	}
	for _, k := range []string{"apiVersion", "kind", "metadata"} {
		f, fok := full.Object[k]
		m, mok := meta.Object[k]
		if fok != mok || !reflect.DeepEqual(f, m) {
			t.Fatalf("%s: full %#v (%v), metadata decode %#v (%v)\n%q", k, f, fok, m, mok, value)
		}
	}
	for k := range meta.Object {
		if k != "apiVersion" && k != "kind" && k != "metadata" {
			t.Fatalf("metadata decode kept %q\n%q", k, value)
		}
	}
}

// metaCases are values whose decodes must agree, and whether the full decode refuses
// them.
func metaCases() (valid, refused []string) {
	// Nested arrays: under the top-level object, depth n in all.
	nest := func(n int) string { return strings.Repeat("[", n-1) + strings.Repeat("]", n-1) }
	valid = []string{
		typicalPod, typicalLease, typicalEvent,
		`{}`,
		"{\t\"kind\"\n:\r\"Pod\" , \"metadata\" : { } }\n ",
		`{"spec":{"x":1},"metadata":{"name":"last"},"kind":"K","apiVersion":"v9"}`,
		`{"metadata":{"name":"a"},"metadata":{"uid":"b"}}`,
		`{"metadata":{"managedFields":[{"manager":"m"}],"name":"a","managedFields":null,"managedFi\u0065lds":1},"metadata":{"managedFields":[]}}`,
		`{"metadata":{"managedFields":{"name":"}{"},"uid":"u"},"spec":{"managedFields":[1]}}`,
		`{"metadata":{"managedFields":5}}`,
		`{"metadata":{ }, "kind" : "K" }`,
		`{"metadata":[{"managedFields":1}],"apiVersion":"v"}`,
		`{"metadata":{"name":"a"},"spec":{},"metadata":5}`,
		`{"metadat\u0061":{"name":"escaped key"},"kin\u0064":"K","\u0061piVersion":"v"}`,
		`{"metadata ":{"name":"not metadata"},"Metadata":{"name":"nor this"},"metadata":{"name":"this"}}`,
		`{"metadata":"a string","kind":7,"apiVersion":null}`,
		`{"metadata":{"name":"}{][\"\\/","labels":{"k":"\u00e9\u2028\ud83d\ude00 é 😀"}},"spec":"}\"{"}`,
		`{"spec":{"s":"{\"metadata\":{\"name\":\"inside a string\"}}","a":[{"metadata":{"name":"nested"}}]},"metadata":{"name":"top"}}`,
		`{"metadata":{"name":"n","generation":9007199254740993,"f":1.5,"e":1e3,"neg":-0,"big":123456789012345678901234567890}}`,
		`{"spec":{"n":[0,-1,1.25,-2.5e-3,6E+2,1e-400,12345678901234567890]},"metadata":{}}`,
		`{"spec":{"t":true,"f":false,"n":null,"e":"","a":[],"o":{}},"metadata":{"finalizers":["a","b"]}}`,
		`{"metadata":{"name":"\ud800 lone surrogate","x":"\ufffd"},"spec":"\ud800\udc00"}`,
		"{\"metadata\":{\"name\":\"bad utf-8 \xff\xfe\"},\"spec\":\"\xc3\x28\"}",
		`{"spec":` + nest(10000) + `}`,
		`{"metadata":` + nest(10000) + `}`,
	}
	refused = []string{
		``, ` {"metadata":{}}`, `{`, `{"metadata"`, `{"metadata":`, `{"metadata":{}`, `{"metadata":{}}x`, `{"metadata":{}}{}`,
		`{"metadata":{},}`, `{,"metadata":{}}`, `{"metadata" {}}`, `{metadata:{}}`, `{'metadata':{}}`,
		`{"spec":{"a":1,}}`, `{"spec":[1,]}`, `{"spec":[1 2]}`, `{"spec":{"a" 1}}`, `{"spec":{"a":}}`,
		`{"spec":"unterminated}`, `{"spec":"bad \x escape"}`, `{"spec":"bad \u12g4"}`, "{\"spec\":\"control \x01\"}",
		"{\"spec\":\"tab \t\"}", `{"spec":01}`, `{"spec":-}`, `{"spec":1.}`, `{"spec":.5}`, `{"spec":1e}`, `{"spec":1e+}`,
		`{"spec":+1}`, `{"spec":tru}`, `{"spec":nul}`, `{"spec":falsey}`, `{"spec":True}`, `{"spec":NaN}`,
		`{"spec":1e400}`, `{"spec":-1e309}`, `{"spec":` + strings.Repeat("9", 400) + `}`, `{"metadata":{"x":1e400}}`,
		`{"spec":{"a":1}]}`, `{"spec":[1}}`, `{"metadata":{}]`, `{"metadata":{"managedFields":[1,]}}`, `{"metadata":{"managedFields" 1}}`, `{"metadata":{"a":1,}}`, "{\"metadata\":{}}\x00",
		`{"spec":"` + "\\", `{"spec":"\u12`, `{"spec":[`, `{"spec":{`, `{"spec":{"a"`, `{"spec":-`, `{"spec":t`,
		`{"spec":` + nest(10001) + `}`,
		`{"metadata":` + nest(10001) + `}`,
	}
	return valid, refused
}

func TestDecodeMetaMatchesFullDecode(t *testing.T) {
	valid, refused := metaCases()
	for _, c := range []string{typicalPod, typicalLease, typicalEvent} {
		valid = append(valid, string(stored(t, c)))
	}
	for i, c := range append(valid, refused...) {
		_, err := (&Service{}).decode(&registry.Entry{}, store.KV{Key: "k", Value: []byte(c)})
		if (err != nil) != (i >= len(valid)) {
			t.Fatalf("the full decode's verdict on %.80q: %v", c, err)
		}
		sameMeta(t, []byte(c))
	}
}

func TestDecodeListedMetaSharesNothing(t *testing.T) {
	s, e := &Service{}, &registry.Entry{}
	kv := store.KV{Key: "/core/pods/default/web", ModRevision: 7, Value: stored(t, typicalPod)}
	m, err := s.DecodeListedMeta(e, kv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Object["spec"]; ok || m.GetManagedFields() != nil {
		t.Fatal("the metadata decode decoded spec or managedFields")
	}
	if m.GetResourceVersion() != "7" || len(m.GetOwnerReferences()) != 1 || m.GetUID() == "" || len(m.GetLabels()) != 2 {
		t.Fatalf("metadata decode: %v", m.Object["metadata"])
	}
	full, err := s.DecodeShared(e, kv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := full.Object["spec"]; !ok {
		t.Fatal("the partial object was shared")
	}
	if again, _ := s.DecodeListedMeta(e, kv); again != full {
		t.Fatal("a shared decode was not reused")
	}
}

// DecodeMeta decodes whole and shares the versions of kinds that are read again, and
// only metadata for the others, until another reader comes.
func TestDecodeMetaSharesWhatIsReadAgain(t *testing.T) {
	s := &Service{}
	events := &registry.Entry{Prefix: "/core/events/"}
	pods := &registry.Entry{Prefix: "/core/pods/"}
	event, pod := stored(t, typicalEvent), stored(t, typicalPod)
	rev := int64(0)
	// next has the collector read a new version of e, then maybe another reader, and
	// reports whether the collector's decode was whole.
	next := func(e *registry.Entry, readAgain bool) bool {
		rev++
		kv := store.KV{Key: e.Prefix + "ns/x", ModRevision: rev, Value: event}
		if e == pods {
			kv.Value = pod
		}
		u, err := s.DecodeMeta(e, kv)
		if err != nil {
			t.Fatal(err)
		}
		if readAgain {
			w, err := s.DecodeShared(e, kv)
			if err != nil || len(w.Object) <= 3 {
				t.Fatalf("another reader got %v, %v", w, err)
			}
			if again, _ := s.DecodeShared(e, kv); again != w {
				t.Fatal("not shared")
			}
		}
		return len(u.Object) > 3
	}
	// forget has the window forget every version in it.
	forget := func() {
		for i := range 4 {
			rev++
			s.shared.put(sharedKey{"/fill/" + strconv.Itoa(i), rev}, "/fill/", sharedBudget/4, &unstructured.Unstructured{}, nil)
		}
	}
	for i := 0; s.shared.reuse[events.Prefix] >= reuseScale/2 || i == 0; i++ {
		if i == 10 {
			t.Fatal("events unread, still decoded whole")
		}
		if !next(events, false) || !next(pods, true) {
			t.Fatal("decoded partly while the kind's versions were read again")
		}
		forget()
	}
	for range 20 {
		if next(events, false) {
			t.Fatal("events unread, decoded whole")
		}
		if !next(pods, true) {
			t.Fatal("pods decoded partly")
		}
	}
	forget()
	// A reader of events comes.
	for range 10 {
		next(events, true)
		forget()
	}
	if !next(events, false) {
		t.Fatal("events still decoded partly while read again")
	}
}

func FuzzDecodeMeta(f *testing.F) {
	valid, refused := metaCases()
	for _, c := range append(valid, refused...) {
		// The deep nestings would have the fuzzer spend its time minimizing them.
		if len(c) < 4096 {
			f.Add([]byte(c))
		}
	}
	for _, c := range []string{typicalPod, typicalLease, typicalEvent} {
		f.Add(stored(f, c))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		sameMeta(t, value)
	})
}

// BenchmarkDecodeMeta compares the full decode with the metadata decode of what the
// garbage collector reads most.
func BenchmarkDecodeMeta(b *testing.B) {
	e := &registry.Entry{}
	for _, c := range []struct{ name, js string }{{"pod", typicalPod}, {"lease", typicalLease}, {"event", typicalEvent}} {
		kv := store.KV{Key: "/core/pods/default/web", ModRevision: 7, Value: stored(b, c.js)}
		b.Run(c.name+"/full", func(b *testing.B) {
			s := &Service{}
			b.SetBytes(int64(len(kv.Value)))
			for b.Loop() {
				if _, err := s.decode(e, kv); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/meta", func(b *testing.B) {
			s := &Service{}
			b.SetBytes(int64(len(kv.Value)))
			for b.Loop() {
				if _, err := s.DecodeListedMeta(e, kv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
