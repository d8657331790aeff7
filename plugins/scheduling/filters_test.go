package scheduling

import (
	"maps"
	"testing"

	"weft.dev/weft/sdk"
)

func TestNodeResourcesFitFilter(t *testing.T) {
	for _, c := range []struct {
		name     string
		node     nodeSpec
		existing []podSpec
		pod      podSpec
		want     string
	}{
		{"fits", nodeSpec{}, nil, podSpec{cpu: "1", mem: "1Gi"}, ""},
		{"cpu", nodeSpec{}, nil, podSpec{cpu: "5"}, "Insufficient cpu"},
		{"cpu and memory", nodeSpec{}, nil, podSpec{cpu: "5", mem: "16Gi"}, "Insufficient cpu\nInsufficient memory"},
		{"used", nodeSpec{}, []podSpec{{cpu: "3500m"}}, podSpec{cpu: "1"}, "Insufficient cpu"},
		{"exactly full", nodeSpec{}, []podSpec{{cpu: "3"}}, podSpec{cpu: "1"}, ""},
		{"terminated frees", nodeSpec{}, []podSpec{{cpu: "4", phase: "Succeeded"}}, podSpec{cpu: "1"}, ""},
		{"pods", nodeSpec{pods: "1"}, []podSpec{{}}, podSpec{cpu: "1"}, "Too many pods"},
		{"pods and cpu", nodeSpec{pods: "1"}, []podSpec{{cpu: "4"}}, podSpec{cpu: "1"}, "Too many pods\nInsufficient cpu"},
		{"best effort on full node", nodeSpec{}, []podSpec{{cpu: "4", mem: "8Gi"}}, podSpec{}, ""},
		{"extended missing", nodeSpec{}, nil, podSpec{spec: obj{"containers": []any{obj{"name": "c", "resources": obj{"limits": obj{"example.com/gpu": "1"}}}}}}, "Insufficient example.com/gpu"},
		{"extended present", nodeSpec{extra: map[string]string{"example.com/gpu": "2"}}, nil, podSpec{spec: obj{"containers": []any{obj{"name": "c", "resources": obj{"limits": obj{"example.com/gpu": "2"}}}}}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.node.name = "n"
			var pods []*sdk.PodInfo
			for i, e := range c.existing {
				e.name, e.node = "e"+string(rune('0'+i)), "n"
				pods = append(pods, mkPod(t, e))
			}
			s := snap(t, []*sdk.NodeInfo{mkNode(t, c.node)}, pods...)
			c.pod.name = "p"
			got := filterAll(s, NodeResourcesFit{}, mkPod(t, c.pod))["n"]
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestResourceScores(t *testing.T) {
	node := mkNode(t, nodeSpec{name: "n", cpu: "4", mem: "8Gi"})
	s := snap(t, []*sdk.NodeInfo{node}, mkPod(t, podSpec{name: "e", node: "n", cpu: "1", mem: "2Gi"}))
	for _, c := range []struct {
		name string
		sp   sdk.ScorePlugin
		pod  podSpec
		want int64
	}{
		{"least", NodeResourcesFit{}, podSpec{cpu: "1", mem: "2Gi"}, 50},
		// Best effort counts 100m and 200Mi: cpu 2900/4000 → 72, memory 5944/8192 → 72.
		{"least best effort", NodeResourcesFit{}, podSpec{}, 72},
		{"most", NodeResourcesFit{Strategy: MostAllocated}, podSpec{cpu: "1", mem: "2Gi"}, 50},
		{"most over", NodeResourcesFit{Strategy: MostAllocated}, podSpec{cpu: "8", mem: "2Gi"}, 75},
		{"least over", NodeResourcesFit{}, podSpec{cpu: "8", mem: "2Gi"}, 25},
		// cpu 2/4 = .5, memory 3/8 = .375: std .0625 → 93.
		{"balanced", BalancedAllocation{}, podSpec{cpu: "1", mem: "1Gi"}, 93},
		{"balanced even", BalancedAllocation{}, podSpec{cpu: "1", mem: "2Gi"}, 100},
		{"balanced best effort", BalancedAllocation{}, podSpec{}, 0},
	} {
		c.pod.name = "p"
		if got := scoreAll(s, c.sp, mkPod(t, c.pod))["n"]; got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

var untolerated = func(k, v string) string { return UntoleratedTaintReason(&sdk.Taint{Key: k, Value: v}) }

func TestTaintToleration(t *testing.T) {
	nodes := []*sdk.NodeInfo{
		mkNode(t, nodeSpec{name: "clean"}),
		mkNode(t, nodeSpec{name: "nosched", taints: []sdk.Taint{{Key: "k", Value: "v", Effect: sdk.NoSchedule}}}),
		mkNode(t, nodeSpec{name: "noexec", taints: []sdk.Taint{{Key: "gpu", Effect: sdk.NoExecute}}}),
		mkNode(t, nodeSpec{name: "prefer", taints: []sdk.Taint{{Key: "p", Value: "1", Effect: sdk.PreferNoSchedule}}}),
		mkNode(t, nodeSpec{name: "notready", ready: "False"}),
		mkNode(t, nodeSpec{name: "unknown", ready: "Unknown"}),
	}
	s := snap(t, nodes)
	for _, c := range []struct {
		name string
		tols []any
		want map[string]string
	}{
		{"none", nil, map[string]string{"clean": "", "prefer": "", "nosched": untolerated("k", "v"), "noexec": untolerated("gpu", ""),
			"notready": untolerated(sdk.TaintNotReady, ""), "unknown": untolerated(sdk.TaintUnreachable, "")}},
		{"equal", []any{obj{"key": "k", "value": "v", "effect": "NoSchedule"}}, map[string]string{"clean": "", "prefer": "", "nosched": "", "noexec": untolerated("gpu", ""),
			"notready": untolerated(sdk.TaintNotReady, ""), "unknown": untolerated(sdk.TaintUnreachable, "")}},
		{"wrong value", []any{obj{"key": "k", "value": "w"}}, map[string]string{"clean": "", "prefer": "", "nosched": untolerated("k", "v"), "noexec": untolerated("gpu", ""),
			"notready": untolerated(sdk.TaintNotReady, ""), "unknown": untolerated(sdk.TaintUnreachable, "")}},
		{"exists all", []any{obj{"operator": "Exists"}}, map[string]string{"clean": "", "prefer": "", "nosched": "", "noexec": "", "notready": "", "unknown": ""}},
		{"not-ready", []any{obj{"key": sdk.TaintNotReady, "operator": "Exists"}, obj{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}}, map[string]string{"clean": "", "prefer": "", "nosched": untolerated("k", "v"), "noexec": "",
			"notready": "", "unknown": untolerated(sdk.TaintUnreachable, "")}},
	} {
		p := mkPod(t, podSpec{name: "p", spec: obj{"tolerations": c.tols}})
		if got := filterAll(s, TaintToleration{}, p); !maps.Equal(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}

	// Scoring counts untolerated PreferNoSchedule taints, reversed.
	s = snap(t, []*sdk.NodeInfo{
		mkNode(t, nodeSpec{name: "two", taints: []sdk.Taint{{Key: "a", Effect: sdk.PreferNoSchedule}, {Key: "b", Effect: sdk.PreferNoSchedule}}}),
		mkNode(t, nodeSpec{name: "one", taints: []sdk.Taint{{Key: "a", Effect: sdk.PreferNoSchedule}, {Key: "x", Effect: sdk.NoSchedule}}}),
		mkNode(t, nodeSpec{name: "zero"}),
	})
	got := scoreAll(s, TaintToleration{}, mkPod(t, podSpec{name: "p"}))
	if want := map[string]int64{"two": 0, "one": 50, "zero": 100}; !maps.Equal(got, want) {
		t.Errorf("score: got %v, want %v", got, want)
	}
	// A toleration of effect NoSchedule does not count for PreferNoSchedule.
	got = scoreAll(s, TaintToleration{}, mkPod(t, podSpec{name: "p", spec: obj{"tolerations": []any{obj{"key": "a", "operator": "Exists", "effect": "NoSchedule"}, obj{"key": "b", "operator": "Exists"}}}}))
	if want := map[string]int64{"two": 0, "one": 0, "zero": 100}; !maps.Equal(got, want) {
		t.Errorf("score with tolerations: got %v, want %v", got, want)
	}
	got = scoreAll(s, TaintToleration{}, mkPod(t, podSpec{name: "p", spec: obj{"tolerations": []any{obj{"operator": "Exists"}}}}))
	if want := map[string]int64{"two": 100, "one": 100, "zero": 100}; !maps.Equal(got, want) {
		t.Errorf("score, all tolerated: got %v, want %v", got, want)
	}
}

func TestNodeUnschedulableAndName(t *testing.T) {
	s := snap(t, []*sdk.NodeInfo{mkNode(t, nodeSpec{name: "cordoned", unschedulable: true}), mkNode(t, nodeSpec{name: "open"})})
	got := filterAll(s, NodeUnschedulable{}, mkPod(t, podSpec{name: "p"}))
	if want := map[string]string{"cordoned": ReasonUnschedulable, "open": ""}; !maps.Equal(got, want) {
		t.Errorf("got %v", got)
	}
	tol := mkPod(t, podSpec{name: "p", spec: obj{"tolerations": []any{obj{"key": sdk.TaintUnschedulable, "operator": "Exists", "effect": "NoSchedule"}}}})
	if got := filterAll(s, NodeUnschedulable{}, tol); got["cordoned"] != "" {
		t.Errorf("tolerated: %v", got)
	}
	named := mkPod(t, podSpec{name: "p"})
	named.NodeName = "open"
	if got := filterAll(s, NodeName{}, named); !maps.Equal(got, map[string]string{"cordoned": ReasonNodeName, "open": ""}) {
		t.Errorf("node name: %v", got)
	}
}

func TestNodeAffinity(t *testing.T) {
	s := snap(t, []*sdk.NodeInfo{
		mkNode(t, nodeSpec{name: "a-ssd", labels: map[string]string{"zone": "a", "disk": "ssd", "cores": "16"}}),
		mkNode(t, nodeSpec{name: "a-hdd", labels: map[string]string{"zone": "a", "disk": "hdd", "cores": "4"}}),
		mkNode(t, nodeSpec{name: "b", labels: map[string]string{"zone": "b"}}),
	})
	req := func(terms ...any) obj {
		return obj{"nodeAffinity": obj{"requiredDuringSchedulingIgnoredDuringExecution": obj{"nodeSelectorTerms": terms}}}
	}
	expr := func(k, op string, vs ...string) obj {
		return obj{"matchExpressions": []any{obj{"key": k, "operator": op, "values": vs}}}
	}
	no := ReasonNodeAffinity
	for _, c := range []struct {
		name string
		spec obj
		want map[string]string
	}{
		{"none", nil, map[string]string{"a-ssd": "", "a-hdd": "", "b": ""}},
		{"nodeSelector", obj{"nodeSelector": obj{"disk": "ssd"}}, map[string]string{"a-ssd": "", "a-hdd": no, "b": no}},
		{"In", obj{"affinity": req(expr("zone", "In", "a"))}, map[string]string{"a-ssd": "", "a-hdd": "", "b": no}},
		{"NotIn", obj{"affinity": req(expr("disk", "NotIn", "ssd"))}, map[string]string{"a-ssd": no, "a-hdd": "", "b": ""}},
		{"Exists", obj{"affinity": req(expr("disk", "Exists"))}, map[string]string{"a-ssd": "", "a-hdd": "", "b": no}},
		{"DoesNotExist", obj{"affinity": req(expr("disk", "DoesNotExist"))}, map[string]string{"a-ssd": no, "a-hdd": no, "b": ""}},
		{"Gt", obj{"affinity": req(expr("cores", "Gt", "8"))}, map[string]string{"a-ssd": "", "a-hdd": no, "b": no}},
		{"Lt", obj{"affinity": req(expr("cores", "Lt", "8"))}, map[string]string{"a-ssd": no, "a-hdd": "", "b": no}},
		{"terms ORed", obj{"affinity": req(expr("zone", "In", "b"), expr("disk", "In", "hdd"))}, map[string]string{"a-ssd": no, "a-hdd": "", "b": ""}},
		{"selector and affinity ANDed", obj{"nodeSelector": obj{"zone": "a"}, "affinity": req(expr("disk", "In", "hdd"))}, map[string]string{"a-ssd": no, "a-hdd": "", "b": no}},
		{"matchFields", obj{"affinity": req(obj{"matchFields": []any{obj{"key": "metadata.name", "operator": "In", "values": []string{"b"}}}})}, map[string]string{"a-ssd": no, "a-hdd": no, "b": ""}},
		{"empty terms", obj{"affinity": req()}, map[string]string{"a-ssd": no, "a-hdd": no, "b": no}},
	} {
		if got := filterAll(s, NodeAffinity{}, mkPod(t, podSpec{name: "p", spec: c.spec})); !maps.Equal(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
	pref := obj{"affinity": obj{"nodeAffinity": obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{
		obj{"weight": 5, "preference": expr("zone", "In", "a")},
		obj{"weight": 3, "preference": expr("disk", "In", "ssd")},
	}}}}
	got := scoreAll(s, NodeAffinity{}, mkPod(t, podSpec{name: "p", spec: pref}))
	if want := map[string]int64{"a-ssd": 100, "a-hdd": 62, "b": 0}; !maps.Equal(got, want) {
		t.Errorf("preferred: got %v, want %v", got, want)
	}
}
