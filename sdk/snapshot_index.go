package sdk

import (
	"maps"
	"strings"
)

// PodCounter counts the placed pods of one namespace that a label selector
// selects (pods being deleted excluded), per node and per topology domain, kept up
// to date as pods are placed and removed. Spreading and affinity need these counts
// for every pod they place; recounting them costs a label match per pod in the
// cluster, while keeping them costs one per change.
type PodCounter struct {
	s       *Snapshot
	ns      string
	sel     *LabelSelector
	perNode []int32 // by NodeInfo.ID
	// deleting: pods being deleted count too.
	deleting bool
	domains  map[string]*domainCount
	lastUse  uint64
}

type domainCount struct {
	key     string
	require []string
	counts  map[string]int
	total   int
	dirty   bool
}

// maxCounters bounds the counters a snapshot keeps (least recently used go first).
const maxCounters = 64

func counterKey(ns string, sel *LabelSelector, deleting bool) string {
	k := ns + "\x00" + sel.String()
	if sel == nil {
		k += "\x00nil"
	}
	if deleting {
		k += "\x00deleting"
	}
	return k
}

// Counter returns the counter of the pods in namespace ns that sel selects, pods
// being deleted excluded (as spreading counts them), building it on first use. A
// nil selector selects nothing.
func (s *Snapshot) Counter(ns string, sel *LabelSelector) *PodCounter {
	return s.counter(ns, sel, false)
}

// CounterWithDeleting is Counter counting pods being deleted too (as inter-pod
// affinity counts them).
func (s *Snapshot) CounterWithDeleting(ns string, sel *LabelSelector) *PodCounter {
	return s.counter(ns, sel, true)
}

func (s *Snapshot) counter(ns string, sel *LabelSelector, deleting bool) *PodCounter {
	k := counterKey(ns, sel, deleting)
	s.useClock++
	if c := s.counters[k]; c != nil {
		c.lastUse = s.useClock
		return c
	}
	if s.counters == nil {
		s.counters = map[string]*PodCounter{}
	}
	if len(s.counters) >= maxCounters {
		var oldest string
		var at uint64 = ^uint64(0)
		for k, c := range s.counters {
			if c.lastUse < at {
				oldest, at = k, c.lastUse
			}
		}
		delete(s.counters, oldest)
	}
	c := &PodCounter{s: s, ns: ns, sel: sel, deleting: deleting, perNode: make([]int32, s.nextID), domains: map[string]*domainCount{}, lastUse: s.useClock}
	for _, n := range s.byName {
		cnt := 0
		for _, p := range n.Pods {
			if c.matches(p) {
				cnt++
			}
		}
		c.perNode[n.id] = int32(cnt)
	}
	s.counters[k] = c
	return c
}

func (c *PodCounter) matches(p *PodInfo) bool {
	return p.Namespace == c.ns && (c.deleting || !p.Deleting) && c.sel.Matches(p.Labels)
}

// OnNode is the number of matching pods on n.
func (c *PodCounter) OnNode(n *NodeInfo) int {
	if n.id < len(c.perNode) {
		return int(c.perNode[n.id])
	}
	return 0
}

// Domains returns the matching pods per value of the topology key, over the known
// nodes that carry the key and every key in require; every such domain is present,
// with 0 when it holds no matching pod. The map is the counter's: do not modify it.
func (c *PodCounter) Domains(key string, require []string) map[string]int {
	return c.domain(key, require).counts
}

// InDomains is the sum of Domains(key, require): the matching pods on nodes that
// carry the keys.
func (c *PodCounter) InDomains(key string, require []string) int {
	return c.domain(key, require).total
}

func (c *PodCounter) domain(key string, require []string) *domainCount {
	dk := key + "\x00" + strings.Join(require, "\x00")
	d := c.domains[dk]
	if d == nil {
		d = &domainCount{key: key, require: append([]string(nil), require...), counts: map[string]int{}, dirty: true}
		c.domains[dk] = d
	}
	if d.dirty {
		clear(d.counts)
		d.total = 0
		for _, n := range c.s.nodes {
			if v, ok := d.value(n); ok {
				k := c.OnNode(n)
				d.counts[v] += k
				d.total += k
			}
		}
		d.dirty = false
	}
	return d
}

func (d *domainCount) value(n *NodeInfo) (string, bool) {
	for _, k := range d.require {
		if _, ok := n.Label(k); !ok {
			return "", false
		}
	}
	return n.Label(d.key)
}

// podEvent counts a pod placed on (delta 1) or removed from (−1) node n.
func (s *Snapshot) podEvent(p *PodInfo, n *NodeInfo, delta int) {
	for _, c := range s.counters {
		if !c.matches(p) {
			continue
		}
		for n.id >= len(c.perNode) {
			c.perNode = append(c.perNode, 0)
		}
		c.perNode[n.id] += int32(delta)
		if !n.exists {
			continue
		}
		for _, d := range c.domains {
			if d.dirty {
				continue
			}
			if v, ok := d.value(n); ok {
				d.counts[v] += delta
				d.total += delta
			}
		}
	}
}

// nodesChanged invalidates the counters' domains after a node came, went or changed
// its labels.
func (s *Snapshot) nodesChanged() {
	for _, c := range s.counters {
		for _, d := range c.domains {
			d.dirty = true
		}
	}
}

func labelsEqual(a, b map[string]string) bool { return maps.Equal(a, b) }
