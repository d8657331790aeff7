//go:build !wasip1

package scheduling

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/sdk"
)

// wasmPolicy is a built policy plugin in the real host, fed and asked as the kernel
// does it, with nothing else around it.
type wasmPolicy struct {
	s     *pluginhost.Session
	epoch uint64
}

func loadPolicy(t testing.TB, path string) *wasmPolicy {
	t.Helper()
	p, _ := loadPolicyModule(t, kerneltest.BuildPlugin(t, path))
	return p
}

// loadPolicyModule loads a built policy module as a trusted plugin and readies a
// session on it.
func loadPolicyModule(t testing.TB, wasm []byte) (*wasmPolicy, *pluginhost.Plugin) {
	t.Helper()
	e, err := pluginhost.NewEngine(pluginhost.Config{CacheDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := e.Load(ctx, wasm, pluginhost.Options{Trusted: true, Limits: pluginhost.Limits{Instances: 1, MemoryPages: 16 * 1024}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx); _ = e.Close(ctx) })
	s := p.NewSession()
	epoch, err := s.Ready(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &wasmPolicy{s: s, epoch: epoch}, p
}

func (w *wasmPolicy) feed(t testing.TB, evs []sdk.FeedEvent) {
	t.Helper()
	for len(evs) > 0 {
		n := min(len(evs), 512)
		if _, err := w.s.Call(context.Background(), w.epoch, "feed", sdk.EncodeFeed(evs[:n])); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
}

func (w *wasmPolicy) schedule(t testing.TB, keys []string) []sdk.Decision {
	t.Helper()
	req := sdk.ScheduleRequest{}
	for _, k := range keys {
		req.Pods = append(req.Pods, sdk.SchedulePod{Key: k})
	}
	out, err := w.s.Call(context.Background(), w.epoch, "schedule", req.MarshalWire())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := sdk.DecodeDecisions(out)
	if err != nil || len(ds) != len(keys) {
		t.Fatalf("decisions %v, %v", ds, err)
	}
	return ds
}

// The cases of TestSpreadAndPack and an unschedulable message, through the built
// wasm modules and the real host: what runs in the guest is what the native tests test.
func TestPoliciesThroughWasm(t *testing.T) {
	for _, tc := range []struct {
		path string
		want func([]int) bool
	}{
		{"plugins/defaultpolicy/wasm", func(c []int) bool { return len(c) == 10 && c[0] == 5 && c[9] == 5 }},
		{"plugins/binpack/wasm", func(c []int) bool { return len(c) <= 3 && c[0] >= 25 }},
	} {
		t.Run(tc.path, func(t *testing.T) {
			w := loadPolicy(t, tc.path)
			per := placeWeb(t, w)
			var counts []int
			for _, c := range per {
				counts = append(counts, c)
			}
			sort.Sort(sort.Reverse(sort.IntSlice(counts)))
			if !tc.want(counts) {
				t.Fatalf("50 pods on 10 nodes: %v", counts)
			}
			// A pod that fits nowhere gets kube-scheduler's message.
			huge := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"huge","namespace":"default","uid":"u-huge"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"100"}}}]},"status":{"phase":"Pending"}}`)
			w.feed(t, []sdk.FeedEvent{{Type: sdk.Added, Kind: sdk.PodKind, Object: huge}})
			d := w.schedule(t, []string{"default/huge"})[0]
			if d.Node != "" || d.Message != "0/10 nodes are available: 10 Insufficient cpu." {
				t.Fatalf("unschedulable decision: %+v", d)
			}
		})
	}
}

// BenchmarkScheduleWasm is BenchmarkScheduleDefault through the built wasm module in
// the real host (a trusted plugin): the same cluster, the same pods, the schedule call
// timed; feeding the pods is not. The ratio to the native benchmark is the cost of
// running the policy as a plugin.
func BenchmarkScheduleWasm(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d/batch=16", nodes), func(b *testing.B) {
			benchWasmPolicy(b, loadPolicy(b, "plugins/defaultpolicy/wasm"), nodes)
		})
	}
}

// benchWasmPolicy feeds w the benchmark cluster and times its schedule calls.
func benchWasmPolicy(b *testing.B, w *wasmPolicy, nodes int) {
	const batch = 16
	evs := feedClusterEvents(nodes)
	for i := range 2 * nodes {
		raw := deploymentPodOn(fmt.Sprintf("bg%d", i%50), i, fmt.Sprintf("node-%04d", i%nodes))
		evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: raw})
	}
	w.feed(b, append(evs, sdk.FeedEvent{Type: sdk.Synced}))
	var placed []sdk.FeedEvent
	seq := 0
	var ct cpuTimer
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if len(placed) >= 5000 {
			w.feed(b, placed)
			placed = placed[:0]
		}
		var pending []sdk.FeedEvent
		keys := make([]string, batch)
		for j := range batch {
			raw := deploymentPod("web", seq)
			pending = append(pending, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: raw})
			keys[j] = fmt.Sprintf("default/web-%d", seq)
			placed = append(placed, sdk.FeedEvent{Type: sdk.Deleted, Kind: sdk.PodKind, Object: raw})
			seq++
		}
		w.feed(b, pending)
		b.StartTimer()
		ct.Start()
		ds := w.schedule(b, keys)
		ct.Stop()
		for _, d := range ds {
			if d.Node == "" {
				b.Fatalf("unschedulable: %+v", d)
			}
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "pods/s")
	ct.Report(b, b.N*batch)
}

// placeWeb feeds w ten nodes and places 50 pods of one Deployment on them in
// batches of 16, returning how many pods each node got.
func placeWeb(t testing.TB, w *wasmPolicy) map[string]int {
	t.Helper()
	w.feed(t, append(feedClusterEvents(10), sdk.FeedEvent{Type: sdk.Synced}))
	var evs []sdk.FeedEvent
	var keys []string
	for i := range 50 {
		evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: deploymentPod("web", i)})
		keys = append(keys, fmt.Sprintf("default/web-%d", i))
	}
	w.feed(t, evs)
	per := map[string]int{}
	for len(keys) > 0 {
		n := min(len(keys), 16)
		for _, d := range w.schedule(t, keys[:n]) {
			if d.Node == "" {
				t.Fatalf("unschedulable: %+v", d)
			}
			per[d.Node]++
		}
		keys = keys[n:]
	}
	return per
}
