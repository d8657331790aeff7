package scheduling

import (
	"math"

	"weft.dev/weft/sdk"
)

// Batch forms of every plugin (sdk.BatchFilter, sdk.BatchScorer): one call per
// chunk of nodes instead of one per node. Inside a wasm guest a dynamic call costs
// about a hundred nanoseconds, which, for seven filters and six scores over the
// 500 nodes kube-scheduler's rule scores at 5000 nodes, was most of a pod's time.

// FilterNodes is Filter for each node.
func (pl NodeUnschedulable) FilterNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, ok []bool, reason []string) {
	for i, n := range nodes {
		ok[i], reason[i] = pl.Filter(s, p, n)
	}
}

// FilterNodes is Filter for each node.
func (pl NodeName) FilterNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, ok []bool, reason []string) {
	for i, n := range nodes {
		ok[i], reason[i] = pl.Filter(s, p, n)
	}
}

// FilterNodes is Filter for each node.
func (pl TaintToleration) FilterNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, ok []bool, reason []string) {
	for i, n := range nodes {
		ok[i], reason[i] = pl.Filter(s, p, n)
	}
}

// FilterNodes is Filter for each node.
func (pl NodeAffinity) FilterNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, ok []bool, reason []string) {
	for i, n := range nodes {
		ok[i], reason[i] = pl.Filter(s, p, n)
	}
}

// FilterNodes is Filter for each node; nodes with room pass without building a
// reason (only a rejection needs one).
func (pl NodeResourcesFit) FilterNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, ok []bool, reason []string) {
	req := &p.Requests
	if len(req.Scalar) > 0 {
		for i, n := range nodes {
			ok[i], reason[i] = pl.Filter(s, p, n)
		}
		return
	}
	cpu, mem, eph := req.MilliCPU, req.Memory, req.EphemeralStorage
	for i, n := range nodes {
		alloc, used := &n.Allocatable, &n.Requested
		if int64(len(n.Pods)) < n.AllowedPods &&
			(cpu <= 0 || cpu <= alloc.MilliCPU-used.MilliCPU) &&
			(mem <= 0 || mem <= alloc.Memory-used.Memory) &&
			(eph <= 0 || eph <= alloc.EphemeralStorage-used.EphemeralStorage) {
			ok[i], reason[i] = true, ""
			continue
		}
		ok[i], reason[i] = pl.Filter(s, p, n)
	}
}

// FilterNodes is Filter for each node.
func (pl *PodTopologySpread) FilterNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, ok []bool, reason []string) {
	for i, n := range nodes {
		ok[i], reason[i] = pl.Filter(s, p, n)
	}
}

// FilterNodes is Filter for each node.
func (pl *InterPodAffinity) FilterNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, ok []bool, reason []string) {
	for i, n := range nodes {
		ok[i], reason[i] = pl.Filter(s, p, n)
	}
}

// ScoreNodes is Score for each node.
func (pl TaintToleration) ScoreNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, scores []int64) {
	for i, n := range nodes {
		scores[i] = pl.Score(s, p, n)
	}
}

// ScoreNodes is Score for each node.
func (pl NodeAffinity) ScoreNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, scores []int64) {
	for i, n := range nodes {
		scores[i] = pl.Score(s, p, n)
	}
}

// ScoreNodes is Score for each node, written out: a call per node and resource
// costs more than the arithmetic inside a wasm guest.
func (pl NodeResourcesFit) ScoreNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, scores []int64) {
	cpu, mem := p.NonZeroRequests.MilliCPU, p.NonZeroRequests.Memory
	most := pl.Strategy == MostAllocated
	for i, n := range nodes {
		var score, weights int64
		if a := n.Allocatable.MilliCPU; a != 0 {
			r := n.NonZeroRequested.MilliCPU + cpu
			if most {
				score += MostRequestedScore(r, a)
			} else {
				score += LeastRequestedScore(r, a)
			}
			weights++
		}
		if a := n.Allocatable.Memory; a != 0 {
			r := n.NonZeroRequested.Memory + mem
			if most {
				score += MostRequestedScore(r, a)
			} else {
				score += LeastRequestedScore(r, a)
			}
			weights++
		}
		if weights == 2 {
			score /= 2
		}
		scores[i] = score
	}
}

// ScoreNodes is Score for each node, written out as NodeResourcesFit's is.
func (pl BalancedAllocation) ScoreNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, scores []int64) {
	cpu, mem := p.Requests.MilliCPU, p.Requests.Memory
	if cpu == 0 && mem == 0 {
		clear(scores)
		return
	}
	for i, n := range nodes {
		ac, am := n.Allocatable.MilliCPU, n.Allocatable.Memory
		std := 0.0
		if ac != 0 && am != 0 {
			// Not min(): for floats it is a runtime call inside a wasm guest.
			fc := float64(n.Requested.MilliCPU+cpu) / float64(ac)
			if fc > 1 {
				fc = 1
			}
			fm := float64(n.Requested.Memory+mem) / float64(am)
			if fm > 1 {
				fm = 1
			}
			std = math.Abs((fc - fm) / 2)
		}
		scores[i] = int64((1 - std) * float64(sdk.MaxNodeScore))
	}
}

// ScoreNodes is Score for each node.
func (pl *InterPodAffinity) ScoreNodes(s *sdk.Snapshot, p *sdk.PodInfo, nodes []*sdk.NodeInfo, scores []int64) {
	for i, n := range nodes {
		scores[i] = pl.Score(s, p, n)
	}
}

// Skips (sdk.FilterSkipper, sdk.ScoreSkipper): when a plugin can tell from the pod
// and the snapshot's counts that it passes every node, or scores them all alike.

func (NodeUnschedulable) SkipFilter(s *sdk.Snapshot, p *sdk.PodInfo) bool {
	return s.NumUnschedulable() == 0 || sdk.Tolerated(p.Tolerations, &unschedulableTaint)
}

func (NodeName) SkipFilter(_ *sdk.Snapshot, p *sdk.PodInfo) bool { return p.NodeName == "" }

func (TaintToleration) SkipFilter(s *sdk.Snapshot, _ *sdk.PodInfo) bool {
	return s.NumTainted() == 0 && s.NumNotReady() == 0
}

// SkipScore: without taints every raw score is 0, normalised to 100.
func (TaintToleration) SkipScore(s *sdk.Snapshot, _ *sdk.PodInfo) bool { return s.NumTainted() == 0 }

func (NodeAffinity) SkipFilter(_ *sdk.Snapshot, p *sdk.PodInfo) bool {
	return len(p.NodeSelector) == 0 && !p.HasRequiredAffinity
}

func (NodeAffinity) SkipScore(_ *sdk.Snapshot, p *sdk.PodInfo) bool {
	for i := range p.PreferredNodeAffinity {
		if p.PreferredNodeAffinity[i].Weight != 0 {
			return false
		}
	}
	return true
}

func (BalancedAllocation) SkipScore(_ *sdk.Snapshot, p *sdk.PodInfo) bool {
	return p.Requests.MilliCPU == 0 && p.Requests.Memory == 0
}

func (pl *PodTopologySpread) SkipFilter(*sdk.Snapshot, *sdk.PodInfo) bool { return len(pl.hard) == 0 }

func (pl *PodTopologySpread) SkipScore(*sdk.Snapshot, *sdk.PodInfo) bool { return len(pl.soft) == 0 }

func (pl *InterPodAffinity) SkipFilter(_ *sdk.Snapshot, p *sdk.PodInfo) bool {
	return len(pl.existingAnti) == 0 && len(p.RequiredAffinity) == 0 && len(p.RequiredAntiAffinity) == 0
}

func (pl *InterPodAffinity) SkipScore(*sdk.Snapshot, *sdk.PodInfo) bool { return len(pl.score) == 0 }

var (
	_ sdk.FilterSkipper = NodeUnschedulable{}
	_ sdk.FilterSkipper = NodeName{}
	_ sdk.FilterSkipper = TaintToleration{}
	_ sdk.FilterSkipper = NodeAffinity{}
	_ sdk.FilterSkipper = (*PodTopologySpread)(nil)
	_ sdk.FilterSkipper = (*InterPodAffinity)(nil)
	_ sdk.ScoreSkipper  = TaintToleration{}
	_ sdk.ScoreSkipper  = NodeAffinity{}
	_ sdk.ScoreSkipper  = BalancedAllocation{}
	_ sdk.ScoreSkipper  = (*PodTopologySpread)(nil)
	_ sdk.ScoreSkipper  = (*InterPodAffinity)(nil)
	_ sdk.BatchFilter   = NodeUnschedulable{}
	_ sdk.BatchFilter   = NodeName{}
	_ sdk.BatchFilter   = TaintToleration{}
	_ sdk.BatchFilter   = NodeAffinity{}
	_ sdk.BatchFilter   = NodeResourcesFit{}
	_ sdk.BatchFilter   = (*PodTopologySpread)(nil)
	_ sdk.BatchFilter   = (*InterPodAffinity)(nil)
	_ sdk.BatchScorer   = TaintToleration{}
	_ sdk.BatchScorer   = NodeAffinity{}
	_ sdk.BatchScorer   = NodeResourcesFit{}
	_ sdk.BatchScorer   = BalancedAllocation{}
	_ sdk.BatchScorer   = (*InterPodAffinity)(nil)
	_ sdk.BatchScorer   = (*PodTopologySpread)(nil)
)
