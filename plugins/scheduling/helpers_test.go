package scheduling

import (
	"encoding/json"
	"fmt"
	"testing"

	"weft.dev/weft/sdk"
)

// obj is a JSON object under construction.
type obj = map[string]any

// nodeSpec describes a test node.
type nodeSpec struct {
	name          string
	labels        map[string]string
	cpu, mem      string
	pods          string
	taints        []sdk.Taint
	unschedulable bool
	ready         string // "" means True
	extra         map[string]string
}

func mkNode(t testing.TB, ns nodeSpec) *sdk.NodeInfo {
	t.Helper()
	alloc := map[string]string{"cpu": "4", "memory": "8Gi", "pods": "110"}
	if ns.cpu != "" {
		alloc["cpu"] = ns.cpu
	}
	if ns.mem != "" {
		alloc["memory"] = ns.mem
	}
	if ns.pods != "" {
		alloc["pods"] = ns.pods
	}
	for k, v := range ns.extra {
		alloc[k] = v
	}
	var taints []any
	for _, tt := range ns.taints {
		taints = append(taints, obj{"key": tt.Key, "value": tt.Value, "effect": tt.Effect})
	}
	ready := ns.ready
	if ready == "" {
		ready = "True"
	}
	b, _ := json.Marshal(obj{
		"metadata": obj{"name": ns.name, "labels": ns.labels},
		"spec":     obj{"taints": taints, "unschedulable": ns.unschedulable},
		"status":   obj{"allocatable": alloc, "conditions": []any{obj{"type": "Ready", "status": ready}}},
	})
	n, err := sdk.DecodeNode(b)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// podSpec describes a test pod; spec holds extra spec fields as JSON.
type podSpec struct {
	ns, name string
	labels   map[string]string
	node     string
	cpu, mem string
	spec     obj
	owned    bool
	phase    string
	deleting bool
}

func mkPod(t testing.TB, ps podSpec) *sdk.PodInfo {
	t.Helper()
	if ps.ns == "" {
		ps.ns = "default"
	}
	req := obj{}
	if ps.cpu != "" {
		req["cpu"] = ps.cpu
	}
	if ps.mem != "" {
		req["memory"] = ps.mem
	}
	spec := obj{"nodeName": ps.node, "containers": []any{obj{"name": "c", "resources": obj{"requests": req}}}}
	for k, v := range ps.spec {
		spec[k] = v
	}
	meta := obj{"name": ps.name, "namespace": ps.ns, "uid": "uid-" + ps.name, "labels": ps.labels}
	if ps.deleting {
		meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
	}
	if ps.owned {
		meta["ownerReferences"] = []any{obj{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid", "controller": true}}
	}
	b, _ := json.Marshal(obj{"metadata": meta, "spec": spec, "status": obj{"phase": ps.phase}})
	p, err := sdk.DecodePod(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// snap builds a snapshot of nodes and (bound) pods.
func snap(t testing.TB, nodes []*sdk.NodeInfo, pods ...*sdk.PodInfo) *sdk.Snapshot {
	s := sdk.NewSnapshot()
	for _, n := range nodes {
		// A copy: tests share node lists, and a snapshot places pods on its nodes.
		cp := *n
		cp.Pods, cp.Requested, cp.NonZeroRequested = nil, sdk.Resources{}, sdk.Resources{}
		cp.PodsWithAffinity, cp.PodsWithRequiredAntiAffinity = 0, 0
		s.SetNode(&cp)
	}
	for _, p := range pods {
		s.SetPod(p)
	}
	return s
}

// zoned returns n nodes named n0.. spread over zones z0..z(zones-1).
func zoned(t testing.TB, n, zones int, cpu string) []*sdk.NodeInfo {
	var out []*sdk.NodeInfo
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		out = append(out, mkNode(t, nodeSpec{name: name, cpu: cpu, labels: map[string]string{
			sdk.LabelHostname: name, sdk.LabelZone: fmt.Sprintf("z%d", i%zones)}}))
	}
	return out
}

// filterAll runs a filter (with its PreFilter) over every node of s, returning
// the reason per node ("" when it passes).
func filterAll(s *sdk.Snapshot, f sdk.FilterPlugin, p *sdk.PodInfo) map[string]string {
	if pf, ok := f.(sdk.PreFilterPlugin); ok {
		pf.PreFilter(s, p)
	}
	out := map[string]string{}
	for _, n := range s.Nodes() {
		ok, reason := f.Filter(s, p, n)
		if ok {
			reason = ""
		} else if reason == "" {
			reason = "?"
		}
		out[n.Name] = reason
	}
	return out
}

// scoreAll runs a score plugin (PreScore, Score, NormalizeScores) over all nodes.
func scoreAll(s *sdk.Snapshot, sp sdk.ScorePlugin, p *sdk.PodInfo) map[string]int64 {
	nodes := s.Nodes()
	if ps, ok := sp.(sdk.PreScorePlugin); ok {
		ps.PreScore(s, p, nodes)
	}
	scores := make([]int64, len(nodes))
	for i, n := range nodes {
		scores[i] = sp.Score(s, p, n)
	}
	if nz, ok := sp.(sdk.ScoreNormalizer); ok {
		nz.NormalizeScores(s, p, nodes, scores)
	}
	out := map[string]int64{}
	for i, n := range nodes {
		out[n.Name] = scores[i]
	}
	return out
}
