package sdk

import (
	"errors"
	"strconv"
)

// The scheduler's view of the cluster. A scheduler plugin keeps one Snapshot, which
// the host feeds incrementally (weft_feed, kinds v1/Node and v1/Pod), so a schedule
// call carries only the keys of the pods to place: nodes cross the boundary once per
// change, never once per pod. Objects are decoded by hand (JSONReader), as reflection
// costs dozens of times more inside a guest.

// Kinds a scheduler's snapshot is fed.
var (
	NodeKind = GVK{Version: "v1", Kind: "Node"}
	PodKind  = GVK{Version: "v1", Kind: "Pod"}
)

// SchedulerFeedFields are the projections a host feeds a scheduler plugin: what
// DecodeNode and DecodePod read.
var SchedulerFeedFields = []FieldSet{
	{Kind: NodeKind, Paths: []string{".spec", ".status.allocatable", ".status.capacity", ".status.conditions"}},
	{Kind: PodKind, Paths: []string{".spec", ".status.phase"}},
}

// Well-known labels and taints.
const (
	LabelHostname      = "kubernetes.io/hostname"
	LabelZone          = "topology.kubernetes.io/zone"
	LabelZoneBeta      = "failure-domain.beta.kubernetes.io/zone"
	TaintNotReady      = "node.kubernetes.io/not-ready"
	TaintUnreachable   = "node.kubernetes.io/unreachable"
	TaintUnschedulable = "node.kubernetes.io/unschedulable"
)

// Taint effects.
const (
	NoSchedule       = "NoSchedule"
	PreferNoSchedule = "PreferNoSchedule"
	NoExecute        = "NoExecute"
)

// Default requests the scheduler assumes for containers that request no CPU or
// memory when it scores (kube-scheduler's DefaultMilliCPURequest and
// DefaultMemoryRequest); filtering uses the real requests.
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// ErrUnknownPod and ErrUnknownNode are returned by Assume and Forget.
var (
	ErrUnknownPod  = errors.New("sdk: pod not in snapshot")
	ErrUnknownNode = errors.New("sdk: node not in snapshot")
	ErrNotAssumed  = errors.New("sdk: pod not assumed")
)

// Resources are amounts of compute resources: CPU in millicores, memory and
// ephemeral storage in bytes, and extended resources (hugepages-*, vendor.com/gpu)
// in their own units.
type Resources struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	Scalar           map[string]int64
}

// Get returns the amount of the named resource ("cpu" in millicores).
func (r *Resources) Get(name string) int64 {
	switch name {
	case "cpu":
		return r.MilliCPU
	case "memory":
		return r.Memory
	case "ephemeral-storage":
		return r.EphemeralStorage
	}
	return r.Scalar[name]
}

// IsZero reports whether nothing is requested.
func (r *Resources) IsZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, v := range r.Scalar {
		if v != 0 {
			return false
		}
	}
	return true
}

func (r *Resources) set(name string, v int64) {
	switch name {
	case "cpu":
		r.MilliCPU = v
	case "memory":
		r.Memory = v
	case "ephemeral-storage":
		r.EphemeralStorage = v
	default:
		if r.Scalar == nil {
			r.Scalar = map[string]int64{}
		}
		r.Scalar[name] = v
	}
}

// add adds sign×o to r.
func (r *Resources) add(o *Resources, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[string]int64{}
		}
		r.Scalar[k] += sign * v
	}
}

// maxOf sets each amount of r to the larger of r's and o's.
func (r *Resources) maxOf(o *Resources) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[string]int64{}
		}
		r.Scalar[k] = max(r.Scalar[k], v)
	}
}

// Taint is v1.Taint.
type Taint struct {
	Key, Value, Effect string
}

// Toleration is v1.Toleration.
type Toleration struct {
	Key, Operator, Value, Effect string
}

// Tolerates reports whether t tolerates taint, as v1.Toleration.ToleratesTaint does.
func (t *Toleration) Tolerates(taint *Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", "Equal":
		return t.Value == taint.Value
	case "Exists":
		return true
	}
	return false
}

// Tolerated reports whether one of ts tolerates taint.
func Tolerated(ts []Toleration, taint *Taint) bool {
	for i := range ts {
		if ts[i].Tolerates(taint) {
			return true
		}
	}
	return false
}

// NodeSelectorRequirement is v1.NodeSelectorRequirement: operators In, NotIn,
// Exists, DoesNotExist, Gt, Lt.
type NodeSelectorRequirement struct {
	Key      string
	Operator string
	Values   []string
}

// NodeSelectorTerm is v1.NodeSelectorTerm; its requirements are ANDed. An empty term
// matches no node.
type NodeSelectorTerm struct {
	MatchExpressions []NodeSelectorRequirement
	MatchFields      []NodeSelectorRequirement // only metadata.name
}

// PreferredSchedulingTerm is a weighted NodeSelectorTerm.
type PreferredSchedulingTerm struct {
	Weight     int64
	Preference NodeSelectorTerm
}

// PodAffinityTerm is v1.PodAffinityTerm. Namespaces holds the namespaces the
// selector applies to, resolved at decode time: the pod's own when the term names
// none; AllNamespaces when namespaceSelector is {} (other namespace selectors are
// not supported: the snapshot holds no namespaces, and such a term matches nothing
// outside its listed namespaces).
type PodAffinityTerm struct {
	Selector      *LabelSelector
	Namespaces    []string
	AllNamespaces bool
	TopologyKey   string
}

// WeightedPodAffinityTerm is a preferred term.
type WeightedPodAffinityTerm struct {
	Weight int64
	Term   PodAffinityTerm
}

// Matches reports whether pod p is selected by the term.
func (t *PodAffinityTerm) Matches(p *PodInfo) bool {
	if !t.AllNamespaces {
		found := false
		for _, ns := range t.Namespaces {
			if ns == p.Namespace {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return t.Selector.Matches(p.Labels)
}

// TopologySpreadConstraint is v1.TopologySpreadConstraint; matchLabelKeys are
// folded into Selector at decode time.
type TopologySpreadConstraint struct {
	MaxSkew           int64
	TopologyKey       string
	WhenUnsatisfiable string // DoNotSchedule or ScheduleAnyway
	Selector          *LabelSelector
	MinDomains        int64
	// NodeAffinityPolicy (Honor by default) and NodeTaintsPolicy (Ignore by default).
	NodeAffinityPolicy string
	NodeTaintsPolicy   string
}

// NodeInfo is a node and what is bound to it.
type NodeInfo struct {
	Name   string
	UID    string
	Labels map[string]string
	Taints []Taint
	// Allocatable resources; AllowedPods is the pods resource.
	Allocatable   Resources
	AllowedPods   int64
	Unschedulable bool
	// Ready is false when the Ready condition is False or Unknown; a node that
	// reports no Ready condition yet counts as ready.
	Ready bool
	// ReadyStatus is the Ready condition's status ("True", "False", "Unknown" or "").
	ReadyStatus string
	// Zone and Hostname come from the standard labels; Hostname falls back to Name.
	Zone     string
	Hostname string

	// Pods bound or assumed to the node, terminated ones excluded, in no order.
	Pods []*PodInfo
	// Requested sums the pods' requests; NonZeroRequested the same with scoring's
	// defaults for containers that request no CPU or memory. Kept incrementally.
	Requested        Resources
	NonZeroRequested Resources
	// PodsWithAffinity counts pods with any pod (anti-)affinity term;
	// PodsWithRequiredAntiAffinity those with required anti-affinity.
	PodsWithAffinity             int
	PodsWithRequiredAntiAffinity int

	exists bool // the Node object is known (false for a ghost holding pods)
	idx    int  // position in Snapshot.nodes when exists
	id     int  // see ID
	// nameHash caches the hash of Name for breaking ties (0 until computed).
	nameHash uint64
	zone     int32 // see ZoneID; 0 until the snapshot assigns it
}

// ZoneID is a small integer naming the node's Zone within its snapshot (one per
// distinct zone, 0 to NumZones()-1), for indexing per-zone state by slice rather
// than by string map; -1 when the node has no zone or is not in a snapshot.
func (n *NodeInfo) ZoneID() int { return int(n.zone) - 1 }

// ID is a small integer naming the node within its snapshot, never reused, for
// indexing per-node state by slice rather than by map.
func (n *NodeInfo) ID() int { return n.id }

// Label returns the node's value for a topology key: its label, except that the
// hostname and zone keys read Hostname and Zone (decoded from the labels, the
// hostname falling back to the node's name and the zone to the beta label).
func (n *NodeInfo) Label(key string) (string, bool) {
	// The two keys every policy asks for are decoded once (no hashing per lookup).
	switch key {
	case LabelHostname:
		return n.Hostname, n.Hostname != ""
	case LabelZone:
		return n.Zone, n.Zone != ""
	}
	if v, ok := n.Labels[key]; ok {
		return v, true
	}
	switch key {
	case LabelHostname:
		return n.Hostname, n.Hostname != ""
	case LabelZone, LabelZoneBeta:
		return n.Zone, n.Zone != ""
	}
	return "", false
}

// PodInfo is a pod as the scheduler sees it.
type PodInfo struct {
	Namespace, Name, UID string
	Labels               map[string]string
	NodeName             string
	SchedulerName        string
	Priority             int32
	// Phase is Succeeded or Failed once the pod has terminated; the host feeds no
	// earlier phase (ABI.md), so it is empty before.
	Phase    string
	Deleting bool
	// Controlled is true when the pod has a controller ownerReference (a
	// ReplicaSet, StatefulSet...): it then gets the default spread constraints.
	Controlled bool
	// ControllerKind is its kind.
	ControllerKind string

	// Requests follow kube's rules: containers summed, init containers' maximum
	// (restartable init containers counted as sidecars), plus overhead.
	Requests Resources
	// NonZeroRequests are Requests' CPU and memory with scoring's per-container
	// defaults (100m, 200Mi).
	NonZeroRequests Resources

	NodeSelector          map[string]string
	RequiredNodeAffinity  []NodeSelectorTerm // ORed; nil when none
	HasRequiredAffinity   bool               // required node affinity was given
	PreferredNodeAffinity []PreferredSchedulingTerm

	RequiredAffinity      []PodAffinityTerm
	PreferredAffinity     []WeightedPodAffinityTerm
	RequiredAntiAffinity  []PodAffinityTerm
	PreferredAntiAffinity []WeightedPodAffinityTerm

	Tolerations    []Toleration
	TopologySpread []TopologySpreadConstraint

	// Assumed is set while the pod is on a node only because this guest placed it
	// there (Snapshot.Assume), until the host's feed confirms the binding.
	Assumed bool

	node *NodeInfo // the node it counts on, nil when pending or terminated
	idx  int       // position in node.Pods
}

// Key is "namespace/name".
func (p *PodInfo) Key() string { return p.Namespace + "/" + p.Name }

// Terminated reports whether the pod has finished (Succeeded or Failed): it no
// longer holds resources.
func (p *PodInfo) Terminated() bool { return p.Phase == "Succeeded" || p.Phase == "Failed" }

// HasAffinity reports whether the pod has any pod affinity or anti-affinity term.
func (p *PodInfo) HasAffinity() bool {
	return len(p.RequiredAffinity)+len(p.PreferredAffinity)+len(p.RequiredAntiAffinity)+len(p.PreferredAntiAffinity) > 0
}

// MatchesNodeSelector reports whether node n satisfies the pod's nodeSelector and
// required node affinity.
func (p *PodInfo) MatchesNodeSelector(n *NodeInfo) bool {
	for k, v := range p.NodeSelector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	if p.HasRequiredAffinity {
		return MatchNodeSelectorTerms(p.RequiredNodeAffinity, n)
	}
	return true
}

// MatchNodeSelectorTerms reports whether n matches one of the terms.
func MatchNodeSelectorTerms(terms []NodeSelectorTerm, n *NodeInfo) bool {
	for i := range terms {
		if terms[i].Matches(n) {
			return true
		}
	}
	return false
}

// Matches reports whether n satisfies every requirement of the term; an empty term
// matches nothing.
func (t *NodeSelectorTerm) Matches(n *NodeInfo) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for i := range t.MatchExpressions {
		if !t.MatchExpressions[i].matches(n.Labels) {
			return false
		}
	}
	for i := range t.MatchFields {
		r := &t.MatchFields[i]
		if r.Key != "metadata.name" || (r.Operator != "In" && r.Operator != "NotIn") {
			return false
		}
		if !r.matches(map[string]string{"metadata.name": n.Name}) {
			return false
		}
	}
	return true
}

func (r *NodeSelectorRequirement) matches(labels map[string]string) bool {
	v, has := labels[r.Key]
	switch r.Operator {
	case "In":
		return has && contains(r.Values, v)
	case "NotIn":
		return !has || !contains(r.Values, v)
	case "Exists":
		return has
	case "DoesNotExist":
		return !has
	case "Gt", "Lt":
		if !has || len(r.Values) != 1 {
			return false
		}
		lv, err1 := strconv.ParseInt(v, 10, 64)
		rv, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == "Gt" {
			return lv > rv
		}
		return lv < rv
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Snapshot is the scheduler's cluster state: nodes, and every pod, bound or not.
// It is not safe for concurrent use; a guest instance serves one call at a time.
type Snapshot struct {
	nodes  []*NodeInfo          // known nodes, in no particular order
	byName map[string]*NodeInfo // known nodes and ghosts holding pods
	pods   map[string]*PodInfo  // by namespace/name
	// affinityPods are pods on nodes that have pod (anti-)affinity terms.
	affinityPods map[*PodInfo]struct{}
	synced       bool
	counters     map[string]*PodCounter // see Counter
	useClock     uint64
	nextID       int
	// Nodes with spec.unschedulable, with taints, and not ready: when there are none,
	// filters about them pass every node without looking.
	unschedulable, tainted, notReady int
	zoneIDs                          map[string]int32
	zoneNames                        []string
	// Generation counts changes, for policies that cache per-snapshot state.
	Generation uint64
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{
		byName:       map[string]*NodeInfo{},
		pods:         map[string]*PodInfo{},
		affinityPods: map[*PodInfo]struct{}{},
	}
}

// Nodes returns the known nodes. The slice belongs to the snapshot: do not keep or
// modify it across changes.
func (s *Snapshot) Nodes() []*NodeInfo { return s.nodes }

// NumNodes is len(Nodes()).
func (s *Snapshot) NumNodes() int { return len(s.nodes) }

// NumUnschedulable counts the known nodes marked spec.unschedulable.
func (s *Snapshot) NumUnschedulable() int { return s.unschedulable }

// NumTainted counts the known nodes with taints.
func (s *Snapshot) NumTainted() int { return s.tainted }

// NumNotReady counts the known nodes that are not Ready.
func (s *Snapshot) NumNotReady() int { return s.notReady }

// NumZones bounds the nodes' ZoneIDs.
func (s *Snapshot) NumZones() int { return len(s.zoneNames) }

// ZoneName is the zone a ZoneID names.
func (s *Snapshot) ZoneName(id int) string { return s.zoneNames[id] }

// countNode adds (sign 1) or removes (−1) a known node from the node counts.
func (s *Snapshot) countNode(n *NodeInfo, sign int) {
	b := func(v bool) int {
		if v {
			return sign
		}
		return 0
	}
	s.unschedulable += b(n.Unschedulable)
	s.tainted += b(len(n.Taints) > 0)
	s.notReady += b(!n.Ready)
}

func (s *Snapshot) assignZone(n *NodeInfo) {
	n.zone = 0
	if n.Zone == "" {
		return
	}
	id, ok := s.zoneIDs[n.Zone]
	if !ok {
		if s.zoneIDs == nil {
			s.zoneIDs = map[string]int32{}
		}
		s.zoneNames = append(s.zoneNames, n.Zone)
		id = int32(len(s.zoneNames))
		s.zoneIDs[n.Zone] = id
	}
	n.zone = id
}

// Node returns a known node by name.
func (s *Snapshot) Node(name string) *NodeInfo {
	if n := s.byName[name]; n != nil && n.exists {
		return n
	}
	return nil
}

// Pod returns a pod by "namespace/name".
func (s *Snapshot) Pod(key string) *PodInfo { return s.pods[key] }

// NumPods counts the pods known, bound or not.
func (s *Snapshot) NumPods() int { return len(s.pods) }

// Synced reports whether the host has fed the initial state.
func (s *Snapshot) Synced() bool { return s.synced }

// PodsWithAffinity calls f for every pod on a node that has pod (anti-)affinity
// terms.
func (s *Snapshot) PodsWithAffinity(f func(*PodInfo)) {
	for p := range s.affinityPods {
		f(p)
	}
}

// IsSnapshotKind reports whether a fed kind belongs to the snapshot.
func IsSnapshotKind(k GVK) bool { return k == NodeKind || k == PodKind }

// Apply applies one fed change of a Node or a Pod (other kinds are ignored).
func (s *Snapshot) Apply(ev FeedEvent) error {
	if ev.Type == Synced {
		s.synced = true
		return nil
	}
	switch ev.Kind {
	case NodeKind:
		n, err := DecodeNode(ev.Object)
		if err != nil {
			return errors.Join(errors.New("sdk: snapshot: node"), err)
		}
		if ev.Type == Deleted {
			s.RemoveNode(n.Name)
		} else {
			s.SetNode(n)
		}
	case PodKind:
		p, err := DecodePod(ev.Object)
		if err != nil {
			return errors.Join(errors.New("sdk: snapshot: pod"), err)
		}
		if ev.Type == Deleted {
			s.RemovePod(p.Key())
		} else {
			s.SetPod(p)
		}
	}
	return nil
}

// SetNode adds a node or replaces what is known of it, keeping its pods.
func (s *Snapshot) SetNode(n *NodeInfo) {
	s.Generation++
	old := s.byName[n.Name]
	if old == nil {
		n.exists = true
		n.id = s.nextID
		s.nextID++
		n.idx = len(s.nodes)
		s.nodes = append(s.nodes, n)
		s.byName[n.Name] = n
		s.assignZone(n)
		s.countNode(n, 1)
		s.nodesChanged()
		return
	}
	if old.exists {
		s.countNode(old, -1)
	}
	if !old.exists || !labelsEqual(old.Labels, n.Labels) || old.Zone != n.Zone || old.Hostname != n.Hostname {
		defer s.nodesChanged()
	}
	// Keep the NodeInfo (pods hold pointers to it); replace the node's own fields.
	old.UID, old.Labels, old.Taints = n.UID, n.Labels, n.Taints
	old.Allocatable, old.AllowedPods = n.Allocatable, n.AllowedPods
	old.Unschedulable, old.Ready, old.ReadyStatus = n.Unschedulable, n.Ready, n.ReadyStatus
	old.Zone, old.Hostname = n.Zone, n.Hostname
	s.assignZone(old)
	s.countNode(old, 1)
	if !old.exists {
		old.exists = true
		old.idx = len(s.nodes)
		s.nodes = append(s.nodes, old)
	}
}

// RemoveNode forgets a node. Pods still bound to it stay counted on a ghost until
// they go, as in kube-scheduler's cache, so a node that comes back finds them.
func (s *Snapshot) RemoveNode(name string) {
	n := s.byName[name]
	if n == nil || !n.exists {
		return
	}
	s.Generation++
	s.countNode(n, -1)
	last := s.nodes[len(s.nodes)-1]
	s.nodes[n.idx] = last
	last.idx = n.idx
	s.nodes[len(s.nodes)-1] = nil
	s.nodes = s.nodes[:len(s.nodes)-1]
	n.exists = false
	if len(n.Pods) == 0 {
		delete(s.byName, name)
	}
	s.nodesChanged()
}

// SetPod adds a pod or replaces what is known of it, moving its resources between
// nodes as its binding and phase change. A pod this guest assumed keeps its
// assumed node until an update names a node.
func (s *Snapshot) SetPod(p *PodInfo) {
	s.Generation++
	k := p.Key()
	if old := s.pods[k]; old != nil {
		if old.Assumed && p.NodeName == "" && !p.Terminated() {
			p.NodeName = old.NodeName
			p.Assumed = true
		}
		s.unplace(old)
	}
	s.pods[k] = p
	s.place(p)
}

// RemovePod forgets a pod.
func (s *Snapshot) RemovePod(key string) {
	p := s.pods[key]
	if p == nil {
		return
	}
	s.Generation++
	s.unplace(p)
	delete(s.pods, key)
}

// Assume places a pending pod on a node, as if bound, until the host's feed
// confirms the binding (an update naming the node) or Forget undoes it.
func (s *Snapshot) Assume(p *PodInfo, node string) error {
	if s.pods[p.Key()] != p {
		if old := s.pods[p.Key()]; old != nil {
			s.unplace(old)
		}
		s.pods[p.Key()] = p
	}
	if s.Node(node) == nil {
		return ErrUnknownNode
	}
	s.Generation++
	s.unplace(p)
	p.NodeName, p.Assumed = node, true
	s.place(p)
	return nil
}

// Forget undoes Assume for the pod with this key: the binding failed, or the call
// was a dry run.
func (s *Snapshot) Forget(key string) error {
	p := s.pods[key]
	if p == nil {
		return ErrUnknownPod
	}
	if !p.Assumed {
		return ErrNotAssumed
	}
	s.Generation++
	s.unplace(p)
	p.NodeName, p.Assumed = "", false
	return nil
}

// place counts a pod on its node, when it has one and holds resources.
func (s *Snapshot) place(p *PodInfo) {
	if p.NodeName == "" || p.Terminated() {
		return
	}
	n := s.byName[p.NodeName]
	if n == nil {
		n = &NodeInfo{Name: p.NodeName, id: s.nextID} // a ghost until the node is fed
		s.nextID++
		s.byName[p.NodeName] = n
	}
	p.node, p.idx = n, len(n.Pods)
	n.Pods = append(n.Pods, p)
	n.Requested.add(&p.Requests, 1)
	n.NonZeroRequested.add(&p.NonZeroRequests, 1)
	if p.HasAffinity() {
		n.PodsWithAffinity++
		s.affinityPods[p] = struct{}{}
	}
	if len(p.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity++
	}
	if len(s.counters) > 0 {
		s.podEvent(p, n, 1)
	}
}

func (s *Snapshot) unplace(p *PodInfo) {
	n := p.node
	if n == nil {
		return
	}
	last := n.Pods[len(n.Pods)-1]
	n.Pods[p.idx] = last
	last.idx = p.idx
	n.Pods[len(n.Pods)-1] = nil
	n.Pods = n.Pods[:len(n.Pods)-1]
	n.Requested.add(&p.Requests, -1)
	n.NonZeroRequested.add(&p.NonZeroRequests, -1)
	if p.HasAffinity() {
		n.PodsWithAffinity--
		delete(s.affinityPods, p)
	}
	if len(p.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity--
	}
	if len(s.counters) > 0 {
		s.podEvent(p, n, -1)
	}
	p.node = nil
	if !n.exists && len(n.Pods) == 0 {
		delete(s.byName, n.Name)
	}
}

// Node returns the node the pod counts on, nil when pending or terminated.
func (p *PodInfo) Node() *NodeInfo { return p.node }
