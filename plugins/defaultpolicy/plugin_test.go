package defaultpolicy

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"weft.dev/weft/sdk"
)

func TestManifest(t *testing.T) {
	m, _ := Plugin()
	if m.Scheduler == nil || m.Scheduler.Name != "default-scheduler" || PolicyName != "default-scheduler" {
		t.Fatalf("scheduler %+v", m.Scheduler)
	}
	want := map[string]bool{"nodes": false, "pods": false}
	for _, p := range m.Permissions {
		if _, ok := want[p.Resource]; ok && p.Group == "" && slices.Contains(p.Verbs, "list") && slices.Contains(p.Verbs, "watch") {
			want[p.Resource] = true
		}
	}
	if !want["nodes"] || !want["pods"] {
		t.Fatalf("permissions %+v", m.Permissions)
	}
	if _, err := json.Marshal(m); err != nil {
		t.Fatal(err)
	}
}

// 50 pods of one Deployment on 10 nodes of 4 CPUs in 2 zones.
func TestDeployment(t *testing.T) {
	s := sdk.NewSnapshot()
	for i := range 10 {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"name": fmt.Sprint("n", i), "labels": map[string]string{
			sdk.LabelZone: fmt.Sprint("z", i%2)}}, "status": map[string]any{"allocatable": map[string]any{"cpu": "4", "memory": "8Gi", "pods": "110"}}})
		s.Apply(sdk.FeedEvent{Type: sdk.Added, Kind: sdk.NodeKind, Object: b})
	}
	var pods []*sdk.PodInfo
	for i := range 50 {
		b, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{"name": fmt.Sprint("web-", i), "namespace": "default", "uid": fmt.Sprint("u", i), "labels": map[string]string{"app": "web"},
				"ownerReferences": []any{map[string]any{"kind": "ReplicaSet", "name": "web", "uid": "rs", "controller": true}}},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}}}}},
		})
		s.Apply(sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: b})
		pods = append(pods, s.Pod(fmt.Sprint("default/web-", i)))
	}
	per := map[string]int{}
	for _, d := range Policy().Schedule(s, pods) {
		if d.Node == "" {
			t.Fatalf("unschedulable: %+v", d)
		}
		per[d.Node]++
	}
	var counts []int
	for _, n := range s.Nodes() {
		counts = append(counts, per[n.Name])
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	if got := fmt.Sprint(counts); got != "[5 5 5 5 5 5 5 5 5 5]" {
		t.Fatalf("pods per node %s, want [5 5 5 5 5 5 5 5 5 5]", got)
	}
}
