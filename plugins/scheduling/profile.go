package scheduling

import "weft.dev/weft/sdk"

// Filters returns kube-scheduler's default filters, in its order (fresh plugins:
// they hold per-pod state, so a policy must not share them with another).
func Filters() (fs []sdk.FilterPlugin, ipa *InterPodAffinity, pts *PodTopologySpread) {
	ipa = &InterPodAffinity{HardPodAffinityWeight: 1}
	pts = &PodTopologySpread{}
	return []sdk.FilterPlugin{
		NodeUnschedulable{},
		NodeName{},
		TaintToleration{},
		NodeAffinity{},
		NodeResourcesFit{},
		pts,
		ipa,
	}, ipa, pts
}

// Default weights of kube-scheduler's default profile (v1.32).
const (
	WeightTaintToleration    = 3
	WeightNodeAffinity       = 2
	WeightNodeResourcesFit   = 1
	WeightPodTopologySpread  = 2
	WeightInterPodAffinity   = 2
	WeightBalancedAllocation = 1
)

// NewProfile returns kube-scheduler's default profile with NodeResourcesFit scoring
// by strategy.
func NewProfile(strategy Strategy) *sdk.Policy {
	fs, ipa, pts := Filters()
	return &sdk.Policy{
		Filters: fs,
		Scores: []sdk.WeightedScore{
			{Plugin: TaintToleration{}, Weight: WeightTaintToleration},
			{Plugin: NodeAffinity{}, Weight: WeightNodeAffinity},
			{Plugin: NodeResourcesFit{Strategy: strategy}, Weight: WeightNodeResourcesFit},
			{Plugin: pts, Weight: WeightPodTopologySpread},
			{Plugin: ipa, Weight: WeightInterPodAffinity},
			{Plugin: BalancedAllocation{}, Weight: WeightBalancedAllocation},
		},
	}
}

// DefaultProfile is kube-scheduler's default profile: LeastAllocated.
func DefaultProfile() *sdk.Policy { return NewProfile(LeastAllocated) }

// BinpackProfile is the default profile scoring MostAllocated, without the
// system-default spread constraints (whose score, weighted 2, would otherwise
// outweigh MostAllocated's and spread a Deployment anyway): it fills nodes.
// Constraints a pod declares still apply.
func BinpackProfile() *sdk.Policy {
	p := NewProfile(MostAllocated)
	for _, f := range p.Filters {
		if pts, ok := f.(*PodTopologySpread); ok {
			pts.NoSystemDefaults = true
		}
	}
	return p
}
