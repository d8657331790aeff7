package objects

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/ujson"
)

// randomStatus is a pod status drawn from the fields and lists nodes write.
func randomStatus(r *rand.Rand) string {
	var parts []string
	if r.IntN(4) > 0 {
		parts = append(parts, fmt.Sprintf(`"phase":%q`, []string{"Pending", "Running", "Succeeded"}[r.IntN(3)]))
	}
	if r.IntN(2) == 0 {
		parts = append(parts, fmt.Sprintf(`"podIP":"10.0.0.%d","podIPs":[{"ip":"10.0.0.%d"}]`, r.IntN(3), r.IntN(3)))
	}
	if r.IntN(3) > 0 {
		var cs []string
		for _, t := range []string{"PodScheduled", "Initialized", "ContainersReady", "Ready"} {
			if r.IntN(3) > 0 {
				cs = append(cs, fmt.Sprintf(`{"type":%q,"status":%q,"lastTransitionTime":"2026-11-21T10:00:0%dZ"}`, t, []string{"True", "False"}[r.IntN(2)], r.IntN(2)))
			}
		}
		parts = append(parts, `"conditions":[`+strings.Join(cs, ",")+`]`)
	}
	if r.IntN(2) == 0 {
		var cs []string
		for _, c := range []string{"c", "d"} {
			if r.IntN(3) > 0 {
				state := []string{`{}`, `{"waiting":{"reason":"ContainerCreating"}}`, `{"running":{"startedAt":"2026-11-21T10:00:00Z"}}`,
					`{"running":{"startedAt":"2026-11-21T10:00:01Z"}}`}[r.IntN(4)]
				cs = append(cs, fmt.Sprintf(`{"name":%q,"ready":%v,"restartCount":%d,"image":"busybox","imageID":"","state":%s}`, c, r.IntN(2) == 0, r.IntN(2), state))
			}
		}
		parts = append(parts, `"containerStatuses":[`+strings.Join(cs, ",")+`]`)
	}
	if r.IntN(2) == 0 {
		parts = append(parts, `"qosClass":"BestEffort"`)
	}
	if r.IntN(2) == 0 {
		parts = append(parts, fmt.Sprintf(`"hostIP":"192.168.0.%d","hostIPs":[{"ip":"192.168.0.%d"}],"startTime":"2026-11-21T10:00:0%dZ"`, r.IntN(2), r.IntN(2), r.IntN(2)))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// trackStatusFast must record what the status endpoint's field manager records,
// entry for entry and in its order, whenever it answers; and it must answer for the
// first status write after a pod's creation.
func TestTrackStatusFastMatchesFieldManager(t *testing.T) {
	fms, e, main, status := podFieldManagers(t)
	o, ok := fms.statusOwnership(e)
	if !ok {
		t.Fatal("no status ownership after the status field manager was built")
	}
	obj := func(s string) *unstructured.Unstructured { return decodeObject(t, s) }
	const head = `"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web"}}`
	const spec = `"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox"},{"name":"d","image":"busybox"}]}`
	r := rand.New(rand.NewPCG(7, 8))
	fast := 0
	for i := range 400 {
		// Spec writers, one to three, with the status some had at creation.
		created := obj(`{` + head + `,` + spec + `,"status":` + randomStatus(r) + `}`)
		cur := main.UpdateNoErrors(obj(`{"apiVersion":"v1","kind":"Pod"}`), created, "kubectl-create").(*unstructured.Unstructured)
		writers := []string{"kubectl-create"}
		for _, w := range []string{"labeler", "weft-agent"}[:r.IntN(3)] {
			next := cur.DeepCopy()
			next.SetLabels(map[string]string{"app": "web", w: fmt.Sprint(i)})
			cur = main.UpdateNoErrors(cur.DeepCopy(), next, w).(*unstructured.Unstructured)
			writers = append(writers, w)
		}
		// Sometimes a status owner already, which the fast path leaves alone.
		if r.IntN(4) == 0 {
			next := cur.DeepCopy()
			next.Object["status"] = obj(randomStatus(r)).Object
			cur = status.UpdateNoErrors(cur.DeepCopy(), next, "weft-scheduler").(*unstructured.Unstructured)
		}
		writer := []string{"weft-agent", "kubectl", writers[r.IntN(len(writers))]}[r.IntN(3)]
		next := cur.DeepCopy()
		next.Object["status"] = obj(randomStatus(r)).Object
		if r.IntN(8) == 0 {
			delete(next.Object, "status")
		}

		// The field manager reads its own clock, and an entry's time (in seconds)
		// decides its place among entries: both must see the same second.
		var want, got *unstructured.Unstructured
		var answered bool
		for {
			now := time.Now()
			want = trackStatus(status, cur, next.DeepCopy(), writer)
			got = next.DeepCopy()
			answered = trackStatusFast(o, cur, got, writer, now)
			if time.Now().Truncate(time.Second).Equal(now.Truncate(time.Second)) {
				break
			}
		}
		if !answered {
			continue
		}
		fast++
		if w, g := entriesJSON(t, want, writer), entriesJSON(t, got, writer); w != g {
			t.Fatalf("case %d (writer %s):\nfield manager: %s\nfast:          %s", i, writer, w, g)
		}
	}
	if fast < 150 {
		t.Fatalf("the fast path answered %d of 400 writes", fast)
	}
}

// entriesJSON is managedFields as stored, the writer's status entry's time aside
// (each path reads the clock).
func entriesJSON(t *testing.T, u *unstructured.Unstructured, writer string) string {
	items, _, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
	for _, x := range items {
		m := x.(map[string]any)
		if m["manager"] == writer && m["subresource"] == SubStatus {
			m["time"] = "now"
		}
	}
	raw, err := ujson.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// The cases the fast path must leave to the field manager.
func TestTrackStatusFastDeclines(t *testing.T) {
	fms, e, _, _ := podFieldManagers(t)
	o, _ := fms.statusOwnership(e)
	entry := func(manager, op, sub, tm, fields string) string {
		return fmt.Sprintf(`{"manager":%q,"operation":%q,"apiVersion":"v1","time":%q,"fieldsType":"FieldsV1","fieldsV1":%s%s}`,
			manager, op, tm, fields, map[bool]string{true: `,"subresource":"` + sub + `"`}[sub != ""])
	}
	spec := `{"f:spec":{"f:nodeName":{}}}`
	pod := func(entries ...string) *unstructured.Unstructured {
		return decodeObject(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","managedFields":[`+strings.Join(entries, ",")+`]},"status":{"phase":"Pending"}}`)
	}
	many := make([]string, 10)
	for i := range many {
		many[i] = entry(fmt.Sprint("m", i), "Update", "", "2026-11-21T10:00:00Z", spec)
	}
	for name, cur := range map[string]*unstructured.Unstructured{
		"no entries":        pod(),
		"ten entries":       pod(many...),
		"status owned":      pod(entry("a", "Update", "status", "2026-11-21T10:00:00Z", `{"f:status":{"f:phase":{}}}`)),
		"writer's own":      pod(entry("weft-agent", "Update", "status", "2026-11-21T10:00:00Z", spec)),
		"time not in UTC":   pod(entry("a", "Update", "", "2026-11-21T12:00:00+02:00", spec)),
		"out of order":      pod(entry("b", "Update", "", "2026-11-21T11:00:00Z", spec), entry("a", "Update", "", "2026-11-21T10:00:00Z", spec)),
		"another version":   pod(strings.Replace(entry("a", "Update", "", "2026-11-21T10:00:00Z", spec), `"v1"`, `"v2"`, 1)),
		"empty field set":   pod(entry("a", "Update", "", "2026-11-21T10:00:00Z", `{}`)),
		"unknown entry key": pod(strings.Replace(entry("a", "Update", "", "2026-11-21T10:00:00Z", spec), `{"manager"`, `{"extra":"x","manager"`, 1)),
		"unknown operation": pod(entry("a", "Replace", "", "2026-11-21T10:00:00Z", spec)),
	} {
		next := cur.DeepCopy()
		_ = unstructured.SetNestedField(next.Object, "Running", "status", "phase")
		before := entriesJSON(t, next, "")
		if trackStatusFast(o, cur, next, "weft-agent", time.Now()) {
			t.Errorf("%s: the fast path answered", name)
		}
		if after := entriesJSON(t, next, ""); after != before {
			t.Errorf("%s: next changed though the fast path declined", name)
		}
	}
}

// BenchmarkFirstStatusWrite is a pod's first status write by its node, whose
// creator owns only spec and metadata: through the field manager, and by
// trackStatusFast.
func BenchmarkFirstStatusWrite(b *testing.B) {
	fms, e, main, status := podFieldManagers(b)
	o, _ := fms.statusOwnership(e)
	created := decodeObject(b, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"u1","labels":{"app":"web"}},
"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox","resources":{"requests":{"cpu":"100m"}}}]},"status":{"phase":"Pending","qosClass":"Burstable"}}`)
	cur := main.UpdateNoErrors(decodeObject(b, `{"apiVersion":"v1","kind":"Pod"}`), created, "kubectl-create").(*unstructured.Unstructured)
	next := cur.DeepCopy()
	next.Object["status"] = map[string]any{"phase": "Running", "qosClass": "Burstable", "podIP": "10.0.0.9", "podIPs": []any{map[string]any{"ip": "10.0.0.9"}},
		"conditions":        []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-21T10:00:00Z"}},
		"containerStatuses": []any{map[string]any{"name": "c", "ready": true, "restartCount": int64(0), "image": "busybox", "imageID": "sim://busybox"}}}
	b.Run("field-manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			trackStatus(status, cur, next.DeepCopy(), "weft-agent")
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !trackStatusFast(o, cur, next.DeepCopy(), "weft-agent", time.Now()) {
				b.Fatal("declined")
			}
		}
	})
}

// An apiVersion that is not a string is declined, not compared (maps do not compare).
func TestTrackStatusFastOddAPIVersion(t *testing.T) {
	fms, e, main, _ := podFieldManagers(t)
	o, _ := fms.statusOwnership(e)
	cur := main.UpdateNoErrors(decodeObject(t, `{"apiVersion":"v1","kind":"Pod"}`),
		decodeObject(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"c","image":"i"}]}}`), "kubectl").(*unstructured.Unstructured)
	cur.Object["apiVersion"] = map[string]any{"odd": true}
	next := cur.DeepCopy()
	next.Object["status"] = map[string]any{"phase": "Running"}
	if trackStatusFast(o, cur, next, "weft-agent", time.Now()) {
		t.Fatal("answered for an apiVersion that is a map")
	}
}
