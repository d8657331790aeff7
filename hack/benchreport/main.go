// Command benchreport reads `go test -bench` output and prints each of Weft's figures
// beside its anchor, with the ratio between them and the goal the issues set. An anchor
// is either measured in the same run (etcd, kube-openapi) or a published figure, and
// the report says which.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// row is one line of the report.
type row struct {
	title string
	// bench and metric name our figure.
	bench, metric string
	// The anchor is either measured (anchorBench/anchorMetric, defaulting to our bench
	// and metric) or published.
	anchorBench, anchorMetric string
	published                 float64
	anchorName                string
	higherIsBetter            bool
	// goal, when set, is the ratio ours/anchor the issue asks for (or better).
	goal     float64
	goalText string
	// absolute, when set, is an absolute goal on our figure (same unit).
	absolute float64
}

var rows = []row{
	{title: "durable writes, 1 writer (ops/s)", bench: "BenchmarkDurablePut/weft/writers=1", metric: "ops/s", anchorBench: "BenchmarkDurablePut/etcd/writers=1", anchorName: "etcd, same run", higherIsBetter: true},
	{title: "durable writes, 1 writer, p99 (ms)", bench: "BenchmarkDurablePut/weft/writers=1", metric: "p99-ms", anchorBench: "BenchmarkDurablePut/etcd/writers=1", anchorName: "etcd, same run"},
	{title: "durable writes, 16 writers (ops/s)", bench: "BenchmarkDurablePut/weft/writers=16", metric: "ops/s", anchorBench: "BenchmarkDurablePut/etcd/writers=16", anchorName: "etcd, same run", higherIsBetter: true},
	{title: "durable writes, 16 writers, p99 (ms)", bench: "BenchmarkDurablePut/weft/writers=16", metric: "p99-ms", anchorBench: "BenchmarkDurablePut/etcd/writers=16", anchorName: "etcd, same run"},
	{title: "durable writes, 256 writers (ops/s)", bench: "BenchmarkDurablePut/weft/writers=256", metric: "ops/s", anchorBench: "BenchmarkDurablePut/etcd/writers=256", anchorName: "etcd, same run", higherIsBetter: true, goal: 1, goalText: ">= etcd"},
	{title: "durable writes, 256 writers, p50 (ms)", bench: "BenchmarkDurablePut/weft/writers=256", metric: "p50-ms", anchorBench: "BenchmarkDurablePut/etcd/writers=256", anchorName: "etcd, same run"},
	{title: "durable writes, 256 writers, p99 (ms)", bench: "BenchmarkDurablePut/weft/writers=256", metric: "p99-ms", anchorBench: "BenchmarkDurablePut/etcd/writers=256", anchorName: "etcd, same run", goal: 1, goalText: "<= etcd"},
	{title: "watch fan-out, 10k watchers (events/s)", bench: "BenchmarkWatchFanout/weft", metric: "events/s", anchorBench: "BenchmarkWatchFanout/etcd", anchorName: "etcd, same run (gRPC, one client)", higherIsBetter: true},
	{title: "watch fan-out, 10k watchers (events/s)", bench: "BenchmarkWatchFanout/weft", metric: "events/s", published: 95000, anchorName: "etcd, published 45k-95k/s (upper bound)", higherIsBetter: true},
	{title: "API creates at 1000 req/s, p50 (ms)", bench: "BenchmarkAPICreate", metric: "p50-ms", anchorName: "none"},
	{title: "API creates at 1000 req/s, p99 (ms)", bench: "BenchmarkAPICreate", metric: "p99-ms", published: 1000, anchorName: "Kubernetes SLO p99 1 s", absolute: 10, goalText: "<= 10 ms"},
	{title: "API creates at 1000 req/s, p99 (ms) vs k3s", bench: "BenchmarkAPICreate", metric: "p99-ms", published: 1400, anchorName: "k3s/SQLite, published mean 1.4 s at 200 req/s"},
	{title: "API creates, achieved rate (req/s)", bench: "BenchmarkAPICreate", metric: "req/s", published: 1000, anchorName: "offered load", higherIsBetter: true},
	{title: "plugin reconcile call, empty (ns)", bench: "BenchmarkCall", metric: "ns/op", published: 21, anchorName: "bare wazero export call, DESIGN.md measurement"},
	{title: "plugin reconcile call, empty, trusted (ns)", bench: "BenchmarkCallTrusted", metric: "ns/op", anchorBench: "BenchmarkCall", anchorName: "same call, preemptible plugin, same run"},
	{title: "plugin host call (ns)", bench: "BenchmarkHostCall", metric: "ns/hostcall", published: 220, anchorName: "bare host function call, DESIGN.md measurement"},
	{title: "feed one pod to a controller, trusted (ns)", bench: "BenchmarkFeed/trusted", metric: "ns/object", anchorBench: "BenchmarkFeed/preemptible", anchorName: "same, preemptible plugin, same run"},
	{title: "plugin instance memory (MiB)", bench: "BenchmarkInstanceMemory", metric: "MiB/instance", published: 9, anchorName: "Go reactor instance, DESIGN.md measurement"},
	{title: "ReplicaSet controller, 1000 pods fed + reconcile, wasm trusted (ns)", bench: "BenchmarkNativeVsWasm/wasm-trusted", metric: "ns/op", anchorBench: "BenchmarkNativeVsWasm/native", anchorName: "same Go code compiled natively, same run"},
	{title: "ReplicaSet controller, 1000 pods fed + reconcile, wasm preemptible (ns)", bench: "BenchmarkNativeVsWasm/wasm-preemptible", metric: "ns/op", anchorBench: "BenchmarkNativeVsWasm/native", anchorName: "same Go code compiled natively, same run"},
	{title: "Deployment 0 -> 1000 replicas, all pods exist (s)", bench: "BenchmarkDeploymentScale1000", metric: "s/1000pods", published: 50, anchorName: "kube-controller-manager at 20 QPS, about 50 s", absolute: 3, goalText: "< 3 s"},
	{title: "plugin swap once loaded (ms)", bench: "BenchmarkPluginSwap", metric: "swap-max-ms", anchorName: "none", absolute: 100, goalText: "< 100 ms", published: 100},
	{title: "plugin update applied to new version serving, p50 (ms)", bench: "BenchmarkPluginSwap", metric: "apply-to-serving-p50-ms", anchorName: "none"},
	{title: "requests failed during 10 swaps under load", bench: "BenchmarkPluginSwap", metric: "failed-requests", anchorName: "none", goalText: "0"},
	{title: "watch events to one node over QUIC (events/s)", bench: "BenchmarkWatchEvents", metric: "events/s", anchorMetric: "tls-tcp-events/s", anchorName: "same framing over TLS 1.3 on TCP, same run", higherIsBetter: true},
	{title: "default policy in Go, native, 500 nodes, batches of 16 (pods/s)", bench: "BenchmarkScheduleDefault/nodes=500/batch=16", metric: "pods/s", published: 1150, anchorName: "kube-scheduler, about 1150 pods/s on large machines", higherIsBetter: true},
	{title: "default policy in Go, native, 5000 nodes, batches of 16 (pods/s)", bench: "BenchmarkScheduleDefault/nodes=5000/batch=16", metric: "pods/s", published: 810, anchorName: "kube-scheduler scheduler_perf floor 680-810 pods/s at 5000 nodes", higherIsBetter: true, goal: 1000.0 / 810, goalText: ">= 1000 pods/s"},
	{title: "default policy in Go, wasm, 500 nodes, batches of 16 (pods/s)", bench: "BenchmarkScheduleWasm/nodes=500/batch=16", metric: "pods/s", published: 1150, anchorName: "kube-scheduler, about 1150 pods/s on large machines", higherIsBetter: true},
	{title: "default policy in Go, wasm, 5000 nodes, batches of 16 (pods/s)", bench: "BenchmarkScheduleWasm/nodes=5000/batch=16", metric: "pods/s", published: 810, anchorName: "kube-scheduler scheduler_perf floor 680-810 pods/s at 5000 nodes", higherIsBetter: true, goal: 1000.0 / 810, goalText: ">= 1000 pods/s"},
	{title: "default policy in Go, wasm vs native, 5000 nodes (pods/s)", bench: "BenchmarkScheduleWasm/nodes=5000/batch=16", metric: "pods/s", anchorBench: "BenchmarkScheduleDefault/nodes=5000/batch=16", anchorName: "same policy compiled natively, same run", higherIsBetter: true, goal: 1 / 1.5, goalText: "wasm within 1.5x of native"},
	{title: "default policy in Rust (built in), wasm vs native, 5000 nodes (pods/s)", bench: "BenchmarkScheduleRustWasm/nodes=5000/batch=16", metric: "pods/s", anchorBench: "BenchmarkScheduleRustNative/nodes=5000/batch=16", anchorName: "same policy compiled natively, same run", higherIsBetter: true, goal: 1 / 1.5, goalText: "wasm within 1.5x of native"},
	{title: "default policy in wasm, Rust vs Go guest, 5000 nodes (pods/s)", bench: "BenchmarkScheduleRustWasm/nodes=5000/batch=16", metric: "pods/s", anchorBench: "BenchmarkScheduleWasm/nodes=5000/batch=16", anchorName: "the Go module in the same host, same run", higherIsBetter: true},
	{title: "default policy in Rust (built in), wasm, 5000 nodes, batches of 16 (pods/s)", bench: "BenchmarkScheduleRustWasm/nodes=5000/batch=16", metric: "pods/s", published: 810, anchorName: "kube-scheduler scheduler_perf floor 680-810 pods/s at 5000 nodes", higherIsBetter: true, goal: 1000.0 / 810, goalText: ">= 1000 pods/s"},
	{title: "scheduling end to end, 500 simulated nodes, 10k pods (bound pods/s)", bench: "BenchmarkSchedulingThroughput/nodes=500/pods=10000", metric: "bound-pods/s", published: 810, anchorName: "kube-scheduler scheduler_perf floor 680-810 pods/s at 5000 nodes", higherIsBetter: true},
	{title: "scheduling end to end, 5000 simulated nodes, 10k pods (bound pods/s)", bench: "BenchmarkSchedulingThroughput/nodes=5000/pods=10000", metric: "bound-pods/s", published: 810, anchorName: "kube-scheduler scheduler_perf floor 680-810 pods/s at 5000 nodes", higherIsBetter: true, goal: 1000.0 / 810, goalText: ">= 1000 pods/s"},
	{title: "scheduler on a backlog of 10k pods, 500 simulated nodes (bound pods/s)", bench: "BenchmarkSchedulingThroughput/nodes=500/pods=10000", metric: "backlog-bound-pods/s", published: 810, anchorName: "kube-scheduler scheduler_perf floor 680-810 pods/s at 5000 nodes", higherIsBetter: true},
	{title: "scheduler on a backlog of 10k pods, 5000 simulated nodes (bound pods/s)", bench: "BenchmarkSchedulingThroughput/nodes=5000/pods=10000", metric: "backlog-bound-pods/s", published: 810, anchorName: "kube-scheduler scheduler_perf floor 680-810 pods/s at 5000 nodes", higherIsBetter: true, goal: 1000.0 / 810, goalText: ">= 1000 pods/s"},
	{title: "scheduling end to end, 500 simulated nodes: kernel CPU per pod (ms)", bench: "BenchmarkSchedulingThroughput/nodes=500/pods=10000", metric: "kernel-cpu-ms/pod", anchorName: "none"},
	{title: "scheduling end to end, 5000 simulated nodes: kernel CPU per pod (ms)", bench: "BenchmarkSchedulingThroughput/nodes=5000/pods=10000", metric: "kernel-cpu-ms/pod", anchorName: "none"},
	{title: "500 simulated nodes joined and Ready (s)", bench: "BenchmarkSchedulingThroughput/nodes=500/pods=10000", metric: "s-to-nodes-ready", published: 60, anchorName: "kwok CI, 5000 nodes in 60 s"},
	{title: "scale: 5000 simulated nodes joined and Ready (s)", bench: "BenchmarkSchedulingScale/nodes=5000/pods=50000", metric: "s-to-nodes-ready", published: 60, anchorName: "kwok CI, 5000 nodes in 60 s", absolute: 60, goalText: "< 60 s"},
	{title: "scale: 50k pods created to all Running on 5000 nodes (s)", bench: "BenchmarkSchedulingScale/nodes=5000/pods=50000", metric: "s-to-all-running", published: 60, anchorName: "kwok CI, 10k pods in 60 s", absolute: 60, goalText: "< 60 s"},
	{title: "scheduler policy swap, API write to first decision by the new policy, p50 (ms)", bench: "BenchmarkSchedulerSwapLatency", metric: "ms-swap-p50", anchorName: "none: kube-scheduler needs a restart"},
	{title: "scheduler policy swap, API write to first decision by the new policy, max (ms)", bench: "BenchmarkSchedulerSwapLatency", metric: "ms-swap-max", anchorName: "none: kube-scheduler needs a restart"},
	{title: "scheduler policy swap to a standby policy (unasked for 11 s), max of 3 (ms)", bench: "BenchmarkSchedulerSwapLatency", metric: "ms-swap-standby-max", anchorName: "none: kube-scheduler needs a restart"},
	{title: "pod startup, 1 pod, p50 (ms)", bench: "BenchmarkPodStartup/pods=1", metric: "p50-ms", published: 2000, anchorName: "kubeadm clusters, about 2 s", absolute: 300, goalText: "<= 300 ms"},
	{title: "pod startup, 1 pod, p99 (ms)", bench: "BenchmarkPodStartup/pods=1", metric: "p99-ms", published: 5000, anchorName: "Kubernetes SLO p99 5 s", absolute: 1000, goalText: "<= 1 s"},
	{title: "pod startup, 30 at once, p50 (ms)", bench: "BenchmarkPodStartup/pods=30", metric: "p50-ms", published: 2000, anchorName: "kubeadm clusters, about 2 s", absolute: 300, goalText: "<= 300 ms"},
	{title: "pod startup, 30 at once, p99 (ms)", bench: "BenchmarkPodStartup/pods=30", metric: "p99-ms", published: 5000, anchorName: "Kubernetes SLO p99 5 s", absolute: 1000, goalText: "<= 1 s"},
	{title: "pod startup, 1 pod, p50 (ms), over the runtime floor", bench: "BenchmarkPodStartup/pods=1", metric: "p50-ms", anchorBench: "BenchmarkRuntimeFloor/containers=1", anchorName: "containerd+runc alone, same run"},
	{title: "pod startup, 30 at once, p50 (ms), over the runtime floor", bench: "BenchmarkPodStartup/pods=30", metric: "p50-ms", anchorBench: "BenchmarkRuntimeFloor/containers=30/shims=8", anchorName: "containerd+runc alone, shared shims, same run"},
	{title: "pod startup, 30 at once, p99 (ms), over the runtime floor", bench: "BenchmarkPodStartup/pods=30", metric: "p99-ms", anchorBench: "BenchmarkRuntimeFloor/containers=30/shims=8", anchorName: "containerd+runc alone, shared shims, same run"},
	{title: "CPU to start a pod, 1 pod (ms; every process)", bench: "BenchmarkPodStartup/pods=1", metric: "cpu-ms/pod", anchorBench: "BenchmarkRuntimeFloor/containers=1", anchorMetric: "cpu-ms/ctr", anchorName: "containerd+runc alone, same run"},
	{title: "CPU to start a pod, 30 at once (ms; every process)", bench: "BenchmarkPodStartup/pods=30", metric: "cpu-ms/pod", anchorBench: "BenchmarkRuntimeFloor/containers=30/shims=8", anchorMetric: "cpu-ms/ctr", anchorName: "containerd+runc alone, shared shims, same run"},
	{title: "shim memory per container, 30 containers, shared shims (MiB)", bench: "BenchmarkRuntimeFloor/containers=30/shims=8", metric: "shim-MB/ctr", anchorBench: "BenchmarkRuntimeFloor/containers=30", anchorName: "a shim each, same run"},
	{title: "runtime floor, 30 containers at once, a shim each, p50 (ms)", bench: "BenchmarkRuntimeFloor/containers=30", metric: "p50-ms", anchorName: "none", goalText: "pod goal <= 300 ms"},
	{title: "runtime floor, 30 containers at once, shared shims, p50 (ms)", bench: "BenchmarkRuntimeFloor/containers=30/shims=8", metric: "p50-ms", anchorName: "none", goalText: "pod goal <= 300 ms"},
	{title: "runtime floor, 30 containers at once, shared shims, p99 (ms)", bench: "BenchmarkRuntimeFloor/containers=30/shims=8", metric: "p99-ms", anchorName: "none", goalText: "pod goal <= 1 s"},
	{title: "pod manager heap with 30 pods running (MiB; whole test process)", bench: "BenchmarkPodStartup/pods=30", metric: "heap-MB", anchorName: "none"},
	{title: "node silent to NotReady (s)", bench: "BenchmarkNotReady", metric: "s-to-NotReady", published: 40, anchorName: "Kubernetes, 40-50 s (node-monitor-grace-period 40 s)", absolute: 15, goalText: "< 15 s"},
	{title: "schema validation of a Pod (ns)", bench: "BenchmarkPodValidateAnchor", metric: "ns/op", anchorMetric: "kube-openapi-ns/op", anchorName: "kube-openapi validator (apiextensions), same run"},
}

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parse collects metric values by benchmark name (GOMAXPROCS suffix removed).
func parse(r io.Reader, echo io.Writer) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(echo, line)
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				metrics[fields[i+1]] = v
			}
		}
		out[m[1]] = metrics
	}
	return out
}

func main() {
	results := parse(os.Stdin, os.Stderr)
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIGURE\tWEFT\tANCHOR\tANCHOR IS\tWEFT/ANCHOR\tGOAL")
	for _, r := range rows {
		ours, ok := results[r.bench][r.metric]
		if !ok {
			fmt.Fprintf(w, "%s\tnot measured\t\t%s\t\t%s\n", r.title, r.anchorName, r.goalText)
			continue
		}
		if r.published == 0 && r.anchorBench == "" && r.anchorMetric == "" {
			fmt.Fprintf(w, "%s\t%s\t-\t%s\t-\t%s\n", r.title, num(ours), r.anchorName, r.goalText)
			continue
		}
		anchor := r.published
		if r.anchorBench != "" || r.anchorMetric != "" {
			ab, am := r.anchorBench, r.anchorMetric
			if ab == "" {
				ab = r.bench
			}
			if am == "" {
				am = r.metric
			}
			v, ok := results[ab][am]
			if !ok {
				fmt.Fprintf(w, "%s\t%s\tnot measured\t%s\t\t%s\n", r.title, num(ours), r.anchorName, r.goalText)
				continue
			}
			anchor = v
		}
		ratio := ours / anchor
		verdict := r.goalText
		switch {
		case r.goal > 0 && r.higherIsBetter:
			verdict += mark(ratio >= r.goal)
		case r.goal > 0:
			verdict += mark(ratio <= r.goal)
		case r.absolute > 0:
			verdict += mark(ours <= r.absolute)
		}
		better := "lower is better"
		if r.higherIsBetter {
			better = "higher is better"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.3gx (%s)\t%s\n", r.title, num(ours), num(anchor), r.anchorName, ratio, better, verdict)
	}
	w.Flush()
}

func mark(met bool) string {
	if met {
		return " (met)"
	}
	return " (NOT met)"
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}
