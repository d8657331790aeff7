package sdk

import (
	"errors"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Scheduler policies. The host feeds a scheduler plugin's Snapshot with nodes and
// pods (weft_feed) and asks it to place batches of pending pods (weft_schedule); the
// whole filter and score loop runs in the guest, and the host binds.

// SchedulerPolicy places a batch of pending pods. Decisions within a batch must
// account for the pods placed before them: a policy assumes each placed pod onto
// its node (Snapshot.Assume) before deciding the next, and the host confirms the
// binding through the feed or rolls it back (ScheduleRequest.Forget).
type SchedulerPolicy interface {
	Schedule(s *Snapshot, pods []*PodInfo) []Decision
}

// Decision is where one pod goes.
type Decision struct {
	// Pod is "namespace/name".
	Pod string
	// Node is the chosen node; "" when the pod fits nowhere.
	Node string
	// For an unschedulable pod: the number of nodes considered and, per reason, how
	// many nodes gave it (sorted as Message sorts them), and the message.
	NumNodes int
	Reasons  []ReasonCount
	Message  string
	// Error, when set, says why the pod could not be considered at all (it is not in
	// the snapshot, or the policy failed); Node is then "".
	Error string
}

// ReasonCount is how many nodes rejected a pod for one reason.
type ReasonCount struct {
	Reason string
	Nodes  int
}

// ReasonSep separates several reasons in one filter's reason string (NodeResourcesFit
// can report "Insufficient cpu" and "Insufficient memory" for one node).
const ReasonSep = "\n"

// UnschedulableMessage renders kube-scheduler's FitError message (v1.32):
// "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {k: v}."
// Each entry is "<count> <reason>" and the entries are sorted as strings, as
// kube-scheduler sorts them (so "10 ..." comes before "2 ..."). It returns the
// sorted entries too.
func UnschedulableMessage(numNodes int, reasons map[string]int) (string, []ReasonCount) {
	type entry struct {
		s string
		r ReasonCount
	}
	es := make([]entry, 0, len(reasons))
	for r, n := range reasons {
		es = append(es, entry{strconv.Itoa(n) + " " + r, ReasonCount{r, n}})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].s < es[j].s })
	var b strings.Builder
	b.WriteString("0/")
	b.WriteString(strconv.Itoa(numNodes))
	b.WriteString(" nodes are available:")
	rc := make([]ReasonCount, len(es))
	for i, e := range es {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(e.s)
		rc[i] = e.r
	}
	if len(es) > 0 {
		b.WriteByte('.')
	}
	return b.String(), rc
}

// FilterPlugin rejects nodes a pod cannot go to. reason is kube-scheduler's
// wording ("Insufficient cpu"); several reasons are joined with ReasonSep.
type FilterPlugin interface {
	Name() string
	Filter(s *Snapshot, p *PodInfo, n *NodeInfo) (ok bool, reason string)
}

// BatchFilter is an optional interface of filter plugins: FilterNodes filters
// several nodes in one call, setting ok[i] and reason[i] as Filter would for
// nodes[i]. Policies call it with the nodes that passed the filters before it.
type BatchFilter interface {
	FilterNodes(s *Snapshot, p *PodInfo, nodes []*NodeInfo, ok []bool, reason []string)
}

// ScorePlugin ranks the nodes that passed the filters, 0 to 100 (MaxNodeScore).
type ScorePlugin interface {
	Name() string
	Score(s *Snapshot, p *PodInfo, n *NodeInfo) int64
}

// FilterSkipper is an optional interface of filter plugins: SkipFilter, asked after
// PreFilter, reports that every node passes for this pod, and the policy leaves the
// plugin out of the pod's node loop. Inside a wasm guest that loop is most of a
// pod's cost, and most pods need few of the filters.
type FilterSkipper interface {
	SkipFilter(s *Snapshot, p *PodInfo) bool
}

// ScoreSkipper is an optional interface of score plugins: SkipScore, asked after
// PreScore, reports that the plugin would give every feasible node the same
// normalised score, which ranks nothing, so the policy does not score.
type ScoreSkipper interface {
	SkipScore(s *Snapshot, p *PodInfo) bool
}

// MaxNodeScore is the highest score a ScorePlugin gives, after normalisation.
const MaxNodeScore int64 = 100

// PreFilterPlugin is an optional interface of filter and score plugins: PreFilter
// runs once per pod before its nodes are filtered, to compute what Filter needs
// (counts over the cluster, say). A plugin keeps that state itself: a policy runs
// one pod at a time.
type PreFilterPlugin interface {
	PreFilter(s *Snapshot, p *PodInfo)
}

// PreScorePlugin is an optional interface of score plugins: PreScore runs once per
// pod with the nodes that passed the filters, before Score.
type PreScorePlugin interface {
	PreScore(s *Snapshot, p *PodInfo, feasible []*NodeInfo)
}

// ScoreNormalizer is an optional interface of score plugins: it rewrites the raw
// scores of the feasible nodes (scores[i] is nodes[i]'s) into 0..100.
type ScoreNormalizer interface {
	NormalizeScores(s *Snapshot, p *PodInfo, nodes []*NodeInfo, scores []int64)
}

// BatchScorer is an optional interface of score plugins: it scores every feasible
// node in one call (scores[i] is nodes[i]'s raw score), in place of a Score call
// per node, for plugins that keep per-pod state a per-node call would look up again
// for each node.
type BatchScorer interface {
	ScoreNodes(s *Snapshot, p *PodInfo, nodes []*NodeInfo, scores []int64)
}

// WeightedScore is a score plugin and its weight.
type WeightedScore struct {
	Plugin ScorePlugin
	Weight int64
}

// Policy is the filter → score → pick loop of kube-scheduler's framework. It
// implements SchedulerPolicy. Its plugins keep per-pod state, so a Policy serves
// one goroutine (one guest instance, one snapshot) at a time.
type Policy struct {
	Filters []FilterPlugin
	Scores  []WeightedScore
	// PercentageOfNodesToScore bounds how many feasible nodes are looked for before
	// scoring, as kube-scheduler's setting does: 0 is its adaptive default (all
	// nodes below 100, then 50% falling to 5% at 5625 nodes, at least 100 nodes);
	// 100 is every node.
	PercentageOfNodesToScore int

	next     int // where the next search starts, as kube-scheduler rotates it
	feasible []*NodeInfo
	pos      []int // scratch: each feasible node's place in the rotation
	cand     []*NodeInfo
	cpos     []int
	ok       []bool
	why      []string
	scores   []int64
	total    []int64
	prepped  map[any]bool
	filters  []FilterPlugin // scratch: the filters a pod needs
}

// NewPolicy returns a Policy running filters, then scores, then picking the best
// node; ties go to the node with the highest hash of (pod uid, node name), which is
// deterministic and spreads pods.
func NewPolicy(filters []FilterPlugin, scores []WeightedScore) SchedulerPolicy {
	return &Policy{Filters: filters, Scores: scores}
}

// Schedule places pods in order, assuming each onto its node.
func (pl *Policy) Schedule(s *Snapshot, pods []*PodInfo) []Decision {
	out := make([]Decision, len(pods))
	for i, p := range pods {
		if i > 0 {
			// Let a wasm guest's garbage collector run between pods (see ABI.md, "Go:
			// the reactor's garbage collector"); natively it costs ~100 ns.
			runtime.Gosched()
		}
		out[i] = pl.ScheduleOne(s, p)
		if out[i].Node != "" {
			if err := s.Assume(p, out[i].Node); err != nil {
				out[i] = Decision{Pod: p.Key(), Error: err.Error()}
			}
		}
	}
	return out
}

// NumFeasibleNodesToFind is how many feasible nodes kube-scheduler looks for among
// n before it stops filtering.
func (pl *Policy) NumFeasibleNodesToFind(n int) int {
	if n < 100 || pl.PercentageOfNodesToScore >= 100 {
		return n
	}
	pct := pl.PercentageOfNodesToScore
	if pct <= 0 {
		pct = 50 - n/125
		if pct < 5 {
			pct = 5
		}
	}
	k := n * pct / 100
	if k < 100 {
		k = 100
	}
	return k
}

// ScheduleOne decides for one pod without assuming it.
func (pl *Policy) ScheduleOne(s *Snapshot, p *PodInfo) Decision {
	d := Decision{Pod: p.Key()}
	nodes := s.Nodes()
	if len(nodes) == 0 {
		d.Message = ErrNoNodesAvailable.Error()
		return d
	}
	for _, f := range pl.Filters {
		if pf, ok := f.(PreFilterPlugin); ok {
			pf.PreFilter(s, p)
		}
	}
	filters := pl.filters[:0]
	for _, f := range pl.Filters {
		if sk, ok := f.(FilterSkipper); !ok || !sk.SkipFilter(s, p) {
			filters = append(filters, f)
		}
	}
	pl.filters = filters
	want := pl.NumFeasibleNodesToFind(len(nodes))
	feasible, pos := pl.feasible[:0], pl.pos[:0]
	var reasons map[string]int
	start := pl.next % len(nodes)
	// Nodes go through the filters in chunks, in the rotation's order: each filter
	// sees the chunk's nodes that passed the ones before it (one call per chunk
	// with FilterNodes), which finds the same first feasible nodes as filtering one
	// node at a time.
	for off := 0; off < len(nodes) && len(feasible) < want; {
		size := min(max(want-len(feasible), 16), len(nodes)-off)
		// Per-node work is written as plain loops over slices, without a modulo or
		// an append per node: inside a wasm guest each costs a runtime call or a
		// bounds-checked memory round trip.
		cand, cpos := grow(pl.cand, size), grow(pl.cpos, size)
		j := (start + off) % len(nodes)
		for i := range size {
			cand[i], cpos[i] = nodes[j], off+i
			if j++; j == len(nodes) {
				j = 0
			}
		}
		off += size
		for _, f := range filters {
			if len(cand) == 0 {
				break
			}
			ok, why := grow(pl.ok, len(cand)), grow(pl.why, len(cand))
			clear(ok)
			clear(why)
			if bf, isBatch := f.(BatchFilter); isBatch {
				bf.FilterNodes(s, p, cand, ok, why)
			} else {
				for i, n := range cand {
					ok[i], why[i] = f.Filter(s, p, n)
				}
			}
			pl.ok, pl.why = ok, why
			k := 0
			for i := range cand {
				if ok[i] {
					if k != i {
						cand[k], cpos[k] = cand[i], cpos[i]
					}
					k++
					continue
				}
				if reasons == nil {
					reasons = map[string]int{}
				}
				for reason := why[i]; reason != ""; {
					r, rest, _ := strings.Cut(reason, ReasonSep)
					reasons[r]++
					reason = rest
				}
			}
			cand, cpos = cand[:k], cpos[:k]
		}
		feasible, pos = append(feasible, cand...), append(pos, cpos...)
		pl.cand, pl.cpos = cand, cpos
	}
	visited := len(nodes)
	if len(feasible) >= want {
		feasible, pos = feasible[:want], pos[:want]
		visited = pos[want-1] + 1
	}
	pl.pos = pos
	pl.next = (start + visited) % len(nodes)
	pl.feasible = feasible
	if len(feasible) == 0 {
		d.NumNodes = len(nodes)
		d.Message, d.Reasons = UnschedulableMessage(len(nodes), reasons)
		return d
	}
	if len(feasible) == 1 {
		d.Node = feasible[0].Name
		return d
	}
	total := grow(pl.total, len(feasible))
	clear(total)
	for _, ws := range pl.Scores {
		if ps, ok := ws.Plugin.(PreScorePlugin); ok {
			ps.PreScore(s, p, feasible)
		}
		if sk, ok := ws.Plugin.(ScoreSkipper); ok && sk.SkipScore(s, p) {
			continue
		}
		scores := grow(pl.scores, len(feasible))
		if bs, ok := ws.Plugin.(BatchScorer); ok {
			clear(scores)
			bs.ScoreNodes(s, p, feasible, scores)
		} else {
			for i, n := range feasible {
				scores[i] = ws.Plugin.Score(s, p, n)
			}
		}
		if nz, ok := ws.Plugin.(ScoreNormalizer); ok {
			nz.NormalizeScores(s, p, feasible, scores)
		}
		w := ws.Weight
		for i, sc := range scores {
			total[i] += sc * w
		}
		pl.scores = scores
	}
	pl.total = total
	best, bestHash := -1, uint64(0)
	seed := p.UID
	if seed == "" {
		seed = p.Key()
	}
	sh := stringHash(seed)
	for i, n := range feasible {
		switch {
		case best < 0 || total[i] > total[best]:
			best, bestHash = i, 0
		case total[i] == total[best]:
			if bestHash == 0 {
				bestHash = tieMix(sh, feasible[best].hash())
			}
			if h := tieMix(sh, n.hash()); h > bestHash {
				best, bestHash = i, h
			}
		}
	}
	d.Node = feasible[best].Name
	return d
}

// grow returns b resized to n, reallocated only when too small; the contents are
// not kept.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// stringHash is FNV-1a.
func stringHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// tieMix mixes a pod's hash with a node's (splitmix64's finaliser): the order in
// which one pod ranks tied nodes, different for each pod; never 0. It and hash are
// small enough to inline: a call per tied node costs more than the hashing inside
// a wasm guest.
func tieMix(pod, h uint64) uint64 {
	z := pod ^ h
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return (z ^ (z >> 31)) | 1
}

func (n *NodeInfo) hash() uint64 {
	if n.nameHash != 0 {
		return n.nameHash
	}
	return n.hashName()
}

//go:noinline
func (n *NodeInfo) hashName() uint64 {
	n.nameHash = stringHash(n.Name) | 1
	return n.nameHash
}

// ScheduleRequest is the input of weft_schedule.
type ScheduleRequest struct {
	// Pods to place, in order.
	Pods []SchedulePod
	// Forget lists pods this guest assumed whose binding failed: they are made
	// pending again before the batch is placed.
	Forget []string
	// DryRun places the batch (each pod seeing the ones before it) and then forgets
	// every assumption it made: a shadow policy decides without its snapshot
	// drifting from what the active policy binds.
	DryRun bool
}

// SchedulePod names a pod to place. Object, when set, is the pod's JSON, for a pod
// the host has not fed; otherwise the pod comes from the snapshot by Key.
type SchedulePod struct {
	Key    string
	Object []byte
}

// MarshalWire encodes the request.
func (r *ScheduleRequest) MarshalWire() []byte {
	var w wireWriter
	for _, p := range r.Pods {
		var iw wireWriter
		iw.str(1, p.Key)
		iw.optBytes(2, p.Object)
		w.bytes(1, iw.b)
	}
	for _, k := range r.Forget {
		w.bytes(2, []byte(k))
	}
	w.flag(3, r.DryRun)
	return w.b
}

// UnmarshalWire decodes the request; objects alias b.
func (r *ScheduleRequest) UnmarshalWire(b []byte) error {
	rd := wireReader{b: b}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case 1:
			var p SchedulePod
			ir := wireReader{b: v}
			for t, iv, ok := ir.next(); ok; t, iv, ok = ir.next() {
				switch t {
				case 1:
					p.Key = string(iv)
				case 2:
					p.Object = iv
				}
			}
			if ir.err != nil {
				return ir.err
			}
			r.Pods = append(r.Pods, p)
		case 2:
			r.Forget = append(r.Forget, string(v))
		case 3:
			r.DryRun = wireUint(v) != 0
		}
	}
	return rd.err
}

// EncodeDecisions encodes a schedule call's result.
func EncodeDecisions(ds []Decision) []byte {
	w := wireWriter{b: make([]byte, 0, 48*len(ds))}
	for _, d := range ds {
		var iw wireWriter
		iw.str(1, d.Pod)
		iw.str(2, d.Node)
		iw.uint(3, uint64(d.NumNodes))
		for _, r := range d.Reasons {
			var rw wireWriter
			rw.str(1, r.Reason)
			rw.uint(2, uint64(r.Nodes))
			iw.bytes(4, rw.b)
		}
		iw.str(5, d.Message)
		iw.str(6, d.Error)
		w.bytes(1, iw.b)
	}
	return w.b
}

// DecodeDecisions decodes what EncodeDecisions encoded.
func DecodeDecisions(b []byte) ([]Decision, error) {
	var out []Decision
	rd := wireReader{b: b}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		if tag != 1 {
			continue
		}
		var d Decision
		ir := wireReader{b: v}
		for t, iv, ok := ir.next(); ok; t, iv, ok = ir.next() {
			switch t {
			case 1:
				d.Pod = string(iv)
			case 2:
				d.Node = string(iv)
			case 3:
				d.NumNodes = int(wireUint(iv))
			case 4:
				var rc ReasonCount
				rr := wireReader{b: iv}
				for t2, v2, ok := rr.next(); ok; t2, v2, ok = rr.next() {
					switch t2 {
					case 1:
						rc.Reason = string(v2)
					case 2:
						rc.Nodes = int(wireUint(v2))
					}
				}
				if rr.err != nil {
					return nil, rr.err
				}
				d.Reasons = append(d.Reasons, rc)
			case 5:
				d.Message = string(iv)
			case 6:
				d.Error = string(iv)
			}
		}
		if ir.err != nil {
			return nil, ir.err
		}
		out = append(out, d)
	}
	return out, rd.err
}

// ErrNoNodesAvailable is kube-scheduler's message when the cluster has no nodes.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// ErrNoScheduler is returned for weft_schedule by a plugin without a policy.
var ErrNoScheduler = errors.New("sdk: plugin has no scheduler policy")

// HandleSchedule serves weft_schedule: it decodes the request, forgets failed
// bindings, runs the policy over the named pods and encodes its decisions. Pods the
// snapshot does not hold (and the request does not carry) get a Decision with Error.
func HandleSchedule(s *Snapshot, policy SchedulerPolicy, in []byte) ([]byte, error) {
	if policy == nil {
		return nil, ErrNoScheduler
	}
	var req ScheduleRequest
	if err := req.UnmarshalWire(in); err != nil {
		return nil, err
	}
	for _, k := range req.Forget {
		_ = s.Forget(k) // already confirmed, deleted or forgotten: nothing to undo
	}
	pods := make([]*PodInfo, 0, len(req.Pods))
	idx := make([]int, 0, len(req.Pods)) // position in the result of each pod run
	out := make([]Decision, len(req.Pods))
	for i, sp := range req.Pods {
		var p *PodInfo
		if len(sp.Object) > 0 {
			var err error
			if p, err = DecodePod(sp.Object); err != nil {
				out[i] = Decision{Pod: sp.Key, Error: err.Error()}
				continue
			}
			if old := s.Pod(p.Key()); old == nil || old.NodeName == "" {
				s.SetPod(p)
			}
		} else if p = s.Pod(sp.Key); p == nil {
			out[i] = Decision{Pod: sp.Key, Error: ErrUnknownPod.Error()}
			continue
		}
		if p.NodeName != "" {
			// Bound or assumed already (a retry of a decided pod): say where.
			out[i] = Decision{Pod: p.Key(), Node: p.NodeName}
			continue
		}
		pods = append(pods, p)
		idx = append(idx, i)
	}
	ds := policy.Schedule(s, pods)
	if len(ds) != len(pods) {
		return nil, errors.New("sdk: scheduler policy returned " + strconv.Itoa(len(ds)) + " decisions for " + strconv.Itoa(len(pods)) + " pods")
	}
	for j, d := range ds {
		out[idx[j]] = d
		// Policies are to assume what they place; make sure of it.
		if p := pods[j]; d.Node != "" && (p.NodeName != d.Node || !p.Assumed) {
			if err := s.Assume(p, d.Node); err != nil {
				out[idx[j]] = Decision{Pod: d.Pod, Error: err.Error()}
			}
		}
	}
	if req.DryRun {
		for _, d := range ds {
			if d.Node != "" {
				_ = s.Forget(d.Pod)
			}
		}
	}
	return EncodeDecisions(out), nil
}
