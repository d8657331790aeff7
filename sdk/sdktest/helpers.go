package sdktest

import (
	"encoding/json"
	"strings"

	"weft.dev/weft/sdk"
)

// Test helpers act as a user of the API would: their writes are fed and enqueued
// like the plugin's own.

func (k *Kernel) kindOf(t testingT, obj map[string]any) Kind {
	t.Helper()
	av, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	g, v, ok := strings.Cut(av, "/")
	if !ok {
		g, v = "", av
	}
	ki, found := k.kindByGVK(sdk.GVK{Group: g, Version: v, Kind: kind})
	if !found {
		t.Fatalf("sdktest: kind %s %s is not served", av, kind)
	}
	return ki
}

func toMap(t testingT, obj any) map[string]any {
	t.Helper()
	var raw []byte
	switch o := obj.(type) {
	case string:
		raw = []byte(o)
	case []byte:
		raw = o
	default:
		var err error
		if raw, err = json.Marshal(obj); err != nil {
			t.Fatalf("sdktest: %v", err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("sdktest: decode object: %v", err)
	}
	return m
}

// Create creates obj (a value, or its JSON as a string) and returns the stored object.
func (k *Kernel) Create(t testingT, obj any) map[string]any {
	t.Helper()
	m := toMap(t, obj)
	ki := k.kindOf(t, m)
	ns, _ := metaOf(m)["namespace"].(string)
	if ki.Namespaced && ns == "" {
		ns = "default"
	}
	raw, _ := json.Marshal(m)
	out, err := k.create(ki, &sdk.CallRequest{Group: ki.GVK.Group, Version: ki.GVK.Version, Resource: ki.Resource, Namespace: ns, Object: raw})
	if err != nil {
		t.Fatalf("sdktest: create: %v", err)
	}
	return out
}

// Apply creates obj, or merges it into the existing object of that name (a merge
// patch: maps merge, other values replace).
func (k *Kernel) Apply(t testingT, obj any) map[string]any {
	t.Helper()
	m := toMap(t, obj)
	ki := k.kindOf(t, m)
	meta := metaOf(m)
	ns, _ := meta["namespace"].(string)
	if ki.Namespaced && ns == "" {
		ns = "default"
	}
	name, _ := meta["name"].(string)
	if k.objs[ki.Resource][key(ns, name)] == nil {
		return k.Create(t, m)
	}
	delete(meta, "resourceVersion")
	patch, _ := json.Marshal(m)
	return k.Patch(t, ki.GVK.Group, ki.Resource, ns, name, sdk.MergePatch, string(patch))
}

// Patch patches an object of group/resource and returns it.
func (k *Kernel) Patch(t testingT, group, resource, ns, name string, pt sdk.PatchType, patch string) map[string]any {
	t.Helper()
	ki, ok := k.kindByResource(group, resource)
	if !ok {
		t.Fatalf("sdktest: resource %s is not served", resource)
	}
	out, err := k.patch(ki, &sdk.CallRequest{Group: group, Resource: resource, Namespace: ns, Name: name, PatchType: string(pt), Patch: []byte(patch)})
	if err != nil {
		t.Fatalf("sdktest: patch %s %s/%s: %v", resource, ns, name, err)
	}
	return out
}

// Delete deletes an object with the given propagation policy ("" for background).
func (k *Kernel) Delete(t testingT, group, resource, ns, name, policy string) {
	t.Helper()
	ki, ok := k.kindByResource(group, resource)
	if !ok {
		t.Fatalf("sdktest: resource %s is not served", resource)
	}
	if _, err := k.delete(ki, ns, name, policy, "", ""); err != nil {
		t.Fatalf("sdktest: delete %s %s/%s: %v", resource, ns, name, err)
	}
}

// Get returns an object of group/resource, or nil.
func (k *Kernel) Get(group, resource, ns, name string) map[string]any {
	ki, ok := k.kindByResource(group, resource)
	if !ok {
		return nil
	}
	return k.objs[ki.Resource][key(ns, name)]
}

// GetInto decodes an object of group/resource into into; false if it does not exist.
func (k *Kernel) GetInto(t testingT, group, resource, ns, name string, into any) bool {
	t.Helper()
	o := k.Get(group, resource, ns, name)
	if o == nil {
		return false
	}
	raw, _ := json.Marshal(o)
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("sdktest: decode %s %s/%s: %v", resource, ns, name, err)
	}
	return true
}

// List returns the objects of group/resource in ns ("" for all) matching a label
// selector, ordered by namespace and name.
func (k *Kernel) List(group, resource, ns, selector string) []map[string]any {
	ki, ok := k.kindByResource(group, resource)
	if !ok {
		return nil
	}
	sel, err := ParseSelector(selector)
	if err != nil {
		return nil
	}
	return k.list(ki, ns, sel)
}

// Events returns the events recorded so far.
func (k *Kernel) Events() []Event { return append([]Event(nil), k.events...) }

// ClearEvents forgets the recorded events.
func (k *Kernel) ClearEvents() { k.events = nil }

func (k *Kernel) pods(ns, selector string) []map[string]any {
	return k.List("", "pods", ns, selector)
}

func active(pod map[string]any) bool {
	phase := lookup(pod, []string{"status", "phase"})
	return str(metaOf(pod), "deletionTimestamp") == "" && phase != "Succeeded" && phase != "Failed"
}

// SetPodsReady plays the scheduler and the kubelet for the active pods matching
// selector in ns: binds unscheduled ones to node "sdktest-node" and reports them
// Running and Ready (the Ready condition's lastTransitionTime is now). It returns how
// many pods it changed.
func (k *Kernel) SetPodsReady(ns, selector string) int {
	return k.setPods(ns, selector, true)
}

// SetPodsNotReady reports the matching active pods Running but not Ready.
func (k *Kernel) SetPodsNotReady(ns, selector string) int {
	return k.setPods(ns, selector, false)
}

func (k *Kernel) setPods(ns, selector string, ready bool) int {
	ki, _ := k.kindByResource("", "pods")
	n := 0
	for _, pod := range k.pods(ns, selector) {
		if !active(pod) {
			continue
		}
		next := deepCopy(pod).(map[string]any)
		spec, _ := next["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
			next["spec"] = spec
		}
		if spec["nodeName"] == nil || spec["nodeName"] == "" {
			spec["nodeName"] = "sdktest-node"
			pod = k.replace(ki, pod, next, false)
			next = deepCopy(pod).(map[string]any)
		}
		want := "False"
		if ready {
			want = "True"
		}
		st := map[string]any{"phase": "Running"}
		cond := map[string]any{"type": "Ready", "status": want, "lastTransitionTime": k.timestamp()}
		if old, ok := pod["status"].(map[string]any); ok {
			for k, v := range old {
				st[k] = v
			}
			st["phase"] = "Running"
			if cs, ok := old["conditions"].([]any); ok {
				for _, c := range cs {
					if cm, _ := c.(map[string]any); cm != nil && cm["type"] == "Ready" && cm["status"] == want {
						cond = cm
					}
				}
			}
		}
		st["conditions"] = []any{cond}
		next["status"] = st
		if out := k.replace(ki, pod, next, true); !jsonEqual(out, pod) {
			n++
		}
	}
	return n
}

// FinishTerminating removes the pods that have a deletionTimestamp, as kubelets do
// once their containers have stopped, and returns how many it removed.
func (k *Kernel) FinishTerminating() int {
	ki, _ := k.kindByResource("", "pods")
	n := 0
	for _, pod := range k.pods("", "") {
		if str(metaOf(pod), "deletionTimestamp") != "" {
			k.remove(ki, pod, "Background")
			n++
		}
	}
	return n
}
