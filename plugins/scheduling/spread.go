package scheduling

import (
	"math"

	"weft.dev/weft/sdk"
)

// PodTopologySpread filters on DoNotSchedule constraints and scores ScheduleAnyway
// ones, as kube-scheduler's plugin does. A pod with a controller and no
// constraints gets the system defaults (hostname maxSkew 3 and zone maxSkew 5, both
// ScheduleAnyway), selecting pods with all of its labels.
type PodTopologySpread struct {
	// NoSystemDefaults turns the default constraints off.
	NoSystemDefaults bool
	// NoZoneIDs makes scoring count zones by name instead of by the snapshot's zone
	// IDs (for tests comparing the two).
	NoZoneIDs bool

	keys []string // scratch: the constraints' topology keys

	// Filter state.
	hard    []sdk.TopologySpreadConstraint
	counts  []map[string]int // per hard constraint: matching pods per domain
	minimum []int            // per hard constraint: the global minimum
	self    []int            // 1 when the pod matches the constraint's selector

	// Score state.
	soft       []sdk.TopologySpreadConstraint
	defaulted  bool
	softCounts []map[string]int
	counters   []*sdk.PodCounter
	weights    []float64
	ignored    map[*sdk.NodeInfo]bool
	sizes      []int     // per soft constraint: domains among the feasible nodes
	kinds      []uint8   // per soft constraint: how Score finds a node's count
	acc        []float64 // scratch: ScoreNodes' sums
	skews      []float64 // per soft constraint: MaxSkew − 1
	// Per soft zone constraint, when byZone: matching pods by the snapshot's zone
	// ID, −1 for zones no feasible node is in.
	zoneCounts [][]int
	byZone     bool
}

func (*PodTopologySpread) Name() string { return "PodTopologySpread" }

var systemDefaults = []sdk.TopologySpreadConstraint{
	{MaxSkew: 3, TopologyKey: sdk.LabelHostname, WhenUnsatisfiable: "ScheduleAnyway"},
	{MaxSkew: 5, TopologyKey: sdk.LabelZone, WhenUnsatisfiable: "ScheduleAnyway"},
}

// constraints returns the pod's constraints of one kind, or the system defaults.
func (pl *PodTopologySpread) constraints(p *sdk.PodInfo, when string, into []sdk.TopologySpreadConstraint) ([]sdk.TopologySpreadConstraint, bool) {
	into = into[:0]
	if len(p.TopologySpread) == 0 {
		if pl.NoSystemDefaults || !p.Controlled || len(p.Labels) == 0 || when != "ScheduleAnyway" {
			return into, false
		}
		sel := &sdk.LabelSelector{MatchLabels: p.Labels}
		for _, c := range systemDefaults {
			c.Selector = sel
			into = append(into, c)
		}
		return into, true
	}
	for _, c := range p.TopologySpread {
		if c.WhenUnsatisfiable == when || (when == "DoNotSchedule" && c.WhenUnsatisfiable == "") {
			into = append(into, c)
		}
	}
	return into, false
}

func hasAllKeys(n *sdk.NodeInfo, cs []sdk.TopologySpreadConstraint) bool {
	for i := range cs {
		if _, ok := n.Label(cs[i].TopologyKey); !ok {
			return false
		}
	}
	return true
}

// eligible reports whether n counts toward the constraints' domains: it matches the
// pod's node affinity (policy Honor, the default) and, with nodeTaintsPolicy
// Honor, the pod tolerates its taints.
func eligible(p *sdk.PodInfo, c *sdk.TopologySpreadConstraint, n *sdk.NodeInfo) bool {
	if c.NodeAffinityPolicy != "Ignore" && !p.MatchesNodeSelector(n) {
		return false
	}
	if c.NodeTaintsPolicy == "Honor" {
		if ok, _ := (TaintToleration{}).Filter(nil, p, n); !ok {
			return false
		}
	}
	return true
}

// allEligible reports whether every node counts toward the pod's domains: it has
// no node selector or required node affinity to honour, nor taints to honour.
func allEligible(p *sdk.PodInfo, c *sdk.TopologySpreadConstraint) bool {
	if c.NodeTaintsPolicy == "Honor" {
		return false
	}
	return c.NodeAffinityPolicy == "Ignore" || (len(p.NodeSelector) == 0 && !p.HasRequiredAffinity)
}

func topologyKeys(cs []sdk.TopologySpreadConstraint, into []string) []string {
	into = into[:0]
	for i := range cs {
		into = append(into, cs[i].TopologyKey)
	}
	return into
}

// PreFilter counts matching pods per domain of each DoNotSchedule constraint, over
// the eligible nodes that carry every constraint's key.
func (pl *PodTopologySpread) PreFilter(s *sdk.Snapshot, p *sdk.PodInfo) {
	pl.hard, _ = pl.constraints(p, "DoNotSchedule", pl.hard)
	if len(pl.hard) == 0 {
		return
	}
	pl.keys = topologyKeys(pl.hard, pl.keys)
	pl.counts = pl.counts[:0]
	pl.minimum = pl.minimum[:0]
	pl.self = pl.self[:0]
	for i := range pl.hard {
		c := &pl.hard[i]
		self := 0
		if c.Selector.Matches(p.Labels) {
			self = 1
		}
		pl.self = append(pl.self, self)
		counter := s.Counter(p.Namespace, c.Selector)
		var counts map[string]int
		if allEligible(p, c) {
			counts = counter.Domains(c.TopologyKey, pl.keys)
		} else {
			counts = map[string]int{}
			for _, n := range s.Nodes() {
				if !hasAllKeys(n, pl.hard) || !eligible(p, c, n) {
					continue
				}
				v, _ := n.Label(c.TopologyKey)
				counts[v] += counter.OnNode(n)
			}
		}
		pl.counts = append(pl.counts, counts)
		m := math.MaxInt
		for _, c := range counts {
			m = min(m, c)
		}
		if m == math.MaxInt || int64(len(counts)) < c.MinDomains {
			m = 0
		}
		pl.minimum = append(pl.minimum, m)
	}
}

func (pl *PodTopologySpread) Filter(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) (bool, string) {
	for i := range pl.hard {
		c := &pl.hard[i]
		v, ok := n.Label(c.TopologyKey)
		if !ok {
			return false, ReasonSpreadMissingLabel
		}
		skew := pl.counts[i][v] + pl.self[i] - pl.minimum[i]
		if int64(skew) > c.MaxSkew {
			return false, ReasonSpread
		}
	}
	return true, ""
}

// PreScore counts matching pods per domain of each ScheduleAnyway constraint, over
// the domains of the feasible nodes.
func (pl *PodTopologySpread) PreScore(s *sdk.Snapshot, p *sdk.PodInfo, feasible []*sdk.NodeInfo) {
	pl.soft, pl.defaulted = pl.constraints(p, "ScheduleAnyway", pl.soft)
	if len(pl.soft) == 0 {
		return
	}
	for len(pl.softCounts) < len(pl.soft) {
		pl.softCounts = append(pl.softCounts, map[string]int{})
		pl.zoneCounts = append(pl.zoneCounts, nil)
	}
	pl.counters = pl.counters[:0]
	for i := range pl.soft {
		pl.counters = append(pl.counters, s.Counter(p.Namespace, pl.soft[i].Selector))
	}
	pl.ignored = clearMap(pl.ignored)
	pl.weights = pl.weights[:0]
	pl.sizes = pl.sizes[:0]
	for i := range pl.soft {
		clear(pl.softCounts[i])
		pl.sizes = append(pl.sizes, 0)
		pl.zoneCounts[i] = pl.zoneCounts[i][:0]
		if pl.soft[i].TopologyKey == sdk.LabelZone {
			for range s.NumZones() {
				pl.zoneCounts[i] = append(pl.zoneCounts[i], -1)
			}
		}
	}
	pl.byZone = !pl.NoZoneIDs
	pl.setKinds()
	requireAll := !pl.defaulted
	for _, n := range feasible {
		if requireAll && !hasAllKeys(n, pl.soft) {
			pl.ignored[n] = true
			continue
		}
		for i, k := range pl.kinds {
			switch k {
			case byHostname:
			case byZoneID:
				// The snapshot's zone IDs stand for the zone names: a slice, not a map.
				z := n.ZoneID()
				if z < 0 || z >= len(pl.zoneCounts[i]) {
					if n.Zone != "" {
						pl.byZone = false // a node from outside the snapshot
					}
					continue
				}
				if pl.zoneCounts[i][z] < 0 {
					pl.zoneCounts[i][z] = 0
					pl.sizes[i]++
				}
			default:
				v, ok := n.Label(pl.soft[i].TopologyKey)
				if !ok {
					continue
				}
				if _, seen := pl.softCounts[i][v]; !seen {
					pl.softCounts[i][v] = 0
					pl.sizes[i]++
				}
			}
		}
	}
	if !pl.byZone {
		pl.setKinds()
		// Count zones by name after all.
		for i := range pl.soft {
			if pl.soft[i].TopologyKey != sdk.LabelZone {
				continue
			}
			pl.sizes[i] = 0
			clear(pl.softCounts[i])
			for _, n := range feasible {
				if requireAll && pl.ignored[n] {
					continue
				}
				if v, ok := n.Label(sdk.LabelZone); ok {
					if _, seen := pl.softCounts[i][v]; !seen {
						pl.softCounts[i][v] = 0
						pl.sizes[i]++
					}
				}
			}
		}
	}
	for i := range pl.soft {
		sz := pl.sizes[i]
		if pl.soft[i].TopologyKey == sdk.LabelHostname {
			sz = len(feasible) - len(pl.ignored)
		}
		pl.weights = append(pl.weights, math.Log(float64(sz+2)))
	}
	var require []string
	if requireAll {
		pl.keys = topologyKeys(pl.soft, pl.keys)
		require = pl.keys
	}
	for i := range pl.soft {
		c := &pl.soft[i]
		if c.TopologyKey == sdk.LabelHostname || pl.sizes[i] == 0 {
			continue
		}
		zc := pl.zoneCounts[i]
		byZone := pl.byZone && c.TopologyKey == sdk.LabelZone
		if allEligible(p, c) {
			all := pl.counters[i].Domains(c.TopologyKey, require)
			if byZone {
				for z, cur := range zc {
					if cur >= 0 {
						zc[z] = all[s.ZoneName(z)]
					}
				}
				continue
			}
			for v := range pl.softCounts[i] {
				pl.softCounts[i][v] = all[v]
			}
			continue
		}
		for _, n := range s.Nodes() {
			if (requireAll && !hasAllKeys(n, pl.soft)) || !eligible(p, c, n) {
				continue
			}
			if byZone {
				if z := n.ZoneID(); z >= 0 && z < len(zc) && zc[z] >= 0 {
					zc[z] += pl.counters[i].OnNode(n)
				}
				continue
			}
			v, ok := n.Label(c.TopologyKey)
			if !ok {
				continue
			}
			if cur, seen := pl.softCounts[i][v]; seen {
				pl.softCounts[i][v] = cur + pl.counters[i].OnNode(n)
			}
		}
	}
}

// How Score finds a node's count for a soft constraint.
const (
	byLabel = iota
	byHostname
	byZoneID
)

// setKinds decides, once per pod, what Score would otherwise decide per node by
// comparing strings (a runtime call each inside a wasm guest).
func (pl *PodTopologySpread) setKinds() {
	pl.kinds, pl.skews = pl.kinds[:0], pl.skews[:0]
	for i := range pl.soft {
		c := &pl.soft[i]
		k := uint8(byLabel)
		switch {
		case c.TopologyKey == sdk.LabelHostname:
			k = byHostname
		case pl.byZone && c.TopologyKey == sdk.LabelZone:
			k = byZoneID
		}
		pl.kinds = append(pl.kinds, k)
		pl.skews = append(pl.skews, float64(c.MaxSkew-1))
	}
}

func (pl *PodTopologySpread) Score(s *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) int64 {
	var sc [1]int64
	pl.ScoreNodes(s, p, []*sdk.NodeInfo{n}, sc[:])
	return sc[0]
}

// ScoreNodes is Score for every node, one constraint at a time: each pass is a
// plain loop over the nodes, with what varies by constraint decided outside it,
// as a wasm guest runs fastest. A node's sum is added up in Score's order.
func (pl *PodTopologySpread) ScoreNodes(_ *sdk.Snapshot, _ *sdk.PodInfo, nodes []*sdk.NodeInfo, scores []int64) {
	if len(pl.soft) == 0 {
		clear(scores)
		return
	}
	acc := pl.acc[:0]
	for range nodes {
		acc = append(acc, 0)
	}
	pl.acc = acc
	for i, k := range pl.kinds {
		w, skew := pl.weights[i], pl.skews[i]
		switch k {
		case byHostname:
			c := pl.counters[i]
			for j, n := range nodes {
				acc[j] += float64(c.OnNode(n))*w + skew
			}
		case byZoneID:
			zc := pl.zoneCounts[i]
			for j, n := range nodes {
				z := n.ZoneID()
				if z < 0 {
					continue
				}
				cnt := 0
				if z < len(zc) && zc[z] > 0 {
					cnt = zc[z]
				}
				acc[j] += float64(cnt)*w + skew
			}
		default:
			key, counts := pl.soft[i].TopologyKey, pl.softCounts[i]
			for j, n := range nodes {
				if v, ok := n.Label(key); ok {
					acc[j] += float64(counts[v])*w + skew
				}
			}
		}
	}
	ign := len(pl.ignored) > 0
	for j, a := range acc {
		if ign && pl.ignored[nodes[j]] {
			scores[j] = 0
			continue
		}
		scores[j] = int64(math.Round(a))
	}
}

// NormalizeScores makes fewer matching pods score higher: 100 × (max + min − s) / max.
// Ignored nodes score 0 (and count for neither bound); they are looked up only
// when there are any, outside the plain loops.
func (pl *PodTopologySpread) NormalizeScores(_ *sdk.Snapshot, _ *sdk.PodInfo, nodes []*sdk.NodeInfo, scores []int64) {
	if len(pl.soft) == 0 {
		return
	}
	lo, hi := int64(math.MaxInt64), int64(0)
	ign := len(pl.ignored) > 0
	for i, s := range scores {
		if ign && pl.ignored[nodes[i]] {
			continue
		}
		lo, hi = min(lo, s), max(hi, s)
	}
	if hi == 0 {
		for i := range scores {
			scores[i] = sdk.MaxNodeScore
		}
	} else {
		for i, s := range scores {
			scores[i] = quo(sdk.MaxNodeScore*(hi+lo-s), hi)
		}
	}
	if ign {
		for i, n := range nodes {
			if pl.ignored[n] {
				scores[i] = 0
			}
		}
	}
}
