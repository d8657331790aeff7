package apps

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/sdk"
	"weft.dev/weft/sdk/sdktest"
)

func TestReplicaSetScale(t *testing.T) {
	tests := []struct {
		name    string
		initial int
		scaleTo []int
	}{
		{"create", 3, nil},
		{"scale up", 2, []int{7}},
		{"scale down", 5, []int{2}},
		{"to zero and back", 4, []int{0, 3}},
		{"burst above 500", 10, []int{600}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newKernel(t)
			k.Create(t, rsObject("web", tc.initial, "web"))
			k.Run(t)
			want := tc.initial
			check := func() {
				t.Helper()
				ps := k.List("", "pods", "default", "app=web")
				if len(ps) != want {
					t.Fatalf("%d pods, want %d", len(ps), want)
				}
				rs := getRS(t, k, "web")
				for _, p := range ps {
					m := p["metadata"].(map[string]any)
					if !strings.HasPrefix(m["name"].(string), "web-") || len(m["name"].(string)) != len("web-")+5 {
						t.Errorf("pod name %v", m["name"])
					}
					refs := m["ownerReferences"].([]any)
					ref := refs[0].(map[string]any)
					if len(refs) != 1 || ref["uid"] != rs.Metadata.UID || ref["controller"] != true || ref["blockOwnerDeletion"] != true || ref["kind"] != "ReplicaSet" {
						t.Errorf("ownerReferences %v", refs)
					}
					if m["annotations"].(map[string]any)["a"] != "b" {
						t.Errorf("template annotations not copied: %v", m["annotations"])
					}
					c := p["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
					if c["x-unknown"] != "kept" {
						t.Errorf("unknown template field lost: %v", c)
					}
				}
				if rs.Status.Replicas != int32(want) || rs.Status.FullyLabeledReplicas != int32(want) || rs.Status.ObservedGeneration != rs.Metadata.Generation {
					t.Errorf("status %+v, generation %d", rs.Status, rs.Metadata.Generation)
				}
			}
			if tc.initial <= 500 {
				check()
			}
			for _, n := range tc.scaleTo {
				k.Patch(t, "apps", "replicasets", "default", "web", sdk.MergePatch, `{"spec":{"replicas":`+itoa(n)+`}}`)
				k.Run(t)
				want = n
				check()
			}
			if got, want := len(events(k, "SuccessfulCreate")), len(k.List("", "pods", "default", ""))+len(events(k, "SuccessfulDelete")); got != want {
				t.Errorf("%d SuccessfulCreate events, want %d", got, want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// createBatches are the sizes of the batches of pod creates, in order.
func createBatches(k *sdktest.Kernel) []int {
	var out []int
	for _, b := range k.Batches {
		if len(b) > 0 && b[0] == sdk.OpCreate {
			out = append(out, len(b))
		}
	}
	return out
}

func TestReplicaSetSlowStart(t *testing.T) {
	tests := []struct {
		replicas int
		batches  []int
	}{
		{1, []int{1}},
		{3, []int{1, 2}},
		{10, []int{1, 2, 4, 3}},
		{100, []int{1, 2, 4, 8, 16, 32, 37}},
		{700, []int{1, 2, 4, 8, 16, 32, 64, 128, 245, 1, 2, 4, 8, 16, 32, 64, 73}},
	}
	for _, tc := range tests {
		k := newKernel(t)
		k.Create(t, rsObject("web", tc.replicas, "web"))
		k.Run(t)
		if got := createBatches(k); !slices.Equal(got, tc.batches) {
			t.Errorf("%d replicas: batches %v, want %v", tc.replicas, got, tc.batches)
		}
		if n := len(k.List("", "pods", "default", "")); n != tc.replicas {
			t.Errorf("%d replicas: %d pods", tc.replicas, n)
		}
	}
}

func TestReplicaSetCreateError(t *testing.T) {
	k := newKernel(t)
	creates := 0
	quota := &sdk.Status{Code: 403, Reason: "Forbidden", Message: `pods "web-x" is forbidden: exceeded quota: q`}
	k.Fault = func(op sdk.Op, req *sdk.CallRequest) *sdk.Status {
		if op == sdk.OpCreate && req.Resource == "pods" {
			creates++
			if creates > 3 {
				return quota
			}
		}
		return nil
	}
	k.Create(t, rsObject("web", 10, "web"))
	k.Run(t)
	if n := len(k.List("", "pods", "default", "")); n != 3 {
		t.Fatalf("%d pods, want 3 (batches 1 and 2 succeed, the third fails)", n)
	}
	// Slow start stops at the failing batch; the status update that follows requeues
	// the ReplicaSet, as in kube, and each retry fails at its first batch of one.
	if got := createBatches(k); len(got) < 3 || !slices.Equal(got[:3], []int{1, 2, 4}) || slices.Max(got[3:]) != 1 {
		t.Errorf("batches %v, want [1 2 4 1 ...]", got)
	}
	if len(k.Errors) == 0 {
		t.Error("the reconcile did not fail")
	}
	rs := getRS(t, k, "web")
	c := sdk.FindCondition(rs.Status.Conditions, "ReplicaFailure")
	if c == nil || c.Status != "True" || c.Reason != "FailedCreate" || c.Message != quota.Message {
		t.Errorf("ReplicaFailure condition %+v", c)
	}
	if got := events(k, "FailedCreate"); len(got) < 4 || got[0] != "Error creating: "+quota.Message {
		t.Errorf("FailedCreate events %q", got)
	}
	if got := events(k, "SuccessfulCreate"); len(got) != 3 || !strings.HasPrefix(got[0], "Created pod: web-") {
		t.Errorf("SuccessfulCreate events %q", got)
	}
	k.Fault = nil
	k.Advance(time.Minute)
	k.Run(t)
	if n := len(k.List("", "pods", "default", "")); n != 10 {
		t.Fatalf("%d pods after the quota lifted, want 10", n)
	}
	if rs := getRS(t, k, "web"); sdk.FindCondition(rs.Status.Conditions, "ReplicaFailure") != nil {
		t.Error("ReplicaFailure condition not removed")
	}
}

func TestReplicaSetStatus(t *testing.T) {
	k := newKernel(t)
	k.Create(t, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web"},
	"spec":{"replicas":3,"minReadySeconds":10,"selector":{"matchLabels":{"app":"web"}},
	"template":{"metadata":{"labels":{"app":"web","tier":"fe"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`)
	k.Run(t)
	// A pod adopted without the template's full labels counts, but not as fully labeled.
	k.Patch(t, "apps", "replicasets", "default", "web", sdk.MergePatch, `{"spec":{"replicas":4}}`)
	k.Create(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"stray","labels":{"app":"web"}},"spec":{}}`)
	k.Run(t)
	rs := getRS(t, k, "web")
	if rs.Status.Replicas != 4 || rs.Status.FullyLabeledReplicas != 3 || rs.Status.ReadyReplicas != 0 {
		t.Fatalf("status %+v", rs.Status)
	}
	k.SetPodsReady("default", "app=web")
	k.Run(t)
	rs = getRS(t, k, "web")
	if rs.Status.ReadyReplicas != 4 || rs.Status.AvailableReplicas != 0 {
		t.Fatalf("before minReadySeconds: status %+v", rs.Status)
	}
	k.Advance(11 * time.Second)
	k.Run(t)
	rs = getRS(t, k, "web")
	if rs.Status.AvailableReplicas != 4 || rs.Status.ObservedGeneration != 2 {
		t.Fatalf("after minReadySeconds: status %+v", rs.Status)
	}
}

func TestReplicaSetAdoptionAndRelease(t *testing.T) {
	k := newKernel(t)
	orphan := k.Create(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"orphan","labels":{"app":"web"}},"spec":{}}`)
	_ = orphan
	k.Create(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"other","labels":{"app":"web"},
		"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"x","uid":"other-uid","controller":true}]},"spec":{}}`)
	k.Create(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"done","labels":{"app":"web"}},"spec":{}}`)
	if _, err := k.Client().UpdateStatus(podRes, "default", map[string]any{"metadata": map[string]any{"name": "done"}, "status": map[string]any{"phase": "Succeeded"}}); err != nil {
		t.Fatal(err)
	}
	k.Create(t, rsObject("web", 3, "web"))
	k.Run(t)
	rs := getRS(t, k, "web")
	owned := func(name string) bool {
		p := k.Get("", "pods", "default", name)
		refs, _ := p["metadata"].(map[string]any)["ownerReferences"].([]any)
		for _, r := range refs {
			if r.(map[string]any)["uid"] == rs.Metadata.UID {
				return true
			}
		}
		return false
	}
	if !owned("orphan") {
		t.Error("the matching orphan was not adopted")
	}
	if owned("other") {
		t.Error("a pod of another controller was adopted")
	}
	if n := len(k.List("", "pods", "default", "")); n != 3+2 {
		t.Errorf("%d pods, want 5: the 3 replicas (orphan included), other and done", n)
	}
	// Relabel the orphan: it is released and replaced.
	k.Patch(t, "", "pods", "default", "orphan", sdk.MergePatch, `{"metadata":{"labels":{"app":"debug"}}}`)
	k.Run(t)
	if owned("orphan") {
		t.Error("a pod that no longer matches was not released")
	}
	if p := k.Get("", "pods", "default", "orphan"); p["metadata"].(map[string]any)["ownerReferences"] != nil {
		t.Errorf("released pod keeps ownerReferences %v", p["metadata"].(map[string]any)["ownerReferences"])
	}
	if rs := getRS(t, k, "web"); rs.Status.Replicas != 3 {
		t.Errorf("status.replicas %d after release, want 3", rs.Status.Replicas)
	}
	if n := len(k.List("", "pods", "default", "app=web")); n != 5 {
		t.Errorf("%d pods with app=web, want 5 (3 owned, other and done)", n)
	}
}

func TestReplicaSetExpectations(t *testing.T) {
	k := newKernel(t)
	k.Create(t, rsObject("web", 5, "web"))
	req := sdk.ReconcileRequest{Controller: "replicaset", Kind: rsGVK, Namespace: "default", Name: "web"}
	if _, err := k.Reconcile(req); err != nil {
		t.Fatal(err)
	}
	k.HoldFeed = true // the host has not fed the created pods back yet
	for range 3 {
		k.Reconcile(req) // its status update may conflict: the cache is stale
	}
	if n := len(k.List("", "pods", "default", "")); n != 5 {
		t.Fatalf("%d pods, want 5: a lagging feed made the controller create again", n)
	}
	// The same for deletes.
	k.HoldFeed = false
	k.Run(t)
	k.Patch(t, "apps", "replicasets", "default", "web", sdk.MergePatch, `{"spec":{"replicas":2}}`)
	if _, err := k.Reconcile(req); err != nil {
		t.Fatal(err)
	}
	k.HoldFeed = true
	k.Patch(t, "apps", "replicasets", "default", "web", sdk.MergePatch, `{"spec":{"replicas":1}}`)
	k.HoldFeed = false
	k.Flush() // the resize arrives, the deletions too
	k.Run(t)
	if n := len(k.List("", "pods", "default", "")); n != 1 {
		t.Fatalf("%d pods, want 1", n)
	}
	if got := len(events(k, "SuccessfulDelete")); got != 4 {
		t.Errorf("%d deletes, want 4", got)
	}
	// Expectations expire after five minutes: a creation never fed back stops
	// holding the ReplicaSet.
	k.Patch(t, "apps", "replicasets", "default", "web", sdk.MergePatch, `{"spec":{"replicas":2}}`)
	k.Flush()
	k.HoldFeed = true
	k.Reconcile(req)
	k.Reconcile(req)
	if n := len(k.List("", "pods", "default", "")); n != 2 {
		t.Fatalf("%d pods, want 2", n)
	}
	k.Advance(expectationsTTL + time.Second)
	k.Reconcile(req)
	if n := len(k.List("", "pods", "default", "")); n != 3 {
		t.Fatalf("%d pods, want 3: an expired expectation should no longer block (as in kube)", n)
	}
}

func TestDeletionRanking(t *testing.T) {
	now := sdktest.Epoch.Add(time.Hour)
	ts := func(d time.Duration) string { return formatTime(now.Add(-d)) }
	mk := func(name, node, phase string, ready bool, readySince time.Duration, restarts int32, age time.Duration) *Pod {
		p := &Pod{}
		p.Metadata.Name, p.Metadata.UID, p.Metadata.CreationTimestamp = name, name, ts(age)
		p.Spec.NodeName, p.Status.Phase = node, phase
		if ready {
			p.Status.Ready, p.Status.ReadySince = "True", ts(readySince)
		}
		p.Status.Restarts = restarts
		return p
	}
	tests := []struct {
		name        string
		first, then *Pod
	}{
		{"unscheduled before scheduled", mk("a", "", "Pending", false, 0, 0, time.Minute), mk("b", "n1", "Pending", false, 0, 0, time.Minute)},
		{"pending before running", mk("a", "n1", "Pending", false, 0, 0, time.Minute), mk("b", "n1", "Running", false, 0, 0, time.Minute)},
		{"unknown before running", mk("a", "n1", "Unknown", false, 0, 0, time.Minute), mk("b", "n1", "Running", false, 0, 0, time.Minute)},
		{"not ready before ready", mk("a", "n1", "Running", false, 0, 0, time.Minute), mk("b", "n1", "Running", true, time.Minute, 0, time.Minute)},
		{"ready for less time first", mk("a", "n1", "Running", true, 10*time.Second, 0, time.Hour), mk("b", "n1", "Running", true, 40*time.Minute, 0, time.Hour)},
		{"more restarts first", mk("a", "n1", "Running", true, time.Minute, 5, time.Hour), mk("b", "n1", "Running", true, time.Minute, 1, time.Hour)},
		{"newer first", mk("a", "n1", "Running", false, 0, 0, time.Second), mk("b", "n1", "Running", false, 0, 0, time.Hour)},
	}
	for _, tc := range tests {
		for _, order := range [][]*Pod{{tc.first, tc.then}, {tc.then, tc.first}} {
			got := podsToDelete(order, nil, 1, now)
			if got[0] != tc.first {
				t.Errorf("%s: deleted %s first", tc.name, got[0].Metadata.Name)
			}
		}
	}
	// Deletion cost and doubling up on a node.
	cheap, dear := mk("cheap", "n1", "Running", true, time.Minute, 0, time.Hour), mk("dear", "n1", "Running", true, time.Minute, 0, time.Hour)
	cheap.Metadata.Annotations = map[string]string{deletionCostAnn: "-10"}
	if got := podsToDelete([]*Pod{dear, cheap}, nil, 1, now); got[0] != cheap {
		t.Error("lower pod-deletion-cost should go first")
	}
	crowded, alone := mk("crowded", "n1", "Running", true, time.Minute, 0, time.Hour), mk("alone", "n2", "Running", true, time.Minute, 0, time.Hour)
	related := []*Pod{crowded, alone, mk("x", "n1", "Running", true, 0, 0, 0), mk("y", "n1", "Running", true, 0, 0, 0)}
	if got := podsToDelete([]*Pod{alone, crowded}, related, 1, now); got[0] != crowded {
		t.Error("a pod doubled up on a node should go first")
	}
}

func TestReplicaSetIgnoresInactivePods(t *testing.T) {
	k := newKernel(t)
	k.Create(t, rsObject("web", 2, "web"))
	k.Run(t)
	// One pod fails: it no longer counts, and is replaced.
	name := k.List("", "pods", "default", "")[0]["metadata"].(map[string]any)["name"].(string)
	client := k.Client()
	if _, err := client.UpdateStatus(podRes, "default", map[string]any{"metadata": map[string]any{"name": name}, "status": map[string]any{"phase": "Failed"}}); err != nil {
		t.Fatal(err)
	}
	k.Run(t)
	if n := len(k.List("", "pods", "default", "")); n != 3 {
		t.Fatalf("%d pods, want 3 (the failed one kept, a replacement created)", n)
	}
	if rs := getRS(t, k, "web"); rs.Status.Replicas != 2 {
		t.Errorf("status.replicas %d, want 2", rs.Status.Replicas)
	}
}
