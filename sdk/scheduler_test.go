package sdk

import (
	"fmt"
	"reflect"
	"testing"
)

func TestUnschedulableMessage(t *testing.T) {
	for _, c := range []struct {
		n       int
		reasons map[string]int
		want    string
	}{
		{5, map[string]int{"Insufficient cpu": 3, "node(s) had untolerated taint {k: v}": 2},
			"0/5 nodes are available: 2 node(s) had untolerated taint {k: v}, 3 Insufficient cpu."},
		// Sorted as strings, counts included, as kube-scheduler does.
		{12, map[string]int{"Insufficient cpu": 10, "Insufficient memory": 2, "Too many pods": 2},
			"0/12 nodes are available: 10 Insufficient cpu, 2 Insufficient memory, 2 Too many pods."},
		{1, map[string]int{"node(s) didn't match Pod's node affinity/selector": 1},
			"0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."},
		{3, nil, "0/3 nodes are available:"},
	} {
		got, rc := UnschedulableMessage(c.n, c.reasons)
		if got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
		if len(rc) != len(c.reasons) {
			t.Errorf("reasons %v", rc)
		}
	}
}

func TestScheduleWire(t *testing.T) {
	req := ScheduleRequest{Pods: []SchedulePod{{Key: "a/b"}, {Key: "c/d", Object: []byte(`{"x":1}`)}}, Forget: []string{"e/f"}, DryRun: true}
	var got ScheduleRequest
	if err := got.UnmarshalWire(req.MarshalWire()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, req) {
		t.Errorf("got %+v", got)
	}
	ds := []Decision{{Pod: "a/b", Node: "n1"}, {Pod: "c/d", NumNodes: 5, Reasons: []ReasonCount{{"Insufficient cpu", 5}}, Message: "0/5 nodes are available: 5 Insufficient cpu."}, {Pod: "x/y", Error: "gone"}}
	back, err := DecodeDecisions(EncodeDecisions(ds))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ds) {
		t.Errorf("got %+v", back)
	}
	if _, err := DecodeDecisions([]byte{1, 9, 1}); err == nil {
		t.Error("truncated decisions decoded")
	}
}

// Researcher-API plugins for the tests: fit on CPU, and prefer emptier nodes.
type cpuFit struct{}

func (cpuFit) Name() string { return "cpuFit" }
func (cpuFit) Filter(_ *Snapshot, p *PodInfo, n *NodeInfo) (bool, string) {
	if p.Requests.MilliCPU > n.Allocatable.MilliCPU-n.Requested.MilliCPU {
		return false, "Insufficient cpu"
	}
	return true, ""
}

type taintFilter struct{}

func (taintFilter) Name() string { return "taints" }
func (taintFilter) Filter(_ *Snapshot, p *PodInfo, n *NodeInfo) (bool, string) {
	for i := range n.Taints {
		if !Tolerated(p.Tolerations, &n.Taints[i]) {
			return false, "node(s) had untolerated taint {" + n.Taints[i].Key + ": " + n.Taints[i].Value + "}"
		}
	}
	return true, ""
}

type least struct{}

func (least) Name() string { return "least" }
func (least) Score(_ *Snapshot, p *PodInfo, n *NodeInfo) int64 {
	return (n.Allocatable.MilliCPU - n.Requested.MilliCPU) * 100 / n.Allocatable.MilliCPU
}

func testSnapshot(t testing.TB, nodes int, cpu string) *Snapshot {
	s := NewSnapshot()
	for i := range nodes {
		s.Apply(FeedEvent{Type: Added, Kind: NodeKind, Object: nodeJSON(t, fmt.Sprintf("n%02d", i), nil, map[string]string{"cpu": cpu, "memory": "8Gi", "pods": "110"}, nil)})
	}
	return s
}

func TestHandleSchedule(t *testing.T) {
	s := testSnapshot(t, 3, "1")
	s.Apply(FeedEvent{Type: Added, Kind: NodeKind, Object: nodeJSON(t, "tainted", nil, map[string]string{"cpu": "64"}, map[string]any{
		"spec": map[string]any{"taints": []any{map[string]any{"key": "k", "value": "v", "effect": "NoSchedule"}}}})})
	for i := range 4 {
		s.Apply(FeedEvent{Type: Added, Kind: PodKind, Object: schedPodJSON("d", fmt.Sprint("p", i), "", "600m", "Pending")})
	}
	policy := NewPolicy([]FilterPlugin{taintFilter{}, cpuFit{}}, []WeightedScore{{least{}, 1}})
	req := ScheduleRequest{Pods: []SchedulePod{{Key: "d/p0"}, {Key: "d/p1"}, {Key: "d/p2"}, {Key: "d/p3"}, {Key: "d/missing"}}}
	out, err := HandleSchedule(s, policy, req.MarshalWire())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := DecodeDecisions(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 5 {
		t.Fatalf("%d decisions", len(ds))
	}
	// Each 1-CPU node takes one 600m pod: the batch sees its own placements.
	seen := map[string]bool{}
	for _, d := range ds[:3] {
		if d.Node == "" || d.Node == "tainted" || seen[d.Node] {
			t.Fatalf("decisions %+v", ds)
		}
		seen[d.Node] = true
	}
	want := "0/4 nodes are available: 1 node(s) had untolerated taint {k: v}, 3 Insufficient cpu."
	if ds[3].Node != "" || ds[3].Message != want || ds[3].NumNodes != 4 {
		t.Fatalf("unschedulable: %+v", ds[3])
	}
	if ds[4].Error == "" {
		t.Fatalf("missing pod: %+v", ds[4])
	}
	// A failed binding is forgotten; the pod can go again.
	req = ScheduleRequest{Forget: []string{"d/p0"}, Pods: []SchedulePod{{Key: "d/p3"}}}
	out, _ = HandleSchedule(s, policy, req.MarshalWire())
	ds, _ = DecodeDecisions(out)
	if len(ds) != 1 || ds[0].Node == "" {
		t.Fatalf("after forget: %+v", ds)
	}
	// Dry run: decides, then leaves the snapshot as it was.
	s.Apply(FeedEvent{Type: Added, Kind: PodKind, Object: schedPodJSON("d", "q", "", "100m", "Pending")})
	gen := map[string]int64{}
	for _, n := range s.Nodes() {
		gen[n.Name] = n.Requested.MilliCPU
	}
	req = ScheduleRequest{DryRun: true, Pods: []SchedulePod{{Key: "d/q"}}}
	out, _ = HandleSchedule(s, policy, req.MarshalWire())
	ds, _ = DecodeDecisions(out)
	if len(ds) != 1 || ds[0].Node == "" {
		t.Fatalf("dry run: %+v", ds)
	}
	for _, n := range s.Nodes() {
		if gen[n.Name] != n.Requested.MilliCPU {
			t.Fatalf("dry run changed %s", n.Name)
		}
	}
	if s.Pod("d/q").NodeName != "" {
		t.Fatal("dry run left the pod assumed")
	}
	// An inline pod the host has not fed.
	req = ScheduleRequest{Pods: []SchedulePod{{Key: "d/inline", Object: schedPodJSON("d", "inline", "", "10m", "Pending")}}}
	out, _ = HandleSchedule(s, policy, req.MarshalWire())
	ds, _ = DecodeDecisions(out)
	if len(ds) != 1 || ds[0].Node == "" || ds[0].Pod != "d/inline" {
		t.Fatalf("inline: %+v", ds)
	}
	if _, err := HandleSchedule(s, nil, nil); err == nil {
		t.Fatal("no policy: no error")
	}
	if out, err := HandleSchedule(NewSnapshot(), policy, (&ScheduleRequest{Pods: []SchedulePod{{Key: "d/x", Object: schedPodJSON("d", "x", "", "1", "")}}}).MarshalWire()); err != nil {
		t.Fatal(err)
	} else if ds, _ := DecodeDecisions(out); ds[0].Message != ErrNoNodesAvailable.Error() {
		t.Fatalf("no nodes: %+v", ds)
	}
}

func TestPolicyTieBreakSpreads(t *testing.T) {
	// Identical nodes and a constant score: ties go by hash, so pods spread.
	s := testSnapshot(t, 10, "100")
	policy := &Policy{Filters: []FilterPlugin{cpuFit{}}}
	count := map[string]int{}
	for i := range 200 {
		p, _ := DecodePod(schedPodJSON("d", fmt.Sprint("p", i), "", "0", ""))
		d := policy.ScheduleOne(s, p)
		count[d.Node]++
		again := policy.ScheduleOne(s, p)
		if again.Node != d.Node {
			t.Fatal("tie break not deterministic")
		}
	}
	if len(count) != 10 {
		t.Fatalf("ties went to %d nodes: %v", len(count), count)
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	p := &Policy{}
	for _, c := range []struct{ n, want int }{{10, 10}, {99, 99}, {100, 100}, {500, 230}, {1000, 420}, {5000, 500}, {10000, 500}, {6000, 300}} {
		if got := p.NumFeasibleNodesToFind(c.n); got != c.want {
			t.Errorf("%d nodes: %d, want %d", c.n, got, c.want)
		}
	}
	p.PercentageOfNodesToScore = 100
	if p.NumFeasibleNodesToFind(5000) != 5000 {
		t.Error("100%")
	}
}
