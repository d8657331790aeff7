package scheduling

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"weft.dev/weft/sdk"
)

// feedCluster returns a snapshot fed, as the host feeds it, with nodes of 4 CPUs
// and 8Gi over 2 zones.
func feedCluster(t testing.TB, nodes int) *sdk.Snapshot {
	s := sdk.NewSnapshot()
	for _, ev := range feedClusterEvents(nodes) {
		if err := s.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// feedClusterEvents are the feed events of nodes node-0000, node-0001, ... in two
// zones, each with 4 CPUs, 8 GiB and room for 110 pods.
func feedClusterEvents(nodes int) []sdk.FeedEvent {
	evs := make([]sdk.FeedEvent, 0, nodes)
	for i := range nodes {
		name := fmt.Sprintf("node-%04d", i)
		b, _ := json.Marshal(obj{
			"apiVersion": "v1", "kind": "Node",
			"metadata": obj{"name": name, "uid": "uid-" + name, "labels": obj{
				sdk.LabelHostname: name, sdk.LabelZone: fmt.Sprintf("zone-%d", i%2), "kubernetes.io/os": "linux"}},
			"spec": obj{},
			"status": obj{
				"allocatable": obj{"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"},
				"conditions":  []any{obj{"type": "Ready", "status": "True"}},
			},
		})
		evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.NodeKind, Object: b})
	}
	return evs
}

// deploymentPod is the JSON of a pending pod of a Deployment's ReplicaSet.
func deploymentPod(name string, i int) []byte {
	b, _ := json.Marshal(obj{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": obj{"name": fmt.Sprintf("%s-%d", name, i), "namespace": "default", "uid": fmt.Sprintf("uid-%s-%d", name, i),
			"labels":          obj{"app": name, "pod-template-hash": "5d4f8b"},
			"ownerReferences": []any{obj{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name + "-5d4f8b", "uid": "rs-" + name, "controller": true}}},
		"spec": obj{"schedulerName": "default-scheduler", "containers": []any{obj{"name": "app", "image": "nginx",
			"resources": obj{"requests": obj{"cpu": "100m", "memory": "128Mi"}}}}},
		"status": obj{"phase": "Pending"},
	})
	return b
}

// deploymentPodOn is a running pod of a Deployment, bound to node.
func deploymentPodOn(name string, i int, node string) []byte {
	var p map[string]any
	_ = json.Unmarshal(deploymentPod(name, i), &p)
	p["spec"].(map[string]any)["nodeName"] = node
	p["status"] = obj{"phase": "Running"}
	b, _ := json.Marshal(p)
	return b
}

// placeDeployment feeds n pods and places them through HandleSchedule in batches,
// returning the pods per node, sorted in decreasing order.
func placeDeployment(t *testing.T, policy sdk.SchedulerPolicy, s *sdk.Snapshot, name string, n, batch int) []int {
	var keys []sdk.SchedulePod
	for i := range n {
		b := deploymentPod(name, i)
		if err := s.Apply(sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: b}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, sdk.SchedulePod{Key: fmt.Sprintf("default/%s-%d", name, i)})
	}
	perNode := map[string]int{}
	for len(keys) > 0 {
		k := min(batch, len(keys))
		req := sdk.ScheduleRequest{Pods: keys[:k]}
		keys = keys[k:]
		out, err := sdk.HandleSchedule(s, policy, req.MarshalWire())
		if err != nil {
			t.Fatal(err)
		}
		ds, err := sdk.DecodeDecisions(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Node == "" {
				t.Fatalf("%s unschedulable: %s %s", d.Pod, d.Message, d.Error)
			}
			perNode[d.Node]++
		}
	}
	var counts []int
	for _, n := range s.Nodes() {
		counts = append(counts, perNode[n.Name])
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	return counts
}

func TestDeploymentSpreadsWithDefault(t *testing.T) {
	for _, batch := range []int{1, 16, 64} {
		counts := placeDeployment(t, DefaultProfile(), feedCluster(t, 10), "web", 50, batch)
		if want := []int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}; !slices.Equal(counts, want) {
			t.Errorf("batch %d: pods per node %v, want %v", batch, counts, want)
		}
	}
}

func TestDeploymentPacksWithBinpack(t *testing.T) {
	for _, batch := range []int{1, 16, 64} {
		// 4 CPUs hold 40 pods of 100m.
		counts := placeDeployment(t, BinpackProfile(), feedCluster(t, 10), "web", 50, batch)
		if want := []int{40, 10, 0, 0, 0, 0, 0, 0, 0, 0}; !slices.Equal(counts, want) {
			t.Errorf("batch %d: pods per node %v, want %v", batch, counts, want)
		}
	}
}

func TestUnschedulableReasons(t *testing.T) {
	nodes := []*sdk.NodeInfo{
		mkNode(t, nodeSpec{name: "small1", cpu: "1"}),
		mkNode(t, nodeSpec{name: "small2", cpu: "1"}),
		mkNode(t, nodeSpec{name: "small3", cpu: "500m", mem: "1Gi"}),
		mkNode(t, nodeSpec{name: "tainted", cpu: "64", taints: []sdk.Taint{{Key: "dedicated", Value: "gpu", Effect: sdk.NoSchedule}}}),
		mkNode(t, nodeSpec{name: "cordoned", cpu: "64", unschedulable: true}),
		mkNode(t, nodeSpec{name: "elsewhere", cpu: "64", labels: map[string]string{"disk": "hdd"}}),
	}
	s := snap(t, nodes)
	p := mkPod(t, podSpec{name: "big", cpu: "2", mem: "2Gi", spec: obj{"affinity": obj{"nodeAffinity": obj{"requiredDuringSchedulingIgnoredDuringExecution": obj{
		"nodeSelectorTerms": []any{obj{"matchExpressions": []any{obj{"key": "disk", "operator": "NotIn", "values": []string{"hdd"}}}}}}}}}})
	ds := DefaultProfile().Schedule(s, []*sdk.PodInfo{p})
	want := "0/6 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable, 3 Insufficient cpu."
	if len(ds) != 1 || ds[0].Node != "" || ds[0].Message != want {
		t.Fatalf("got %+v\nwant %q", ds, want)
	}
	if ds[0].NumNodes != 6 || len(ds[0].Reasons) != 5 {
		t.Fatalf("reasons %+v", ds[0].Reasons)
	}
}

// Swapping policies over one snapshot: pods placed by one count for the other.
func TestSwapKeepsSnapshot(t *testing.T) {
	s := feedCluster(t, 4)
	a := placeDeployment(t, BinpackProfile(), s, "a", 10, 4)
	if a[0] != 10 {
		t.Fatalf("binpack: %v", a)
	}
	b := placeDeployment(t, DefaultProfile(), s, "b", 12, 4)
	// Default avoids the loaded node: the 12 go to the three empty ones first.
	if b[0] > 4 {
		t.Fatalf("default after binpack: %v", b)
	}
}
