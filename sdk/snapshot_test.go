package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	for _, c := range []struct {
		in    string
		milli bool
		want  int64
		err   bool
	}{
		{"100m", true, 100, false},
		{"1", true, 1000, false},
		{"1.5", true, 1500, false},
		{"0.1", true, 100, false},
		{"1m", false, 1, false}, // Value rounds up
		{"2", false, 2, false},
		{"1Ki", false, 1024, false},
		{"1.5Gi", false, 1610612736, false},
		{"128974848", false, 128974848, false},
		{"129e6", false, 129000000, false},
		{"129M", false, 129000000, false},
		{"123Mi", false, 128974848, false},
		{"1E", false, 1e18, false},
		{"0.5m", true, 1, false}, // MilliValue rounds up
		{"1n", false, 1, false},
		{"", true, 0, false},
		{"10Xi", false, 0, true},
		{"1e", false, 0, true},
		{"1..2", false, 0, true},
		{"100Ei", false, 1<<63 - 1, false},
	} {
		got, err := ParseQuantity(c.in, c.milli)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseQuantity(%q, %v) = %d, %v; want %d, err %v", c.in, c.milli, got, err, c.want, c.err)
		}
	}
}

func nodeJSON(t testing.TB, name string, labels map[string]string, alloc map[string]string, extra map[string]any) []byte {
	t.Helper()
	obj := map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": name, "uid": "uid-" + name, "labels": labels},
		"status": map[string]any{
			"allocatable": alloc,
			"conditions":  []any{map[string]any{"type": "Ready", "status": "True"}},
		},
	}
	for k, v := range extra {
		obj[k] = v
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeNode(t *testing.T) {
	b := []byte(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","uid":"u1","labels":{"kubernetes.io/hostname":"h1","topology.kubernetes.io/zone":"z1"}},
	 "spec":{"unschedulable":true,"taints":[{"key":"k","value":"v","effect":"NoSchedule"},{"key":"p","effect":"PreferNoSchedule"}]},
	 "status":{"capacity":{"cpu":"8","pods":"200"},"allocatable":{"cpu":"3500m","memory":"8Gi","pods":"110","ephemeral-storage":"10Gi","example.com/gpu":"2","hugepages-2Mi":"1Gi"},
	 "conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"False","reason":"KubeletNotReady"}]}}`)
	n, err := DecodeNode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &NodeInfo{
		Name: "n1", UID: "u1",
		Labels: map[string]string{"kubernetes.io/hostname": "h1", "topology.kubernetes.io/zone": "z1"},
		Taints: []Taint{{"k", "v", "NoSchedule"}, {"p", "", "PreferNoSchedule"}},
		Allocatable: Resources{MilliCPU: 3500, Memory: 8 << 30, EphemeralStorage: 10 << 30,
			Scalar: map[string]int64{"example.com/gpu": 2, "hugepages-2Mi": 1 << 30}},
		AllowedPods: 110, Unschedulable: true, Ready: false, ReadyStatus: "False",
		Zone: "z1", Hostname: "h1",
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("got  %+v\nwant %+v", n, want)
	}
	// Capacity stands in for a missing allocatable; hostname falls back to the name.
	n, err = DecodeNode([]byte(`{"metadata":{"name":"n2","labels":{"failure-domain.beta.kubernetes.io/zone":"old"}},"status":{"capacity":{"cpu":"2","pods":"10"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if n.Allocatable.MilliCPU != 2000 || n.AllowedPods != 10 || n.Hostname != "n2" || n.Zone != "old" || !n.Ready {
		t.Errorf("got %+v", n)
	}
	for _, bad := range []string{`{"metadata":{}}`, `{"metadata":{"name":"x"},"status":{"allocatable":{"cpu":"lots"}}}`, `{"metadata":`} {
		if _, err := DecodeNode([]byte(bad)); err == nil {
			t.Errorf("DecodeNode(%s): no error", bad)
		}
	}
}

const fullPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","uid":"pu","labels":{"app":"web","pod-template-hash":"abc"},
 "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"x","controller":true}]},
 "spec":{"schedulerName":"default-scheduler","priority":10,
  "containers":[{"name":"a","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}},{"name":"b","resources":{"limits":{"cpu":"200m","example.com/gpu":"1"}}}],
  "initContainers":[{"name":"i1","resources":{"requests":{"cpu":"1","memory":"1Gi"}}},{"name":"side","restartPolicy":"Always","resources":{"requests":{"cpu":"50m"}}},{"name":"i2","resources":{"requests":{"cpu":"100m"}}}],
  "overhead":{"cpu":"10m","memory":"1Mi"},
  "nodeSelector":{"disk":"ssd"},
  "affinity":{
   "nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"cores","operator":"Gt","values":["4"]}]},{"matchFields":[{"key":"metadata.name","operator":"In","values":["n9"]}]}]},
     "preferredDuringSchedulingIgnoredDuringExecution":[{"weight":5,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}}]},
   "podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"db"}},"topologyKey":"topology.kubernetes.io/zone"}]},
   "podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"web"}},"namespaceSelector":{},"topologyKey":"kubernetes.io/hostname"}}]}},
  "tolerations":[{"key":"k","operator":"Exists","effect":"NoSchedule"}],
  "topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}},"matchLabelKeys":["pod-template-hash"]}]},
 "status":{"phase":"Pending"}}`

func TestDecodePod(t *testing.T) {
	p, err := DecodePod([]byte(fullPod))
	if err != nil {
		t.Fatal(err)
	}
	if p.Key() != "ns/p" || p.UID != "pu" || p.Priority != 10 || p.SchedulerName != "default-scheduler" || !p.Controlled || p.ControllerKind != "ReplicaSet" || p.Phase != "Pending" {
		t.Errorf("meta: %+v", p)
	}
	// Containers: 100m+200m (b's limit) + sidecar 50m = 350m; init i1 1000m (no
	// sidecar before it), i2 100m+50m: max(350, 1000) + 10m overhead = 1010m.
	// Memory: 64Mi vs init 1Gi: 1Gi + 1Mi.
	want := Resources{MilliCPU: 1010, Memory: 1<<30 + 1<<20, Scalar: map[string]int64{"example.com/gpu": 1}}
	if !reflect.DeepEqual(p.Requests, want) {
		t.Errorf("requests %+v, want %+v", p.Requests, want)
	}
	// Non-zero: containers 100+200+50 = 350m, memory 64Mi+200Mi(b)+200Mi(side);
	// init i1 1000m/1Gi; i2 150m/400Mi; max → 1000m, 1Gi; + overhead.
	if p.NonZeroRequests.MilliCPU != 1010 || p.NonZeroRequests.Memory != 1<<30+1<<20 {
		t.Errorf("non-zero %+v", p.NonZeroRequests)
	}
	if !p.HasRequiredAffinity || len(p.RequiredNodeAffinity) != 2 || p.RequiredNodeAffinity[0].MatchExpressions[0].Operator != "Gt" ||
		len(p.PreferredNodeAffinity) != 1 || p.PreferredNodeAffinity[0].Weight != 5 {
		t.Errorf("node affinity %+v %+v", p.RequiredNodeAffinity, p.PreferredNodeAffinity)
	}
	if len(p.RequiredAffinity) != 1 || !reflect.DeepEqual(p.RequiredAffinity[0].Namespaces, []string{"ns"}) {
		t.Errorf("pod affinity %+v", p.RequiredAffinity)
	}
	if len(p.PreferredAntiAffinity) != 1 || !p.PreferredAntiAffinity[0].Term.AllNamespaces || p.PreferredAntiAffinity[0].Weight != 50 {
		t.Errorf("anti %+v", p.PreferredAntiAffinity)
	}
	if len(p.TopologySpread) != 1 || len(p.TopologySpread[0].Selector.MatchExpressions) != 1 ||
		!p.TopologySpread[0].Selector.Matches(map[string]string{"app": "web", "pod-template-hash": "abc"}) ||
		p.TopologySpread[0].Selector.Matches(map[string]string{"app": "web", "pod-template-hash": "def"}) {
		t.Errorf("spread %+v", p.TopologySpread)
	}
	if len(p.Tolerations) != 1 || p.Tolerations[0].Operator != "Exists" {
		t.Errorf("tolerations %+v", p.Tolerations)
	}
	// Best effort: non-zero defaults apply.
	p, err = DecodePod([]byte(`{"metadata":{"name":"be","namespace":"d"},"spec":{"containers":[{"name":"a"},{"name":"b"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Requests.IsZero() || p.NonZeroRequests.MilliCPU != 200 || p.NonZeroRequests.Memory != 2*DefaultMemoryRequest {
		t.Errorf("best effort: %+v %+v", p.Requests, p.NonZeroRequests)
	}
}

func TestNodeSelectorTerms(t *testing.T) {
	n := &NodeInfo{Name: "n1", Labels: map[string]string{"zone": "a", "cores": "8"}}
	for _, c := range []struct {
		req  NodeSelectorRequirement
		want bool
	}{
		{NodeSelectorRequirement{"zone", "In", []string{"a", "b"}}, true},
		{NodeSelectorRequirement{"zone", "In", []string{"b"}}, false},
		{NodeSelectorRequirement{"zone", "NotIn", []string{"b"}}, true},
		{NodeSelectorRequirement{"missing", "NotIn", []string{"b"}}, true},
		{NodeSelectorRequirement{"zone", "Exists", nil}, true},
		{NodeSelectorRequirement{"missing", "Exists", nil}, false},
		{NodeSelectorRequirement{"missing", "DoesNotExist", nil}, true},
		{NodeSelectorRequirement{"zone", "DoesNotExist", nil}, false},
		{NodeSelectorRequirement{"cores", "Gt", []string{"4"}}, true},
		{NodeSelectorRequirement{"cores", "Gt", []string{"8"}}, false},
		{NodeSelectorRequirement{"cores", "Lt", []string{"9"}}, true},
		{NodeSelectorRequirement{"zone", "Lt", []string{"9"}}, false},
		{NodeSelectorRequirement{"missing", "Gt", []string{"1"}}, false},
		{NodeSelectorRequirement{"zone", "Bogus", nil}, false},
	} {
		term := NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{c.req}}
		if got := term.Matches(n); got != c.want {
			t.Errorf("%+v: got %v", c.req, got)
		}
	}
	if (&NodeSelectorTerm{}).Matches(n) {
		t.Error("empty term matched")
	}
	f := NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{{"metadata.name", "In", []string{"n1"}}}}
	if !f.Matches(n) {
		t.Error("matchFields")
	}
}

func TestTolerates(t *testing.T) {
	taint := &Taint{Key: "k", Value: "v", Effect: NoSchedule}
	for _, c := range []struct {
		tol  Toleration
		want bool
	}{
		{Toleration{Key: "k", Value: "v", Effect: NoSchedule}, true},
		{Toleration{Key: "k", Operator: "Equal", Value: "v"}, true},
		{Toleration{Key: "k", Value: "w"}, false},
		{Toleration{Key: "k", Operator: "Exists"}, true},
		{Toleration{Operator: "Exists"}, true},
		{Toleration{Key: "k", Operator: "Exists", Effect: NoExecute}, false},
		{Toleration{Key: "j", Operator: "Exists"}, false},
	} {
		if got := c.tol.Tolerates(taint); got != c.want {
			t.Errorf("%+v: got %v", c.tol, got)
		}
	}
}

func schedPodJSON(ns, name, node, cpu, phase string) []byte {
	b, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": "u-" + name},
		"spec": map[string]any{"nodeName": node, "containers": []any{
			map[string]any{"name": "c", "resources": map[string]any{"requests": map[string]any{"cpu": cpu, "memory": "1Mi"}}},
		}},
		"status": map[string]any{"phase": phase},
	})
	return b
}

func TestSnapshotBookkeeping(t *testing.T) {
	s := NewSnapshot()
	apply := func(typ EventType, k GVK, b []byte) {
		t.Helper()
		if err := s.Apply(FeedEvent{Type: typ, Kind: k, Object: b}); err != nil {
			t.Fatal(err)
		}
	}
	alloc := map[string]string{"cpu": "4", "memory": "8Gi", "pods": "10"}
	apply(Added, NodeKind, nodeJSON(t, "a", nil, alloc, nil))
	apply(Added, NodeKind, nodeJSON(t, "b", nil, alloc, nil))
	apply(Synced, GVK{}, nil)
	cpu := func(n string) int64 {
		if ni := s.byName[n]; ni != nil {
			return ni.Requested.MilliCPU
		}
		return -1
	}
	check := func(wantA, wantB int64, podsA, podsB int) {
		t.Helper()
		if cpu("a") != wantA || cpu("b") != wantB || len(s.Node("a").Pods) != podsA || len(s.Node("b").Pods) != podsB {
			t.Fatalf("a=%d(%d pods) b=%d(%d pods), want %d(%d) %d(%d)", cpu("a"), len(s.Node("a").Pods), cpu("b"), len(s.Node("b").Pods), wantA, podsA, wantB, podsB)
		}
	}
	apply(Added, PodKind, schedPodJSON("d", "p1", "", "100m", "Pending"))
	check(0, 0, 0, 0)
	apply(Modified, PodKind, schedPodJSON("d", "p1", "a", "100m", "Pending"))
	apply(Added, PodKind, schedPodJSON("d", "p2", "a", "200m", "Running"))
	check(300, 0, 2, 0)
	// Moving (a delete and re-create in practice, but the snapshot copes).
	apply(Modified, PodKind, schedPodJSON("d", "p1", "b", "100m", "Running"))
	check(200, 100, 1, 1)
	// A resize in place.
	apply(Modified, PodKind, schedPodJSON("d", "p2", "a", "500m", "Running"))
	check(500, 100, 1, 1)
	// Terminated pods free their resources.
	apply(Modified, PodKind, schedPodJSON("d", "p2", "a", "500m", "Succeeded"))
	check(0, 100, 0, 1)
	apply(Deleted, PodKind, schedPodJSON("d", "p2", "a", "500m", "Succeeded"))
	apply(Deleted, PodKind, schedPodJSON("d", "p1", "b", "100m", "Running"))
	check(0, 0, 0, 0)
	if s.NumPods() != 0 {
		t.Fatalf("pods left: %d", s.NumPods())
	}
	// Node removal keeps its pods on a ghost; the node coming back finds them.
	apply(Added, PodKind, schedPodJSON("d", "p3", "b", "1", "Running"))
	apply(Deleted, NodeKind, nodeJSON(t, "b", nil, alloc, nil))
	if s.NumNodes() != 1 || s.Node("b") != nil || cpu("b") != 1000 {
		t.Fatalf("after removal: %d nodes, b=%d", s.NumNodes(), cpu("b"))
	}
	apply(Added, NodeKind, nodeJSON(t, "b", map[string]string{"x": "y"}, alloc, nil))
	check(0, 1000, 0, 1)
	if s.Node("b").Labels["x"] != "y" {
		t.Fatal("node update lost")
	}
	apply(Deleted, NodeKind, nodeJSON(t, "b", nil, alloc, nil))
	apply(Deleted, PodKind, schedPodJSON("d", "p3", "b", "1", "Running"))
	if _, ok := s.byName["b"]; ok {
		t.Fatal("ghost node kept after its last pod")
	}
	// Pods fed before their node.
	apply(Added, PodKind, schedPodJSON("d", "early", "c", "1", "Running"))
	apply(Added, NodeKind, nodeJSON(t, "c", nil, alloc, nil))
	if cpu("c") != 1000 || s.NumNodes() != 2 {
		t.Fatalf("early pod: c=%d", cpu("c"))
	}
	// Node removal of a middle element keeps the list consistent.
	apply(Deleted, NodeKind, nodeJSON(t, "a", nil, alloc, nil))
	if s.NumNodes() != 1 || s.Nodes()[0].Name != "c" || s.Node("c") == nil {
		t.Fatalf("nodes: %v", s.Nodes())
	}
}

func TestAssumeForget(t *testing.T) {
	s := NewSnapshot()
	alloc := map[string]string{"cpu": "4", "memory": "8Gi", "pods": "10"}
	s.Apply(FeedEvent{Type: Added, Kind: NodeKind, Object: nodeJSON(t, "a", nil, alloc, nil)})
	s.Apply(FeedEvent{Type: Added, Kind: NodeKind, Object: nodeJSON(t, "b", nil, alloc, nil)})
	s.Apply(FeedEvent{Type: Added, Kind: PodKind, Object: schedPodJSON("d", "p", "", "1", "Pending")})
	p := s.Pod("d/p")
	if err := s.Assume(p, "a"); err != nil {
		t.Fatal(err)
	}
	if s.Node("a").Requested.MilliCPU != 1000 || !p.Assumed {
		t.Fatal("assume not counted")
	}
	// An update without a node keeps the assumption.
	s.Apply(FeedEvent{Type: Modified, Kind: PodKind, Object: schedPodJSON("d", "p", "", "1", "Pending")})
	if q := s.Pod("d/p"); !q.Assumed || q.NodeName != "a" || s.Node("a").Requested.MilliCPU != 1000 {
		t.Fatalf("assumption lost: %+v", q)
	}
	if err := s.Forget("d/p"); err != nil {
		t.Fatal(err)
	}
	if s.Node("a").Requested.MilliCPU != 0 || s.Pod("d/p").NodeName != "" {
		t.Fatal("forget did not free")
	}
	if err := s.Forget("d/p"); !errors.Is(err, ErrNotAssumed) {
		t.Fatalf("second forget: %v", err)
	}
	// Confirmation by the feed, on another node than assumed (the host's word wins).
	s.Assume(s.Pod("d/p"), "a")
	s.Apply(FeedEvent{Type: Modified, Kind: PodKind, Object: schedPodJSON("d", "p", "b", "1", "Running")})
	if q := s.Pod("d/p"); q.Assumed || q.NodeName != "b" || s.Node("a").Requested.MilliCPU != 0 || s.Node("b").Requested.MilliCPU != 1000 {
		t.Fatalf("confirm: %+v", q)
	}
	if err := s.Forget("d/p"); !errors.Is(err, ErrNotAssumed) {
		t.Fatalf("forget after confirm: %v", err)
	}
	if err := s.Assume(s.Pod("d/p"), "nope"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("assume on unknown node: %v", err)
	}
	if err := s.Forget("d/none"); !errors.Is(err, ErrUnknownPod) {
		t.Fatalf("forget unknown: %v", err)
	}
}

func TestPodCounterIncremental(t *testing.T) {
	s := NewSnapshot()
	zones := []string{"a", "b", "c"}
	addNode := func(i int, zone string) {
		labels := map[string]string{LabelZone: zone}
		if zone == "" {
			labels = nil
		}
		s.Apply(FeedEvent{Type: Added, Kind: NodeKind, Object: nodeJSON(t, fmt.Sprintf("n%d", i), labels, map[string]string{"cpu": "4", "pods": "110"}, nil)})
	}
	for i := range 6 {
		addNode(i, zones[i%3])
	}
	sel := &LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	c := s.Counter("d", sel)
	brute := func() (map[string]int, map[string]int) {
		perNode, perZone := map[string]int{}, map[string]int{}
		for _, n := range s.Nodes() {
			z, ok := n.Label(LabelZone)
			if ok {
				perZone[z] += 0
			}
			for _, p := range n.Pods {
				if p.Namespace == "d" && !p.Deleting && sel.Matches(p.Labels) {
					perNode[n.Name]++
					if ok {
						perZone[z]++
					}
				}
			}
		}
		return perNode, perZone
	}
	check := func(step string) {
		t.Helper()
		wantNode, wantZone := brute()
		for _, n := range s.Nodes() {
			if c.OnNode(n) != wantNode[n.Name] {
				t.Fatalf("%s: node %s: %d, want %d", step, n.Name, c.OnNode(n), wantNode[n.Name])
			}
		}
		if got := c.Domains(LabelZone, nil); !reflect.DeepEqual(got, wantZone) {
			t.Fatalf("%s: zones %v, want %v", step, got, wantZone)
		}
		total := 0
		for _, v := range wantZone {
			total += v
		}
		if got := c.InDomains(LabelZone, nil); got != total {
			t.Fatalf("%s: total %d, want %d", step, got, total)
		}
	}
	pod := func(name, node string, labels map[string]string, ns string, deleting bool) []byte {
		meta := map[string]any{"name": name, "namespace": ns, "labels": labels}
		if deleting {
			meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
		}
		b, _ := json.Marshal(map[string]any{"metadata": meta, "spec": map[string]any{"nodeName": node}})
		return b
	}
	web := map[string]string{"app": "web"}
	check("empty")
	for i := range 20 {
		s.Apply(FeedEvent{Type: Added, Kind: PodKind, Object: pod(fmt.Sprint("p", i), fmt.Sprintf("n%d", i%6), web, "d", false)})
	}
	check("added")
	s.Apply(FeedEvent{Type: Added, Kind: PodKind, Object: pod("other-ns", "n0", web, "e", false)})
	s.Apply(FeedEvent{Type: Added, Kind: PodKind, Object: pod("other-app", "n0", map[string]string{"app": "db"}, "d", false)})
	check("non-matching")
	s.Apply(FeedEvent{Type: Modified, Kind: PodKind, Object: pod("p0", "n0", web, "d", true)})
	s.Apply(FeedEvent{Type: Modified, Kind: PodKind, Object: pod("p1", "n5", web, "d", false)})
	s.Apply(FeedEvent{Type: Modified, Kind: PodKind, Object: pod("other-app", "n0", web, "d", false)})
	s.Apply(FeedEvent{Type: Deleted, Kind: PodKind, Object: pod("p2", "n2", web, "d", false)})
	check("modified")
	p := s.Pod("d/p3")
	s.Forget("d/p3")
	s.Apply(FeedEvent{Type: Modified, Kind: PodKind, Object: pod("p3", "", web, "d", false)})
	check("unbound")
	s.Assume(s.Pod("d/p3"), "n4")
	_ = p
	check("assumed")
	// Node changes: relabel, remove (its pods leave the domains), add, re-add.
	addNode(1, "c")
	check("relabelled")
	s.Apply(FeedEvent{Type: Deleted, Kind: NodeKind, Object: nodeJSON(t, "n2", nil, nil, nil)})
	check("node removed")
	addNode(7, "")
	addNode(8, "d")
	check("nodes added")
	addNode(2, "a")
	check("node back")
	// Eviction keeps the cache bounded and rebuilt counters are right.
	for i := range maxCounters + 5 {
		s.Counter("d", &LabelSelector{MatchLabels: map[string]string{"n": fmt.Sprint(i)}})
	}
	if len(s.counters) > maxCounters {
		t.Fatalf("%d counters", len(s.counters))
	}
	c = s.Counter("d", sel)
	check("rebuilt")
}

// The node counts the scheduling plugins' skips rely on, and zone IDs, through
// adds, replacements and removals.
func TestSnapshotNodeCounts(t *testing.T) {
	alloc := map[string]string{"cpu": "1", "pods": "10"}
	tainted := map[string]any{"spec": map[string]any{"taints": []any{map[string]any{"key": "k", "effect": "NoSchedule"}}}}
	cordoned := map[string]any{"spec": map[string]any{"unschedulable": true}}
	unready := map[string]any{"status": map[string]any{"allocatable": alloc, "conditions": []any{map[string]any{"type": "Ready", "status": "False"}}}}
	zone := func(z string) map[string]string { return map[string]string{LabelZone: z} }
	type counts struct{ unsched, tainted, notReady, zones int }
	s := NewSnapshot()
	for _, step := range []struct {
		name   string
		apply  func()
		want   counts
		zoneOf map[string]int // node -> ZoneID
	}{
		{"plain node", func() { s.SetNode(mustNode(t, nodeJSON(t, "a", zone("z1"), alloc, nil))) }, counts{0, 0, 0, 1}, map[string]int{"a": 0}},
		{"tainted node", func() { s.SetNode(mustNode(t, nodeJSON(t, "b", zone("z2"), alloc, tainted))) }, counts{0, 1, 0, 2}, map[string]int{"b": 1}},
		{"a cordoned", func() { s.SetNode(mustNode(t, nodeJSON(t, "a", zone("z2"), alloc, cordoned))) }, counts{1, 1, 0, 2}, map[string]int{"a": 1}},
		{"a unready, uncordoned", func() { s.SetNode(mustNode(t, nodeJSON(t, "a", nil, alloc, unready))) }, counts{0, 1, 1, 2}, map[string]int{"a": -1}},
		{"b removed", func() { s.RemoveNode("b") }, counts{0, 0, 1, 2}, nil},
		{"b removed again", func() { s.RemoveNode("b") }, counts{0, 0, 1, 2}, nil},
		{"b back plain", func() { s.SetNode(mustNode(t, nodeJSON(t, "b", zone("z1"), alloc, nil))) }, counts{0, 0, 1, 2}, map[string]int{"b": 0}},
	} {
		step.apply()
		got := counts{s.NumUnschedulable(), s.NumTainted(), s.NumNotReady(), s.NumZones()}
		if got != step.want {
			t.Errorf("%s: counts %+v, want %+v", step.name, got, step.want)
		}
		for n, id := range step.zoneOf {
			if got := s.Node(n).ZoneID(); got != id || (id >= 0 && s.ZoneName(id) != s.Node(n).Zone) {
				t.Errorf("%s: node %s zone ID %d, want %d", step.name, n, got, id)
			}
		}
	}
}

func mustNode(t *testing.T, b []byte) *NodeInfo {
	t.Helper()
	n, err := DecodeNode(b)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
