package scheduling

import (
	"fmt"
	"testing"

	"weft.dev/weft/sdk"
)

// BenchmarkScheduleDefault measures the default policy natively, through the
// guest's whole path (wire request, snapshot lookup, filter, score, assume, wire
// decisions): one pod per call and batches of 16 and 64, on 500 and 5000 nodes that
// already run two pods each of other Deployments. The pods placed all belong to
// one Deployment (so spreading counts them); every 5000 placed pods are removed,
// outside the timer, to keep the load steady.
//
// Anchor (issue 4): kube-scheduler's scheduler_perf floors are 680–810 pods/s at
// 5000 nodes; the goal is ≥ 1000 pods/s at 5000 nodes in wasm on 2 cores.
func BenchmarkScheduleDefault(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		for _, batch := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("nodes=%d/batch=%d", nodes, batch), func(b *testing.B) {
				benchSchedule(b, DefaultProfile(), nodes, batch)
			})
		}
	}
}

// BenchmarkScheduleBinpack is the same with the binpack policy.
func BenchmarkScheduleBinpack(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d/batch=16", nodes), func(b *testing.B) {
			benchSchedule(b, BinpackProfile(), nodes, 16)
		})
	}
}

func benchSchedule(b *testing.B, policy sdk.SchedulerPolicy, nodes, batch int) {
	s := feedCluster(b, nodes)
	// Background load: two pods of other Deployments per node.
	for i := range 2 * nodes {
		raw := deploymentPod(fmt.Sprintf("bg%d", i%50), i)
		p, err := sdk.DecodePod(raw)
		if err != nil {
			b.Fatal(err)
		}
		p.NodeName = s.Nodes()[i%nodes].Name
		s.SetPod(p)
	}
	var placed []string
	seq := 0
	pods := make([]sdk.SchedulePod, batch)
	raws := make([][]byte, batch)
	var ct cpuTimer
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if len(placed) >= 5000 {
			for _, k := range placed {
				s.RemovePod(k)
			}
			placed = placed[:0]
		}
		for j := range batch {
			raws[j] = deploymentPod("web", seq)
			seq++
			if err := s.Apply(sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: raws[j]}); err != nil {
				b.Fatal(err)
			}
			pods[j] = sdk.SchedulePod{Key: fmt.Sprintf("default/web-%d", seq-1)}
		}
		req := (&sdk.ScheduleRequest{Pods: pods}).MarshalWire()
		b.StartTimer()
		ct.Start()
		out, err := sdk.HandleSchedule(s, policy, req)
		ct.Stop()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		ds, _ := sdk.DecodeDecisions(out)
		for _, d := range ds {
			if d.Node == "" {
				b.Fatalf("unschedulable: %+v", d)
			}
			placed = append(placed, d.Pod)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "pods/s")
	ct.Report(b, b.N*batch)
}

// BenchmarkFeedPod measures decoding and applying one fed Pod (the per-pod cost
// the host's feed adds to scheduling).
func BenchmarkFeedPod(b *testing.B) {
	s := feedCluster(b, 10)
	raw := deploymentPod("web", 0)
	b.SetBytes(int64(len(raw)))
	for range b.N {
		if err := s.Apply(sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: raw}); err != nil {
			b.Fatal(err)
		}
	}
}
