package scheduling

import (
	"fmt"
	"math/rand"
	"testing"

	"weft.dev/weft/sdk"
)

// plainFilter and plainScore hide a plugin's skips and batch forms, so a policy of
// them runs every plugin on every node one call at a time (and spreading counts
// zones by name): what the skips and the written-out loops must agree with.
type plainFilter struct{ f sdk.FilterPlugin }

func (w plainFilter) Name() string { return w.f.Name() }
func (w plainFilter) Filter(s *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) (bool, string) {
	return w.f.Filter(s, p, n)
}
func (w plainFilter) PreFilter(s *sdk.Snapshot, p *sdk.PodInfo) {
	if pf, ok := w.f.(sdk.PreFilterPlugin); ok {
		pf.PreFilter(s, p)
	}
}

type plainScore struct{ s sdk.ScorePlugin }

func (w plainScore) Name() string { return w.s.Name() }
func (w plainScore) Score(s *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) int64 {
	return w.s.Score(s, p, n)
}
func (w plainScore) PreScore(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo) {
	if ps, ok := w.s.(sdk.PreScorePlugin); ok {
		ps.PreScore(s, p, nodes)
	}
}
func (w plainScore) NormalizeScores(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, scores []int64) {
	if nz, ok := w.s.(sdk.ScoreNormalizer); ok {
		nz.NormalizeScores(s, p, nodes, scores)
	}
}

func plain(pl *sdk.Policy) *sdk.Policy {
	out := &sdk.Policy{PercentageOfNodesToScore: pl.PercentageOfNodesToScore}
	for _, f := range pl.Filters {
		if pts, ok := f.(*PodTopologySpread); ok {
			pts.NoZoneIDs = true
		}
		out.Filters = append(out.Filters, plainFilter{f})
	}
	for _, ws := range pl.Scores {
		out.Scores = append(out.Scores, sdk.WeightedScore{Plugin: plainScore{ws.Plugin}, Weight: ws.Weight})
	}
	return out
}

// Random clusters (taints, cordons, unready nodes, zones or none, node labels) and
// random pods (requests, selectors, tolerations, spread constraints, pod
// (anti-)affinity): the profiles decide every pod as their plain forms do.
func TestFastPathsMatchPlainPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile func() *sdk.Policy
		plain   bool // a cluster without taints, cordons or unready nodes
	}{
		{"default", DefaultProfile, false},
		{"default/plain-nodes", DefaultProfile, true},
		{"binpack", BinpackProfile, false},
		{"binpack/plain-nodes", BinpackProfile, true},
	} {
		for seed := range int64(6) {
			t.Run(fmt.Sprintf("%s/seed=%d", tc.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewSource(seed))
				nodes := randomNodes(t, r, 30+r.Intn(150), tc.plain)
				var pods []*sdk.PodInfo
				for i := range 120 {
					pods = append(pods, randomPod(t, r, i))
				}
				fast, slow := tc.profile(), plain(tc.profile())
				sf, ss := snap(t, nodes), snap(t, nodes)
				for i := 0; i < len(pods); {
					n := min(1+r.Intn(8), len(pods)-i)
					df := fast.Schedule(sf, clonePods(t, pods[i:i+n]))
					ds := slow.Schedule(ss, clonePods(t, pods[i:i+n]))
					for j := range df {
						if df[j].Node != ds[j].Node || df[j].Message != ds[j].Message || df[j].Error != ds[j].Error {
							t.Fatalf("pod %s: fast %+v, plain %+v", pods[i+j].Name, df[j], ds[j])
						}
					}
					i += n
				}
			})
		}
	}
}

func clonePods(t *testing.T, ps []*sdk.PodInfo) []*sdk.PodInfo {
	out := make([]*sdk.PodInfo, len(ps))
	for i, p := range ps {
		cp := *p
		out[i] = &cp
	}
	return out
}

func randomNodes(t *testing.T, r *rand.Rand, n int, plainNodes bool) []*sdk.NodeInfo {
	var out []*sdk.NodeInfo
	for i := range n {
		ns := nodeSpec{
			name:   fmt.Sprintf("n%03d", i),
			cpu:    []string{"1", "2", "4", "8"}[r.Intn(4)],
			mem:    []string{"2Gi", "4Gi", "8Gi"}[r.Intn(3)],
			pods:   []string{"5", "110"}[r.Intn(2)],
			labels: map[string]string{sdk.LabelHostname: fmt.Sprintf("n%03d", i)},
		}
		if r.Intn(6) > 0 {
			ns.labels[sdk.LabelZone] = fmt.Sprintf("z%d", r.Intn(3))
		}
		if r.Intn(2) == 0 {
			ns.labels["disk"] = []string{"ssd", "hdd"}[r.Intn(2)]
		}
		if !plainNodes {
			switch r.Intn(8) {
			case 0:
				ns.taints = []sdk.Taint{{Key: "dedicated", Value: "gpu", Effect: sdk.NoSchedule}}
			case 1:
				ns.taints = []sdk.Taint{{Key: "spot", Value: "true", Effect: sdk.PreferNoSchedule}}
			case 2:
				ns.unschedulable = true
			case 3:
				ns.ready = []string{"False", "Unknown"}[r.Intn(2)]
			}
		}
		out = append(out, mkNode(t, ns))
	}
	return out
}

func randomPod(t *testing.T, r *rand.Rand, i int) *sdk.PodInfo {
	app := fmt.Sprintf("app%d", r.Intn(3))
	ps := podSpec{
		name:   fmt.Sprintf("p%03d", i),
		labels: map[string]string{"app": app},
		cpu:    []string{"", "100m", "500m", "1500m"}[r.Intn(4)],
		mem:    []string{"", "128Mi", "1Gi"}[r.Intn(3)],
		owned:  r.Intn(3) > 0,
		spec:   obj{},
	}
	sel := obj{"matchLabels": obj{"app": app}}
	if r.Intn(5) == 0 {
		ps.spec["nodeSelector"] = obj{"disk": "ssd"}
	}
	if r.Intn(5) == 0 {
		ps.spec["tolerations"] = []any{obj{"key": "dedicated", "operator": "Exists"}}
	}
	if r.Intn(4) == 0 {
		when := []string{"DoNotSchedule", "ScheduleAnyway"}[r.Intn(2)]
		key := []string{sdk.LabelZone, sdk.LabelHostname, "disk"}[r.Intn(3)]
		ps.spec["topologySpreadConstraints"] = []any{obj{"maxSkew": 1 + r.Intn(2), "topologyKey": key, "whenUnsatisfiable": when, "labelSelector": sel}}
	}
	aff := obj{}
	if r.Intn(5) == 0 {
		aff["podAntiAffinity"] = obj{"requiredDuringSchedulingIgnoredDuringExecution": []any{obj{"labelSelector": sel, "topologyKey": sdk.LabelHostname}}}
	}
	if r.Intn(6) == 0 {
		aff["podAffinity"] = obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{obj{"weight": 10, "podAffinityTerm": obj{"labelSelector": sel, "topologyKey": sdk.LabelZone}}}}
	}
	if r.Intn(6) == 0 {
		aff["nodeAffinity"] = obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{obj{"weight": 5, "preference": obj{"matchExpressions": []any{obj{"key": "disk", "operator": "In", "values": []string{"hdd"}}}}}}}
	}
	if len(aff) > 0 {
		ps.spec["affinity"] = aff
	}
	return mkPod(t, ps)
}
