package apps

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/sdk"
	"weft.dev/weft/sdk/sdktest"
)

func TestDeploymentFirstRollout(t *testing.T) {
	k := newKernel(t)
	k.Create(t, deployObject("web", 3, "nginx:1", "", ""))
	k.Run(t)
	rss := replicaSetsOf(t, k, "web")
	if len(rss) != 1 {
		t.Fatalf("%d replicasets", len(rss))
	}
	rs := rss[0]
	d := getDeploy(t, k, "web")
	hash := templateHash(d.Spec.Template, nil)
	if rs.Metadata.Name != "web-"+hash || rs.Metadata.Labels[hashLabel] != hash || rs.Spec.Selector.MatchLabels[hashLabel] != hash || rs.template().Labels[hashLabel] != hash {
		t.Errorf("replicaset %s labels %v selector %v template labels %v", rs.Metadata.Name, rs.Metadata.Labels, rs.Spec.Selector, rs.template().Labels)
	}
	if a := rs.Metadata.Annotations; a[revisionAnnotation] != "1" || a[desiredReplicasAnn] != "3" || a[maxReplicasAnn] != "4" {
		t.Errorf("replicaset annotations %v", a)
	}
	if d.Metadata.Annotations[revisionAnnotation] != "1" {
		t.Errorf("deployment annotations %v", d.Metadata.Annotations)
	}
	if c := cond(d, "Progressing"); c.Status != "True" || c.Reason != "NewReplicaSetCreated" && c.Reason != "ReplicaSetUpdated" {
		t.Errorf("Progressing %+v", c)
	}
	if c := cond(d, "Available"); c.Status != "False" || c.Reason != "MinimumReplicasUnavailable" {
		t.Errorf("Available %+v", c)
	}
	if msg, done, _ := rolloutStatus(d); done || !strings.Contains(msg, "0 of 3 updated replicas are available") {
		t.Errorf("rollout status %q", msg)
	}
	for _, p := range pods(t, k, "app=web") {
		if p.hash != hash {
			t.Errorf("pod %s without the hash label", p.name)
		}
	}
	if got := events(k, "ScalingReplicaSet"); !slices.Equal(got, []string{"Scaled up replica set web-" + hash + " from 0 to 3"}) {
		t.Errorf("events %q", got)
	}
	converge(t, k, "web")
	d = getDeploy(t, k, "web")
	st := d.Status
	if st.Replicas != 3 || st.UpdatedReplicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.UnavailableReplicas != 0 || st.ObservedGeneration != d.Metadata.Generation {
		t.Errorf("status %+v", st)
	}
	if c := cond(d, "Available"); c.Status != "True" || c.Reason != "MinimumReplicasAvailable" || c.Message != "Deployment has minimum availability." {
		t.Errorf("Available %+v", c)
	}
	if c := cond(d, "Progressing"); c.Status != "True" || c.Reason != "NewReplicaSetAvailable" || c.Message != fmt.Sprintf("ReplicaSet %q has successfully progressed.", "web-"+hash) {
		t.Errorf("Progressing %+v", c)
	}
	// Deleting the deployment deletes its ReplicaSets and their pods.
	k.Delete(t, "apps", "deployments", "default", "web", "")
	k.Run(t)
	if n := len(k.List("apps", "replicasets", "", "")) + len(k.List("", "pods", "", "")); n != 0 {
		t.Errorf("%d objects left after the deployment was deleted", n)
	}
}

// checkRollingInvariants fails the test when a rolling update exceeds maxSurge or
// maxUnavailable.
func checkRollingInvariants(t *testing.T, k *sdktest.Kernel, name string, replicas, surge, unavailable int32) {
	k.AfterReconcile = func(req sdk.ReconcileRequest, res sdk.ReconcileResult, err error) {
		var specSum int32
		for _, rs := range replicaSetsOf(t, k, name) {
			specSum += rs.replicas()
		}
		if specSum > replicas+surge {
			t.Fatalf("after %s: replicasets want %d pods, more than %d+%d", req.Controller, specSum, replicas, surge)
		}
		ps := pods(t, k, "app="+name)
		ready := 0
		for _, p := range ps {
			if p.ready && !p.terminating {
				ready++
			}
		}
		if int32(len(ps)) > replicas+surge {
			t.Fatalf("after %s: %d pods, more than %d+%d", req.Controller, len(ps), replicas, surge)
		}
		if int32(ready) < replicas-unavailable {
			t.Fatalf("after %s: %d ready pods, fewer than %d-%d", req.Controller, ready, replicas, unavailable)
		}
	}
}

func TestDeploymentRollingUpdate(t *testing.T) {
	tests := []struct {
		strategy             string
		replicas             int32
		surge, unavailable   int32
		wantFirstNewReplicas int32
	}{
		{`{}`, 10, 3, 2, 3},
		{`{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}`, 4, 1, 1, 1},
		{`{"rollingUpdate":{"maxSurge":0,"maxUnavailable":1}}`, 5, 0, 1, 0},
		{`{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}`, 5, 1, 0, 1},
		{`{"rollingUpdate":{"maxSurge":"0%","maxUnavailable":"0%"}}`, 3, 0, 1, 0},
		{`{"rollingUpdate":{"maxSurge":"50%","maxUnavailable":"10%"}}`, 7, 4, 0, 4},
		{`{"rollingUpdate":{"maxSurge":2,"maxUnavailable":"50%"}}`, 1, 2, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.strategy, func(t *testing.T) {
			k := newKernel(t)
			k.Create(t, deployObject("web", int(tc.replicas), "v1", tc.strategy, ""))
			converge(t, k, "web")
			d := getDeploy(t, k, "web")
			if s, u, _ := d.fenceposts(); s != tc.surge || min(u, tc.replicas) != tc.unavailable && !(u == 1 && tc.unavailable == 1) {
				t.Fatalf("fenceposts %d %d, want %d %d", s, u, tc.surge, tc.unavailable)
			}
			checkRollingInvariants(t, k, "web", tc.replicas, tc.surge, tc.unavailable)
			setImage(t, k, "web", "v2")
			k.Run(t)
			d = getDeploy(t, k, "web")
			var newRS *ReplicaSet
			for _, rs := range replicaSetsOf(t, k, "web") {
				if rs.Metadata.Annotations[revisionAnnotation] == "2" {
					newRS = rs
				}
			}
			if newRS == nil {
				t.Fatal("no ReplicaSet of revision 2")
			}
			if newRS.replicas() < tc.wantFirstNewReplicas {
				t.Errorf("new ReplicaSet starts at %d replicas, want at least %d", newRS.replicas(), tc.wantFirstNewReplicas)
			}
			converge(t, k, "web")
			k.AfterReconcile = nil
			for _, p := range pods(t, k, "app=web") {
				if p.image != "v2" {
					t.Errorf("pod %s still runs %s", p.name, p.image)
				}
			}
			for _, rs := range replicaSetsOf(t, k, "web") {
				if rs.Metadata.Name != newRS.Metadata.Name && (rs.replicas() != 0 || rs.Status.Replicas != 0) {
					t.Errorf("old ReplicaSet %s still has %d/%d", rs.Metadata.Name, rs.replicas(), rs.Status.Replicas)
				}
			}
			if d := getDeploy(t, k, "web"); d.Metadata.Annotations[revisionAnnotation] != "2" || cond(d, "Progressing").Reason != "NewReplicaSetAvailable" {
				t.Errorf("deployment annotations %v, conditions %+v", d.Metadata.Annotations, d.Status.Conditions)
			}
		})
	}
}

func TestDeploymentRecreate(t *testing.T) {
	k := newKernel(t)
	k.GracefulPods = true
	k.Create(t, deployObject("web", 3, "v1", `{"type":"Recreate"}`, ""))
	converge(t, k, "web")
	k.AfterReconcile = func(req sdk.ReconcileRequest, _ sdk.ReconcileResult, _ error) {
		old, neu := 0, 0
		for _, p := range pods(t, k, "app=web") {
			if p.image == "v1" {
				old++
			} else {
				neu++
			}
		}
		if old > 0 && neu > 0 {
			t.Fatalf("after %s: %d old pods (terminating included) alongside %d new ones", req.Controller, old, neu)
		}
	}
	setImage(t, k, "web", "v2")
	k.Run(t)
	if n := len(replicaSetsOf(t, k, "web")); n != 1 {
		t.Fatalf("%d replicasets while old pods terminate, want 1", n)
	}
	ps := pods(t, k, "app=web")
	if len(ps) != 3 || !ps[0].terminating {
		t.Fatalf("old pods %+v, want 3 terminating", ps)
	}
	if msg, _, _ := rolloutStatus(getDeploy(t, k, "web")); !strings.Contains(msg, "0 out of 3 new replicas") {
		t.Errorf("rollout status %q", msg)
	}
	k.FinishTerminating()
	k.Advance(time.Second)
	k.Run(t)
	if n := len(replicaSetsOf(t, k, "web")); n != 2 {
		t.Fatalf("%d replicasets after the old pods went, want 2", n)
	}
	converge(t, k, "web")
	if ps := pods(t, k, "app=web"); len(ps) != 3 || ps[0].image != "v2" {
		t.Errorf("pods %+v", ps)
	}
	got := events(k, "ScalingReplicaSet")
	if len(got) != 3 || !strings.HasPrefix(got[1], "Scaled down replica set web-") || !strings.HasSuffix(got[1], "from 3 to 0") || !strings.HasSuffix(got[2], "from 0 to 3") {
		t.Errorf("events %q", got)
	}
}

func TestDeploymentScaleMidRollout(t *testing.T) {
	k := newKernel(t)
	k.Create(t, deployObject("web", 10, "v1", `{"rollingUpdate":{"maxSurge":3,"maxUnavailable":2}}`, ""))
	converge(t, k, "web")
	setImage(t, k, "web", "v2")
	k.Run(t)
	sizes := func() map[string]int32 {
		out := map[string]int32{}
		for _, rs := range replicaSetsOf(t, k, "web") {
			out[rs.Metadata.Annotations[revisionAnnotation]] = rs.replicas()
		}
		return out
	}
	// 10+3 surge: new 3; old down to 8 (10-2 unavailable); new up to 5 (13 in all).
	if got := sizes(); got["1"] != 8 || got["2"] != 5 {
		t.Fatalf("mid-rollout sizes %v, want old 8, new 5", got)
	}
	// Scale 10 -> 20: the 10 new pods (up to 20+3) are shared in proportion to the
	// sizes against max-replicas (13): old 8*23/13 = 14, new 5*23/13 = 9, as kube does.
	k.Patch(t, "apps", "deployments", "default", "web", sdk.MergePatch, `{"spec":{"replicas":20}}`)
	k.Run(t)
	if got := sizes(); got["1"] != 14 || got["2"] != 9 {
		t.Fatalf("after scaling to 20: sizes %v, want old 14, new 9", got)
	}
	for _, rs := range replicaSetsOf(t, k, "web") {
		if rs.Metadata.Annotations[desiredReplicasAnn] != "20" || rs.Metadata.Annotations[maxReplicasAnn] != "23" {
			t.Errorf("%s annotations %v", rs.Metadata.Name, rs.Metadata.Annotations)
		}
	}
	// Scale down mid-rollout too.
	k.Patch(t, "apps", "deployments", "default", "web", sdk.MergePatch, `{"spec":{"replicas":5}}`)
	k.Run(t)
	if got := sizes(); got["1"]+got["2"] > 5+3 {
		t.Fatalf("after scaling to 5: sizes %v", got)
	}
	converge(t, k, "web")
	if got := sizes(); got["1"] != 0 || got["2"] != 5 {
		t.Fatalf("final sizes %v", got)
	}
}

func TestDeploymentPauseResume(t *testing.T) {
	k := newKernel(t)
	k.Create(t, deployObject("web", 2, "v1", "", ""))
	converge(t, k, "web")
	k.Patch(t, "apps", "deployments", "default", "web", sdk.MergePatch, `{"spec":{"paused":true}}`)
	k.Run(t)
	if c := cond(getDeploy(t, k, "web"), "Progressing"); c.Status != "Unknown" || c.Reason != "DeploymentPaused" || c.Message != "Deployment is paused" {
		t.Errorf("Progressing %+v", c)
	}
	setImage(t, k, "web", "v2")
	k.Patch(t, "apps", "deployments", "default", "web", sdk.MergePatch, `{"spec":{"replicas":4}}`)
	k.SetPodsReady("default", "app=web")
	k.Run(t)
	rss := replicaSetsOf(t, k, "web")
	if len(rss) != 1 || rss[0].replicas() != 4 {
		t.Fatalf("paused: %d replicasets, first with %d replicas; want the old one scaled to 4", len(rss), rss[0].replicas())
	}
	k.Patch(t, "apps", "deployments", "default", "web", sdk.MergePatch, `{"spec":{"paused":false}}`)
	k.Run(t)
	d := getDeploy(t, k, "web")
	if len(replicaSetsOf(t, k, "web")) != 2 {
		t.Fatal("resuming did not start the rollout")
	}
	if c := cond(d, "Progressing"); c.Status != "True" {
		t.Errorf("Progressing %+v after resume", c)
	}
	converge(t, k, "web")
	if ps := pods(t, k, "app=web"); len(ps) != 4 || ps[0].image != "v2" {
		t.Errorf("pods %+v", ps)
	}
}

func TestDeploymentRestartUndoAndHistory(t *testing.T) {
	k := newKernel(t)
	k.Create(t, deployObject("web", 2, "v1", "", `"revisionHistoryLimit":2`))
	converge(t, k, "web")
	// kubectl rollout restart
	k.Patch(t, "apps", "deployments", "default", "web", sdk.StrategicPatch,
		`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-01-01T00:00:00Z"}}}}}`)
	converge(t, k, "web")
	if d := getDeploy(t, k, "web"); d.Metadata.Annotations[revisionAnnotation] != "2" {
		t.Fatalf("restart: revision %s, want 2", d.Metadata.Annotations[revisionAnnotation])
	}
	k.Patch(t, "apps", "deployments", "default", "web", sdk.MergePatch, `{"metadata":{"annotations":{"kubernetes.io/change-cause":"v2 please"}}}`)
	setImage(t, k, "web", "v2")
	converge(t, k, "web")
	var rev3 *ReplicaSet
	for _, rs := range replicaSetsOf(t, k, "web") {
		if revision(rs) == 3 {
			rev3 = rs
		}
	}
	if rev3 == nil || rev3.Metadata.Annotations["kubernetes.io/change-cause"] != "v2 please" {
		t.Fatalf("revision 3 replicaset %+v: change-cause not copied", rev3)
	}
	// kubectl rollout undo: the previous revision (2)'s template, hash label removed,
	// replaces the deployment's, and the ReplicaSet's annotations its annotations.
	undo(t, k, "web", 0)
	converge(t, k, "web")
	d := getDeploy(t, k, "web")
	if d.Metadata.Annotations[revisionAnnotation] != "4" {
		t.Errorf("after undo: deployment revision %s, want 4", d.Metadata.Annotations[revisionAnnotation])
	}
	byRev := map[int64]*ReplicaSet{}
	for _, rs := range replicaSetsOf(t, k, "web") {
		byRev[revision(rs)] = rs
	}
	if rs := byRev[4]; rs == nil || rs.Metadata.Annotations[revisionHistoryAnn] != "2" || rs.replicas() != 2 {
		t.Errorf("the reused ReplicaSet: %+v", rs)
	}
	if byRev[2] != nil {
		t.Error("revision 2 still exists beside 4: undo created a new ReplicaSet instead of reusing")
	}
	if ps := pods(t, k, "app=web"); len(ps) != 2 || ps[0].image != "v1" {
		t.Errorf("pods %+v after undo", ps)
	}
	// History: with revisionHistoryLimit 2, at most 2 old ReplicaSets stay.
	for i := 5; i <= 8; i++ {
		setImage(t, k, "web", fmt.Sprintf("v%d", i))
		converge(t, k, "web")
	}
	rss := replicaSetsOf(t, k, "web")
	var revs []int64
	for _, rs := range rss {
		revs = append(revs, revision(rs))
	}
	slices.Sort(revs)
	if !slices.Equal(revs, []int64{6, 7, 8}) {
		t.Errorf("revisions kept %v, want [6 7 8]", revs)
	}
}

// undo does what kubectl rollout undo does (toRevision 0: the previous revision).
func undo(t *testing.T, k *sdktest.Kernel, name string, toRevision int64) {
	t.Helper()
	d := getDeploy(t, k, name)
	var rss []*ReplicaSet
	for _, rs := range replicaSetsOf(t, k, name) {
		if ref := rs.Metadata.ControllerOf(); ref != nil && ref.UID == d.Metadata.UID {
			rss = append(rss, rs)
		}
	}
	slices.SortFunc(rss, func(a, b *ReplicaSet) int { return int(revision(b) - revision(a)) })
	target := rss[1]
	if toRevision != 0 {
		for _, rs := range rss {
			if revision(rs) == toRevision {
				target = rs
			}
		}
	}
	var tmpl map[string]any
	if err := json.Unmarshal(target.Spec.Template, &tmpl); err != nil {
		t.Fatal(err)
	}
	delete(tmpl["metadata"].(map[string]any)["labels"].(map[string]any), hashLabel)
	tmpl["metadata"].(map[string]any)["creationTimestamp"] = nil // as a Go client sends it
	ann := map[string]string{}
	for k, v := range d.Metadata.Annotations {
		if skipCopy[k] {
			ann[k] = v
		}
	}
	for k, v := range target.Metadata.Annotations {
		if !skipCopy[k] {
			ann[k] = v
		}
	}
	patch, _ := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": ann},
	})
	k.Patch(t, "apps", "deployments", "default", name, sdk.JSONPatch, string(patch))
}

func TestDeploymentProgressDeadline(t *testing.T) {
	for _, auto := range []bool{false, true} {
		t.Run(fmt.Sprintf("auto-rollback=%v", auto), func(t *testing.T) {
			k := newKernel(t)
			k.Create(t, deployObject("web", 3, "v1", `{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}`, `"progressDeadlineSeconds":60`))
			converge(t, k, "web")
			if auto {
				k.Patch(t, "apps", "deployments", "default", "web", sdk.MergePatch, `{"metadata":{"annotations":{"weft.dev/auto-rollback":"true"}}}`)
			}
			setImage(t, k, "web", "broken")
			k.Run(t) // the new pods never become ready
			d := getDeploy(t, k, "web")
			if c := cond(d, "Progressing"); c.Status != "True" {
				t.Fatalf("Progressing %+v", c)
			}
			k.Advance(30 * time.Second)
			k.Run(t)
			if c := cond(getDeploy(t, k, "web"), "Progressing"); c.Reason == "ProgressDeadlineExceeded" {
				t.Fatal("timed out before the deadline")
			}
			k.Advance(31 * time.Second)
			k.Run(t)
			d = getDeploy(t, k, "web")
			if !auto {
				c := cond(d, "Progressing")
				newRS := "web-" + templateHash(d.Spec.Template, nil)
				if c.Status != "False" || c.Reason != "ProgressDeadlineExceeded" || c.Message != fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS) {
					t.Fatalf("Progressing %+v", c)
				}
				if _, _, err := rolloutStatus(d); err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
					t.Errorf("rollout status error %v", err)
				}
				return
			}
			if d.Metadata.Annotations[rolledBackFromAnn] != "2" {
				t.Errorf("annotations %v", d.Metadata.Annotations)
			}
			if got := events(k, "RolledBack"); len(got) != 1 || !strings.Contains(got[0], "from revision 2 to revision 1") {
				t.Errorf("RolledBack events %q", got)
			}
			converge(t, k, "web")
			d = getDeploy(t, k, "web")
			if d.Metadata.Annotations[revisionAnnotation] != "3" || cond(d, "Progressing").Reason != "NewReplicaSetAvailable" {
				t.Errorf("after the rollback: revision %s, Progressing %+v", d.Metadata.Annotations[revisionAnnotation], cond(d, "Progressing"))
			}
			for _, p := range pods(t, k, "app=web") {
				if p.image != "v1" {
					t.Errorf("pod %s runs %s", p.name, p.image)
				}
			}
			// A second failing rollout rolls back again, but never to the bad revision.
			setImage(t, k, "web", "broken2")
			k.Run(t)
			k.Advance(2 * time.Minute)
			k.Run(t)
			if got := events(k, "RolledBack"); len(got) != 2 || !strings.Contains(got[1], "from revision 4 to revision 3") {
				t.Errorf("RolledBack events %q", got)
			}
		})
	}
}

func TestDeploymentSelectingAll(t *testing.T) {
	k := newKernel(t)
	k.Create(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"all"},"spec":{"selector":{},"template":{"spec":{}}}}`)
	k.Run(t)
	if got := events(k, "SelectingAll"); len(got) == 0 {
		t.Error("no SelectingAll event")
	}
	if n := len(k.List("apps", "replicasets", "", "")); n != 0 {
		t.Errorf("%d replicasets for a deployment selecting all", n)
	}
}

func TestTemplateHash(t *testing.T) {
	a := json.RawMessage(`{"metadata":{"labels":{"app":"x"},"creationTimestamp":null},"spec":{"containers":[{"name":"c","image":"i","resources":{}}]}}`)
	b := json.RawMessage(`{"spec":{"containers":[{"image":"i","name":"c"}]},"metadata":{"labels":{"app":"x"}}}`)
	if templateHash(a, nil) != templateHash(b, nil) {
		t.Error("equivalent templates hash differently")
	}
	one := int32(1)
	if templateHash(a, nil) == templateHash(a, &one) {
		t.Error("collisionCount does not change the hash")
	}
	for _, c := range templateHash(a, nil) {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", c) {
			t.Errorf("hash %s has %c", templateHash(a, nil), c)
		}
	}
	if !equalIgnoreHash(parseTemplate(a), parseTemplate(json.RawMessage(`{"metadata":{"labels":{"app":"x","pod-template-hash":"abc"}},"spec":{"containers":[{"name":"c","image":"i"}]}}`))) {
		t.Error("equalIgnoreHash")
	}
}

func TestFenceposts(t *testing.T) {
	is := func(s string) *IntOrString { return &IntOrString{IsString: true, Str: s} }
	in := func(n int32) *IntOrString { return &IntOrString{Int: n} }
	tests := []struct {
		replicas           int32
		surge, unavailable *IntOrString
		wantS, wantU       int32
	}{
		{10, nil, nil, 3, 2},
		{1, nil, nil, 1, 0},
		{3, in(0), in(0), 0, 1},
		{3, is("0%"), is("0%"), 0, 1},
		{5, is("30%"), is("30%"), 2, 1},
		{5, in(7), in(9), 7, 9},
	}
	for _, tc := range tests {
		d := &Deployment{}
		d.Spec.Replicas = &tc.replicas
		d.Spec.Strategy.RollingUpdate = &struct {
			MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
			MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
		}{tc.unavailable, tc.surge}
		s, u, err := d.fenceposts()
		if err != nil || s != tc.wantS || u != tc.wantU {
			t.Errorf("%d replicas %v %v: got %d %d %v", tc.replicas, tc.surge, tc.unavailable, s, u, err)
		}
	}
	d := &Deployment{}
	d.Spec.Strategy.RollingUpdate = &struct {
		MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
		MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
	}{is("3"), nil}
	if _, _, err := d.fenceposts(); err == nil {
		t.Error("a string without % was accepted")
	}
}
