package scheduling_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"weft.dev/weft/plugins/binpack"
	"weft.dev/weft/plugins/defaultpolicy"
	"weft.dev/weft/sdk"
)

// The policy plugins built on this package: their manifests, and where 50 pods of
// one Deployment go on 10 nodes of 4 CPUs in 2 zones.
func TestPolicyPlugins(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policyName string // the package's PolicyName
		plugin     func() (sdk.Manifest, sdk.Handlers)
		policy     func() *sdk.Policy
		want       string // pods per node, most first
	}{
		{"default-scheduler", defaultpolicy.PolicyName, defaultpolicy.Plugin, defaultpolicy.Policy, "[5 5 5 5 5 5 5 5 5 5]"},
		{"binpack", binpack.PolicyName, binpack.Plugin, binpack.Policy, "[40 10 0 0 0 0 0 0 0 0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, h := tc.plugin()
			if m.Scheduler == nil || m.Scheduler.Name != tc.name || tc.policyName != tc.name || h.Scheduler == nil {
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
			if got := deploymentSpread(t, tc.policy()); got != tc.want {
				t.Fatalf("pods per node %s, want %s", got, tc.want)
			}
		})
	}
}

func deploymentSpread(t *testing.T, p *sdk.Policy) string {
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
	for _, d := range p.Schedule(s, pods) {
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
	return fmt.Sprint(counts)
}
