package objects

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"
)

func decodeObject(t testing.TB, s string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// The hand-written managedFields accessors give what Unstructured's give, for the
// entries the field manager writes and for everything else a client could store.
func TestFastManagedFieldsMatchUnstructured(t *testing.T) {
	cases := map[string]string{
		"typical": `{"metadata":{"managedFields":[
			{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-11-22T00:00:00Z","fieldsType":"FieldsV1",
			 "fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}},
			{"manager":"weft-agent","operation":"Update","apiVersion":"v1","time":"2026-11-22T01:02:03+02:00","fieldsType":"FieldsV1","subresource":"status",
			 "fieldsV1":{"f:status":{"f:conditions":{"k:{\"type\":\"Ready\"}":{".":{},"f:status":{}}},"f:phase":{}}}}]}}`,
		"escapes in keys": `{"metadata":{"managedFields":[{"manager":"m","operation":"Apply","apiVersion":"v1","fieldsType":"FieldsV1",
			"fieldsV1":{"f:data":{"f:a\\b":{},"f:\u00e9":{},"f:<&>":{},"k:{\"k\":\"a\\\"b\"}":{}}}}]}}`,
		"no time, no fields": `{"metadata":{"managedFields":[{"manager":"m","operation":"Update","apiVersion":"v1"}]}}`,
		"empty list":         `{"metadata":{"managedFields":[]}}`,
		"absent":             `{"metadata":{"name":"x"}}`,
		"no metadata":        `{"kind":"Pod"}`,
		"not a list":         `{"metadata":{"managedFields":{"a":1}}}`,
		"item not a map":     `{"metadata":{"managedFields":["x"]}}`,
		"manager not string": `{"metadata":{"managedFields":[{"manager":5,"operation":"Update"}]}}`,
		"unknown key":        `{"metadata":{"managedFields":[{"manager":"m","operation":"Update","extra":"x"}]}}`,
		"fieldsV1 null":      `{"metadata":{"managedFields":[{"manager":"m","operation":"Update","fieldsV1":null}]}}`,
		"fieldsV1 not a map": `{"metadata":{"managedFields":[{"manager":"m","operation":"Update","fieldsV1":[1]}]}}`,
		"bad time":           `{"metadata":{"managedFields":[{"manager":"m","operation":"Update","time":"yesterday"}]}}`,
		"leaf not an object": `{"metadata":{"managedFields":[{"manager":"m","operation":"Update","fieldsV1":{"f:a":1}}]}}`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			u := decodeObject(t, src)
			want := u.GetManagedFields()
			got := fastManaged{u}.GetManagedFields()
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("get:\n got %+v\nwant %+v", got, want)
			}
			// Writing back what was read, and writing nothing, leave the same object.
			for _, entries := range [][]metav1.ManagedFieldsEntry{want, nil, {}} {
				a, b := u.DeepCopy(), u.DeepCopy()
				a.SetManagedFields(entries)
				fastManaged{b}.SetManagedFields(entries)
				if !reflect.DeepEqual(a.Object, b.Object) {
					t.Fatalf("set %+v:\n got %v\nwant %v", entries, b.Object, a.Object)
				}
			}
		})
	}
}

// Entries the decoder never produces are written as Unstructured writes them.
func TestFastSetManagedFieldsUnusualEntries(t *testing.T) {
	zero := metav1.Time{}
	now := metav1.NewTime(time.Date(2026, 11, 22, 3, 4, 5, 999, time.FixedZone("x", 3600)))
	for i, e := range []metav1.ManagedFieldsEntry{
		{Manager: "m", Time: &zero},
		{Manager: "m", Time: &now, FieldsV1: &metav1.FieldsV1{}},
		{Manager: "m", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:a":{}, "f:b" : { ".":{} } }`)}},
		{Manager: "m", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:a":{}}x`)}},
		{Manager: "m", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:\u00e9":{}}`)}},
	} {
		a := decodeObject(t, `{"metadata":{"name":"x"}}`)
		b := a.DeepCopy()
		entries := []metav1.ManagedFieldsEntry{e}
		a.SetManagedFields(entries)
		fastManaged{b}.SetManagedFields(entries)
		if !reflect.DeepEqual(a.Object, b.Object) {
			t.Errorf("%d: got %v, want %v", i, b.Object, a.Object)
		}
	}
}

// A pod's life tracked through the hand-written accessors owns what it owns
// through Unstructured's.
func TestTrackUpdateMatchesFieldManager(t *testing.T) {
	reg, e := podRegistry(t)
	fms := newFieldManagers(reg)
	main, err := fms.get(e, "")
	if err != nil {
		t.Fatal(err)
	}
	const head = `"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web"}}`
	steps := []struct{ manager, obj string }{
		{"kubectl-create", `{` + head + `,"spec":{"containers":[{"name":"c","image":"busybox"}]}}`},
		{"kubectl-label", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web","tier":"x"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`},
		{"kubectl-edit", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"tier":"x"}},"spec":{"containers":[{"name":"c","image":"busybox:2"},{"name":"d","image":"busybox"}]}}`},
		{"kubectl-create", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"tier":"y"}},"spec":{"containers":[{"name":"d","image":"busybox"}]}}`},
	}
	want := decodeObject(t, `{"apiVersion":"v1","kind":"Pod"}`)
	got := want.DeepCopy()
	for i, st := range steps {
		next := decodeObject(t, st.obj)
		next.SetManagedFields(want.GetManagedFields())
		w := main.UpdateNoErrors(want, next, st.manager).(*unstructured.Unstructured)
		next = decodeObject(t, st.obj)
		next.SetManagedFields(got.GetManagedFields())
		g := trackUpdate(main, got, next, st.manager)
		if ow, og := ownership(t, w), ownership(t, g); ow != og {
			t.Fatalf("step %d (%s):\nfield manager: %s\nhand-written:  %s", i, st.manager, ow, og)
		}
		if len(g.GetManagedFields()) == 0 {
			t.Fatalf("step %d: no managed fields", i)
		}
		want, got = w, g
	}
}

// An applied configuration is still validated against the schema, although the
// objects being stored are not validated twice.
func TestApplyStillValidatesConfiguration(t *testing.T) {
	reg, e := podRegistry(t)
	fms := newFieldManagers(reg)
	main, err := fms.get(e, "")
	if err != nil {
		t.Fatal(err)
	}
	live := trackUpdate(main, decodeObject(t, `{"apiVersion":"v1","kind":"Pod"}`),
		decodeObject(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`), "create")
	bad := decodeObject(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":"not a list"}}`)
	if _, err := main.Apply(live, bad, "apply", false); err == nil || !strings.Contains(err.Error(), "containers") {
		t.Fatalf("apply of an invalid configuration: %v", err)
	}
	// A stored object that no longer fits its schema does not break an update (no
	// panic) and does not lose the ownership already recorded.
	odd := decodeObject(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1"},"spec":{"containers":"not a list"}}`)
	odd.SetManagedFields(live.GetManagedFields())
	out := trackUpdate(main, odd, decodeObject(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`), "edit")
	if out == nil || len(out.GetManagedFields()) == 0 {
		t.Fatalf("managed fields lost: %v", out)
	}
}

// parseFieldsV1 accepts only what it decodes as encoding/json does.
func FuzzParseFieldsV1(f *testing.F) {
	for _, s := range []string{`{}`, `{"f:a":{}}`, `{"f:a":{".":{},"k:{\"name\":\"x\"}":{"f:b":{}}}}`, ` { "a" : { } } `, `{"a":{},}`, `{"a\\":{}}`, `{"\u00e9":{}}`, `{"a":1}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := parseFieldsV1(raw)
		if !ok {
			return
		}
		var want any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("accepted %q, which encoding/json rejects: %v", raw, err)
		}
		if !reflect.DeepEqual(any(got), want) {
			t.Fatalf("%q: got %v, want %v", raw, got, want)
		}
	})
}

// BenchmarkTrackPodWrites tracks the ownership of a pod's create and of a node's
// status write (whole objects; trackStatus halves that again), through
// Unstructured's managedFields accessors and through the hand-written ones.
func BenchmarkTrackPodWrites(b *testing.B) {
	_, _, main, status := podFieldManagers(b)
	pod := decodeObject(b, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web"}},
		"spec":{"nodeName":"n1","schedulerName":"default-scheduler","restartPolicy":"Always","dnsPolicy":"ClusterFirst","terminationGracePeriodSeconds":30,
		"containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File",
		"resources":{"requests":{"cpu":"100m","memory":"64Mi"}},"ports":[{"containerPort":8080,"protocol":"TCP"}]}]}}`)
	const st = `{"phase":"Running","podIP":"10.0.0.5","podIPs":[{"ip":"10.0.0.5"}],"startTime":"2026-11-22T00:00:00Z","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Initialized","status":"True"},{"type":"ContainersReady","status":"True"},{"type":"Ready","status":"True"}],"containerStatuses":[{"name":"c","ready":true,"started":true,"restartCount":0,"image":"busybox","imageID":"x","state":{"running":{"startedAt":"2026-11-22T00:00:01Z"}}}]}`
	empty := decodeObject(b, `{"apiVersion":"v1","kind":"Pod"}`)
	for _, fast := range []bool{false, true} {
		track := func(fm interface {
			UpdateNoErrors(live, next runtime.Object, manager string) runtime.Object
		}, live, next *unstructured.Unstructured, manager string) *unstructured.Unstructured {
			return fm.UpdateNoErrors(live, next, manager).(*unstructured.Unstructured)
		}
		name := "unstructured"
		if fast {
			name = "hand-written"
		}
		b.Run(name+"/create", func(b *testing.B) {
			for b.Loop() {
				if fast {
					trackUpdate(main, empty, pod.DeepCopy(), "kubectl")
				} else {
					track(main, empty, pod.DeepCopy(), "kubectl")
				}
			}
		})
		created := trackUpdate(main, empty, pod.DeepCopy(), "kubectl")
		next := created.DeepCopy()
		next.Object["status"] = decodeObject(b, st).Object
		b.Run(name+"/status", func(b *testing.B) {
			for b.Loop() {
				if fast {
					trackUpdate(status, created, next.DeepCopy(), "weft-agent")
				} else {
					track(status, created, next.DeepCopy(), "weft-agent")
				}
			}
		})
	}
}
