package scheduling

import (
	"math"
	"sort"

	"weft.dev/weft/sdk"
)

// Reasons, worded as kube-scheduler 1.32 words them.
const (
	ReasonUnschedulable        = "node(s) were unschedulable"
	ReasonNodeName             = "node(s) didn't match the requested node name"
	ReasonNodeAffinity         = "node(s) didn't match Pod's node affinity/selector"
	ReasonTooManyPods          = "Too many pods"
	ReasonAffinity             = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonSpread               = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel   = ReasonSpread + " (missing required label)"
)

// UntoleratedTaintReason is TaintToleration's reason for a taint.
func UntoleratedTaintReason(t *sdk.Taint) string {
	return "node(s) had untolerated taint {" + t.Key + ": " + t.Value + "}"
}

// InsufficientReason is NodeResourcesFit's reason for a resource.
func InsufficientReason(resource string) string { return "Insufficient " + resource }

// NodeUnschedulable rejects nodes marked spec.unschedulable, unless the pod
// tolerates node.kubernetes.io/unschedulable:NoSchedule.
type NodeUnschedulable struct{}

func (NodeUnschedulable) Name() string { return "NodeUnschedulable" }

var unschedulableTaint = sdk.Taint{Key: sdk.TaintUnschedulable, Effect: sdk.NoSchedule}

func (NodeUnschedulable) Filter(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) (bool, string) {
	if !n.Unschedulable || sdk.Tolerated(p.Tolerations, &unschedulableTaint) {
		return true, ""
	}
	return false, ReasonUnschedulable
}

// NodeName rejects every node but the one a pod's spec.nodeName names, if any.
type NodeName struct{}

func (NodeName) Name() string { return "NodeName" }

func (NodeName) Filter(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) (bool, string) {
	if p.NodeName == "" || p.NodeName == n.Name {
		return true, ""
	}
	return false, ReasonNodeName
}

// TaintToleration filters on NoSchedule and NoExecute taints and scores
// PreferNoSchedule ones (fewer untolerated is better).
type TaintToleration struct{}

func (TaintToleration) Name() string { return "TaintToleration" }

var (
	notReadyTaint    = sdk.Taint{Key: sdk.TaintNotReady, Effect: sdk.NoSchedule}
	unreachableTaint = sdk.Taint{Key: sdk.TaintUnreachable, Effect: sdk.NoSchedule}
)

// readinessTaint is the taint the node lifecycle controller would put on n, if any
// and if n does not carry it already.
func readinessTaint(n *sdk.NodeInfo) *sdk.Taint {
	if n.Ready {
		return nil
	}
	t := &notReadyTaint
	if n.ReadyStatus == "Unknown" {
		t = &unreachableTaint
	}
	for i := range n.Taints {
		if n.Taints[i].Key == t.Key {
			return nil
		}
	}
	return t
}

func (TaintToleration) Filter(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) (bool, string) {
	for i := range n.Taints {
		t := &n.Taints[i]
		if t.Effect != sdk.NoSchedule && t.Effect != sdk.NoExecute {
			continue
		}
		if !sdk.Tolerated(p.Tolerations, t) {
			return false, UntoleratedTaintReason(t)
		}
	}
	if t := readinessTaint(n); t != nil && !sdk.Tolerated(p.Tolerations, t) {
		return false, UntoleratedTaintReason(t)
	}
	return true, ""
}

// Score counts the PreferNoSchedule taints the pod does not tolerate; normalising
// reverses it.
func (TaintToleration) Score(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) int64 {
	var c int64
	for i := range n.Taints {
		t := &n.Taints[i]
		if t.Effect != sdk.PreferNoSchedule {
			continue
		}
		tolerated := false
		for j := range p.Tolerations {
			tl := &p.Tolerations[j]
			if (tl.Effect == "" || tl.Effect == sdk.PreferNoSchedule) && tl.Tolerates(t) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			c++
		}
	}
	return c
}

func (TaintToleration) NormalizeScores(_ *sdk.Snapshot, _ *sdk.PodInfo, _ []*sdk.NodeInfo, scores []int64) {
	DefaultNormalizeScore(scores, true)
}

// DefaultNormalizeScore scales scores so the highest is 100, and with reverse
// subtracts them from 100, as kube-scheduler's helper does (all 100 when reversed
// and all zero).
func DefaultNormalizeScore(scores []int64, reverse bool) {
	var maxCount int64
	for _, s := range scores {
		maxCount = max(maxCount, s)
	}
	if maxCount == 0 {
		if reverse {
			for i := range scores {
				scores[i] = sdk.MaxNodeScore
			}
		}
		return
	}
	for i, s := range scores {
		s = quo(sdk.MaxNodeScore*s, maxCount)
		if reverse {
			s = sdk.MaxNodeScore - s
		}
		scores[i] = s
	}
}

// NodeAffinity filters on nodeSelector and required node affinity, and scores the
// preferred terms' weights.
type NodeAffinity struct{}

func (NodeAffinity) Name() string { return "NodeAffinity" }

func (NodeAffinity) Filter(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) (bool, string) {
	if p.MatchesNodeSelector(n) {
		return true, ""
	}
	return false, ReasonNodeAffinity
}

func (NodeAffinity) Score(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) int64 {
	var s int64
	for i := range p.PreferredNodeAffinity {
		t := &p.PreferredNodeAffinity[i]
		if t.Weight != 0 && t.Preference.Matches(n) {
			s += t.Weight
		}
	}
	return s
}

func (NodeAffinity) NormalizeScores(_ *sdk.Snapshot, _ *sdk.PodInfo, _ []*sdk.NodeInfo, scores []int64) {
	DefaultNormalizeScore(scores, false)
}

// NodeResourcesFit rejects nodes without room for the pod's requests, or its
// pod count; as a score plugin it applies Strategy (LeastAllocated by default) to
// CPU and memory, weight 1 each, with scoring's non-zero requests.
type NodeResourcesFit struct {
	Strategy Strategy
}

// Strategy is NodeResourcesFit's scoring strategy.
type Strategy int

const (
	LeastAllocated Strategy = iota
	MostAllocated
)

func (NodeResourcesFit) Name() string { return "NodeResourcesFit" }

func (NodeResourcesFit) Filter(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) (bool, string) {
	reason := ""
	add := func(r string) {
		if reason != "" {
			reason += sdk.ReasonSep
		}
		reason += r
	}
	if int64(len(n.Pods))+1 > n.AllowedPods {
		add(ReasonTooManyPods)
	}
	req, alloc, used := &p.Requests, &n.Allocatable, &n.Requested
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		add(InsufficientReason("cpu"))
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		add(InsufficientReason("memory"))
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		add(InsufficientReason("ephemeral-storage"))
	}
	if len(req.Scalar) > 0 {
		names := make([]string, 0, len(req.Scalar))
		for k, v := range req.Scalar {
			if v > 0 && v > alloc.Scalar[k]-used.Scalar[k] {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			add(InsufficientReason(k))
		}
	}
	return reason == "", reason
}

func (f NodeResourcesFit) Score(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) int64 {
	var score, weights int64
	for _, r := range [2]struct{ alloc, req int64 }{
		{n.Allocatable.MilliCPU, n.NonZeroRequested.MilliCPU + p.NonZeroRequests.MilliCPU},
		{n.Allocatable.Memory, n.NonZeroRequested.Memory + p.NonZeroRequests.Memory},
	} {
		if r.alloc == 0 {
			continue
		}
		if f.Strategy == MostAllocated {
			score += MostRequestedScore(r.req, r.alloc)
		} else {
			score += LeastRequestedScore(r.req, r.alloc)
		}
		weights++
	}
	if weights == 0 {
		return 0
	}
	return score / weights
}

// LeastRequestedScore is (capacity − requested) × 100 / capacity, 0 when over.
func LeastRequestedScore(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return quo((capacity-requested)*sdk.MaxNodeScore, capacity)
}

// MostRequestedScore is requested × 100 / capacity, capped at 100.
func MostRequestedScore(requested, capacity int64) int64 {
	if capacity == 0 {
		return 0
	}
	if requested > capacity {
		requested = capacity
	}
	return quo(requested*sdk.MaxNodeScore, capacity)
}

// quo is a / b. Go's wasm backend divides signed 64-bit integers by calling the
// runtime (to catch MinInt64 / −1); an unsigned division is one instruction, and
// scores divide non-negative numbers.
func quo(a, b int64) int64 {
	if a >= 0 && b > 0 {
		return int64(uint64(a) / uint64(b))
	}
	return a / b
}

// BalancedAllocation favours nodes whose CPU and memory would be used in equal
// fractions: (1 − std of the fractions) × 100, with the real requests. A pod that
// requests nothing scores every node alike.
type BalancedAllocation struct{}

func (BalancedAllocation) Name() string { return "NodeResourcesBalancedAllocation" }

func (BalancedAllocation) Score(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) int64 {
	if p.Requests.MilliCPU == 0 && p.Requests.Memory == 0 {
		return 0
	}
	var fr [2]float64
	k := 0
	for _, r := range [2]struct{ alloc, req int64 }{
		{n.Allocatable.MilliCPU, n.Requested.MilliCPU + p.Requests.MilliCPU},
		{n.Allocatable.Memory, n.Requested.Memory + p.Requests.Memory},
	} {
		if r.alloc == 0 {
			continue
		}
		f := float64(r.req) / float64(r.alloc)
		if f > 1 {
			f = 1
		}
		fr[k] = f
		k++
	}
	std := 0.0
	if k == 2 {
		std = math.Abs((fr[0] - fr[1]) / 2)
	}
	return int64((1 - std) * float64(sdk.MaxNodeScore))
}
