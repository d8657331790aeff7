package scheduling

import (
	"math"

	"weft.dev/weft/sdk"
)

// InterPodAffinity filters on required pod affinity and anti-affinity (the pod's
// own, and existing pods' anti-affinity toward it) and scores preferred terms (the
// pod's, and existing pods' toward it), as kube-scheduler's plugin does, on any
// topology key the nodes carry.
type InterPodAffinity struct {
	// HardPodAffinityWeight scores existing pods' required affinity toward the pod;
	// kube-scheduler's default is 1.
	HardPodAffinityWeight int64
	// NoIndex makes PreFilter match every pod in the cluster instead of reading the
	// snapshot's pod counters (for tests comparing the two).
	NoIndex bool

	// Per-pod state from PreFilter.
	affinity     map[topoPair]int // pods matching all the pod's required affinity terms
	antiAffinity map[topoPair]int // pods matching one of its required anti-affinity terms
	existingAnti map[topoPair]int // domains whose pods' anti-affinity reject the pod
	noneMatch    bool             // no pod matches the affinity terms, and the pod does itself

	// The indexed path (preFilterIndexed): per anti-affinity term, and for a single
	// affinity term, the snapshot's counts of matching pods per domain.
	fast    bool
	antiDom []map[string]int
	affDom  map[string]int

	// Per-pod state from PreScore.
	score map[topoPair]int64
}

type topoPair struct{ key, value string }

func (*InterPodAffinity) Name() string { return "InterPodAffinity" }

func clearMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	clear(m)
	return m
}

func matchesAllTerms(terms []sdk.PodAffinityTerm, p *sdk.PodInfo) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].Matches(p) {
			return false
		}
	}
	return true
}

// PreFilter counts, per topology domain, the pods the filter needs.
func (pl *InterPodAffinity) PreFilter(s *sdk.Snapshot, p *sdk.PodInfo) {
	pl.affinity = clearMap(pl.affinity)
	pl.antiAffinity = clearMap(pl.antiAffinity)
	pl.existingAnti = clearMap(pl.existingAnti)
	// Existing pods whose required anti-affinity selects p.
	s.PodsWithAffinity(func(e *sdk.PodInfo) {
		n := e.Node()
		if n == nil || len(e.RequiredAntiAffinity) == 0 {
			return
		}
		for i := range e.RequiredAntiAffinity {
			t := &e.RequiredAntiAffinity[i]
			if t.Matches(p) {
				if v, ok := n.Label(t.TopologyKey); ok {
					pl.existingAnti[topoPair{t.TopologyKey, v}]++
				}
			}
		}
	})
	pl.fast = false
	if len(p.RequiredAffinity) == 0 && len(p.RequiredAntiAffinity) == 0 {
		return
	}
	if !pl.NoIndex && pl.preFilterIndexed(s, p) {
		return
	}
	for _, n := range s.Nodes() {
		for _, e := range n.Pods {
			if matchesAllTerms(p.RequiredAffinity, e) {
				for i := range p.RequiredAffinity {
					t := &p.RequiredAffinity[i]
					if v, ok := n.Label(t.TopologyKey); ok {
						pl.affinity[topoPair{t.TopologyKey, v}]++
					}
				}
			}
			for i := range p.RequiredAntiAffinity {
				t := &p.RequiredAntiAffinity[i]
				if t.Matches(e) {
					if v, ok := n.Label(t.TopologyKey); ok {
						pl.antiAffinity[topoPair{t.TopologyKey, v}]++
					}
				}
			}
		}
	}
	pl.noneMatch = len(pl.affinity) == 0 && matchesAllTerms(p.RequiredAffinity, p)
}

// preFilterIndexed takes the pod's counts from the snapshot's pod counters, when
// every term selects in one namespace and there is at most one affinity term (the
// common case: a Deployment keeping its replicas apart), instead of matching every
// pod in the cluster.
func (pl *InterPodAffinity) preFilterIndexed(s *sdk.Snapshot, p *sdk.PodInfo) bool {
	single := func(t *sdk.PodAffinityTerm) bool { return !t.AllNamespaces && len(t.Namespaces) == 1 }
	if len(p.RequiredAffinity) > 1 || (len(p.RequiredAffinity) == 1 && !single(&p.RequiredAffinity[0])) {
		return false
	}
	for i := range p.RequiredAntiAffinity {
		if !single(&p.RequiredAntiAffinity[i]) {
			return false
		}
	}
	pl.fast = true
	pl.antiDom = pl.antiDom[:0]
	for i := range p.RequiredAntiAffinity {
		t := &p.RequiredAntiAffinity[i]
		pl.antiDom = append(pl.antiDom, s.CounterWithDeleting(t.Namespaces[0], t.Selector).Domains(t.TopologyKey, nil))
	}
	pl.affDom = nil
	if len(p.RequiredAffinity) == 1 {
		t := &p.RequiredAffinity[0]
		c := s.CounterWithDeleting(t.Namespaces[0], t.Selector)
		pl.affDom = c.Domains(t.TopologyKey, nil)
		pl.noneMatch = c.InDomains(t.TopologyKey, nil) == 0 && t.Matches(p)
	}
	return true
}

func (pl *InterPodAffinity) Filter(_ *sdk.Snapshot, p *sdk.PodInfo, n *sdk.NodeInfo) (bool, string) {
	if len(pl.existingAnti) > 0 {
		for tp := range pl.existingAnti {
			if v, ok := n.Label(tp.key); ok && v == tp.value {
				return false, ReasonExistingAntiAffinity
			}
		}
	}
	if pl.fast {
		for i := range p.RequiredAntiAffinity {
			if v, ok := n.Label(p.RequiredAntiAffinity[i].TopologyKey); ok && pl.antiDom[i][v] > 0 {
				return false, ReasonAntiAffinity
			}
		}
		if pl.affDom != nil {
			v, ok := n.Label(p.RequiredAffinity[0].TopologyKey)
			if !ok || (pl.affDom[v] <= 0 && !pl.noneMatch) {
				return false, ReasonAffinity
			}
		}
		return true, ""
	}
	if len(pl.antiAffinity) > 0 {
		for i := range p.RequiredAntiAffinity {
			t := &p.RequiredAntiAffinity[i]
			if v, ok := n.Label(t.TopologyKey); ok && pl.antiAffinity[topoPair{t.TopologyKey, v}] > 0 {
				return false, ReasonAntiAffinity
			}
		}
	}
	if len(p.RequiredAffinity) > 0 {
		exist := true
		for i := range p.RequiredAffinity {
			t := &p.RequiredAffinity[i]
			v, ok := n.Label(t.TopologyKey)
			if !ok {
				return false, ReasonAffinity
			}
			if pl.affinity[topoPair{t.TopologyKey, v}] <= 0 {
				exist = false
			}
		}
		if !exist && !pl.noneMatch {
			return false, ReasonAffinity
		}
	}
	return true, ""
}

// PreScore sums, per topology domain, the weights of the preferred terms between the
// pod and the pods already placed.
func (pl *InterPodAffinity) PreScore(s *sdk.Snapshot, p *sdk.PodInfo, _ []*sdk.NodeInfo) {
	pl.score = clearMap(pl.score)
	hard := pl.HardPodAffinityWeight
	process := func(n *sdk.NodeInfo, e *sdk.PodInfo) {
		add := func(t *sdk.PodAffinityTerm, w int64) {
			if v, ok := n.Label(t.TopologyKey); ok {
				pl.score[topoPair{t.TopologyKey, v}] += w
			}
		}
		for i := range p.PreferredAffinity {
			if w := &p.PreferredAffinity[i]; w.Term.Matches(e) {
				add(&w.Term, w.Weight)
			}
		}
		for i := range p.PreferredAntiAffinity {
			if w := &p.PreferredAntiAffinity[i]; w.Term.Matches(e) {
				add(&w.Term, -w.Weight)
			}
		}
		if !e.HasAffinity() {
			return
		}
		if hard > 0 {
			for i := range e.RequiredAffinity {
				if t := &e.RequiredAffinity[i]; t.Matches(p) {
					add(t, hard)
				}
			}
		}
		for i := range e.PreferredAffinity {
			if w := &e.PreferredAffinity[i]; w.Term.Matches(p) {
				add(&w.Term, w.Weight)
			}
		}
		for i := range e.PreferredAntiAffinity {
			if w := &e.PreferredAntiAffinity[i]; w.Term.Matches(p) {
				add(&w.Term, -w.Weight)
			}
		}
	}
	if len(p.PreferredAffinity)+len(p.PreferredAntiAffinity) > 0 {
		for _, n := range s.Nodes() {
			for _, e := range n.Pods {
				process(n, e)
			}
		}
		return
	}
	s.PodsWithAffinity(func(e *sdk.PodInfo) {
		if n := e.Node(); n != nil {
			process(n, e)
		}
	})
}

func (pl *InterPodAffinity) Score(_ *sdk.Snapshot, _ *sdk.PodInfo, n *sdk.NodeInfo) int64 {
	if len(pl.score) == 0 {
		return 0
	}
	var s int64
	for tp, w := range pl.score {
		if v, ok := n.Labels[tp.key]; ok && v == tp.value {
			s += w
		} else if !ok {
			if v, ok := n.Label(tp.key); ok && v == tp.value {
				s += w
			}
		}
	}
	return s
}

// NormalizeScores maps the scores linearly from [min, max] onto [0, 100].
func (pl *InterPodAffinity) NormalizeScores(_ *sdk.Snapshot, _ *sdk.PodInfo, _ []*sdk.NodeInfo, scores []int64) {
	if len(pl.score) == 0 {
		return
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		lo, hi = min(lo, s), max(hi, s)
	}
	diff := hi - lo
	for i, s := range scores {
		f := 0.0
		if diff > 0 {
			f = float64(sdk.MaxNodeScore) * (float64(s-lo) / float64(diff))
		}
		scores[i] = int64(f)
	}
}
