package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// simCluster is a weft server with N simulated nodes joined over the real transport
// (weft sim), for the scheduler's end-to-end benchmarks.
type simCluster struct {
	cfg    *rest.Config
	client *kubernetes.Clientset
	// joined is how long the nodes took from weft sim's start to all Ready.
	joined time.Duration
	// server and sim are the processes, for their CPU time.
	server, sim *os.Process
}

// cpuTime is the CPU time a process has used so far (user and system), from
// /proc/PID/stat, in the kernel's clock ticks of 10 ms.
func cpuTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	var utime, stime int64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		b.Fatal(err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// cpuPerPod reports the server's, weft sim's and this process's (the client-go load
// generator's) CPU time per pod since before: figures that hold on a busy machine,
// where rates do not, and that show where the machine's cores went.
func (c *simCluster) cpuPerPod(b *testing.B, before [3]time.Duration, pods int) {
	now := c.cpuNow(b)
	for i, unit := range []string{"kernel-cpu-ms/pod", "sim-cpu-ms/pod", "client-cpu-ms/pod"} {
		b.ReportMetric(float64((now[i]-before[i]).Microseconds())/1000/float64(pods), unit)
	}
}

func (c *simCluster) cpuNow(b *testing.B) [3]time.Duration {
	return [3]time.Duration{cpuTime(b, c.server.Pid), cpuTime(b, c.sim.Pid), cpuTime(b, os.Getpid())}
}

// startSimCluster starts the server and weft sim, and waits for every node to be
// Ready. WEFT_BENCH_PPROF=127.0.0.1:6060 serves the server's pprof profiles there,
// WEFT_BENCH_SIM_PPROF weft sim's.
func startSimCluster(b *testing.B, nodes int) *simCluster {
	dir := b.TempDir()
	// A /10 of /24s: room for 16384 nodes.
	args := []string{"server", "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0", "--cluster-cidr", "10.128.0.0/10", "--log-level", "warn"}
	if addr := os.Getenv("WEFT_BENCH_PPROF"); addr != "" {
		args = append(args, "--pprof-addr", addr)
	}
	srv := exec.Command(weftBin, args...)
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() })
	cfg := waitForKubeconfig(b, filepath.Join(dir, "kubeconfig"))
	cfg.QPS, cfg.Burst = -1, 0
	c := &simCluster{cfg: cfg, client: kubernetes.NewForConfigOrDie(cfg), server: srv.Process}

	simArgs := []string{"sim", "--join", filepath.Join(dir, "join"), "--nodes", fmt.Sprint(nodes),
		"--cpu", "1000", "--memory", "4Ti", "--pods", "1000", "--zones", "4", "--data-dir", filepath.Join(dir, "sim")}
	if addr := os.Getenv("WEFT_BENCH_SIM_PPROF"); addr != "" {
		simArgs = append(simArgs, "--pprof-addr", addr)
	}
	sim := exec.Command(weftBin, simArgs...)
	sim.Stderr = os.Stderr
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sim.Process.Signal(syscall.SIGTERM); _ = sim.Wait() })
	c.sim = sim.Process
	start := time.Now()
	// The join's first 30 s, when WEFT_BENCH_JOIN_PROFILE names a file.
	joinProfiled := profileServer(b, "WEFT_BENCH_JOIN_PROFILE", 30)
	defer func() { <-joinProfiled }()
	// A watch, not a poll: listing thousands of Nodes every 200 ms was a share of the
	// kernel's CPU during the very join being measured.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ready := map[string]bool{}
	for len(ready) < nodes {
		w, err := c.client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() != nil {
				b.Fatalf("%d of %d nodes Ready after 10 minutes", len(ready), nodes)
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			n, ok := ev.Object.(*corev1.Node)
			if !ok {
				continue
			}
			isReady := ev.Type != watch.Deleted && slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
				return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
			})
			if isReady {
				ready[n.Name] = true
			} else {
				delete(ready, n.Name)
			}
			if len(ready) == nodes {
				break
			}
		}
		w.Stop()
		if len(ready) < nodes && ctx.Err() != nil {
			b.Fatalf("%d of %d nodes Ready after 10 minutes", len(ready), nodes)
		}
	}
	c.joined = time.Since(start)
	return c
}

// clients returns n clientsets, each with its own connection, so that the load
// generator is not one HTTP/2 connection's worth of streams.
func (c *simCluster) clients(n int) []*kubernetes.Clientset {
	out := make([]*kubernetes.Clientset, n)
	for i := range out {
		cfg := rest.CopyConfig(c.cfg)
		// A config with its own Dial is not shared from client-go's transport cache.
		cfg.Dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
		out[i] = kubernetes.NewForConfigOrDie(cfg)
	}
	return out
}

// simPod is the benchmark's pod: small, with a CPU request so policies weigh it.
func simPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "localhost/busybox:latest",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resourceMilli(100)}}}}}}
}

// podLoad creates total pods named prefix%06d with the given writers, and follows
// the pods with a watch: bound closes when every pod is bound, running when every
// pod is Running.
type podLoad struct {
	created        time.Duration
	bound, running chan time.Time
	start          time.Time
	errs           atomic.Int64
	firstErr       atomic.Value
	watchErr       atomic.Value // a string, if the watch ended in an error
}

func (c *simCluster) load(b *testing.B, prefix string, total, writers int) *podLoad {
	return c.loadPods(b, prefix, total, writers, simPod)
}

// loadPods is load with pods made by mk.
func (c *simCluster) loadPods(b *testing.B, prefix string, total, writers int, mk func(name string) *corev1.Pod) *podLoad {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	// The watch is read raw, into the three fields the benchmark needs. client-go's
	// typed decode of every pod event was 70% of this process's CPU, which shares
	// the machine's two cores with the server and the nodes it measures.
	stream, err := c.client.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Param("watch", "true").Stream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stream.Close() })
	l := &podLoad{bound: make(chan time.Time, 1), running: make(chan time.Time, 1)}
	go func() {
		seenBound, seenRunning := map[string]bool{}, map[string]bool{}
		dec := json.NewDecoder(stream)
		for {
			var ev struct {
				Type   watch.EventType
				Object struct {
					Metadata struct{ Name string }
					Spec     struct{ NodeName string }
					Status   struct{ Phase corev1.PodPhase }
				}
			}
			if err := dec.Decode(&ev); err != nil {
				return
			}
			p := &ev.Object
			if ev.Type == watch.Error {
				l.watchErr.Store(fmt.Sprintf("the watch failed: %+v", ev))
				return
			}
			if ev.Type == watch.Deleted || ev.Type == watch.Bookmark || !strings.HasPrefix(p.Metadata.Name, prefix) {
				continue
			}
			if p.Spec.NodeName != "" && !seenBound[p.Metadata.Name] {
				seenBound[p.Metadata.Name] = true
				if len(seenBound) == total {
					l.bound <- time.Now()
				}
			}
			if p.Status.Phase == corev1.PodRunning && !seenRunning[p.Metadata.Name] {
				seenRunning[p.Metadata.Name] = true
				if len(seenRunning) == total {
					l.running <- time.Now()
					return
				}
			}
		}
	}()
	cs := c.clients(4)
	l.start = time.Now()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := cs[g%len(cs)]
			for i := g; i < total; i += writers {
				_, err := client.CoreV1().Pods("default").Create(ctx, mk(fmt.Sprintf("%s%06d", prefix, i)), metav1.CreateOptions{})
				if err != nil && !strings.Contains(err.Error(), "already exists") {
					if l.errs.Add(1) == 1 {
						l.firstErr.Store(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	l.created = time.Since(l.start)
	if n := l.errs.Load(); n > 0 {
		b.Fatalf("%d pod creates failed, the first: %v", n, l.firstErr.Load())
	}
	return l
}

func (l *podLoad) wait(b *testing.B, limit time.Duration) (bound, running time.Duration) {
	select {
	case at := <-l.bound:
		bound = at.Sub(l.start)
	case <-time.After(limit):
		b.Fatalf("not every pod was bound within %v %v", limit, l.watchErr.Load())
	}
	select {
	case at := <-l.running:
		running = at.Sub(l.start)
	case <-time.After(limit):
		b.Fatalf("not every pod was Running within %v %v", limit, l.watchErr.Load())
	}
	return bound, running
}

// BenchmarkSchedulingThroughput is the scheduler end to end: a weft server, N
// simulated nodes, and pods created by 64 clients over 4 connections; it reports how
// fast pods are bound by the built-in default policy (wasm), from the first create to
// the last binding, and how long until all run; then the same number of pods again as
// a backlog that waits for its profile (backlog-bound-pods/s: the scheduler's own rate,
// not the API's rate of creating pods). The anchors are kube-scheduler's
// scheduler_perf floors (680-810 pods/s at 5000 nodes). WEFT_BENCH_SIM_SIZES
// overrides the sizes, as nodes x pods (default "500x10000,5000x10000").
// WEFT_BENCH_E2E_PROFILE and WEFT_BENCH_BACKLOG_PROFILE name files for 10 s CPU
// profiles from the start of each phase, WEFT_BENCH_JOIN_PROFILE for the nodes'
// join's first 30 s (see profileServer).
func BenchmarkSchedulingThroughput(b *testing.B) {
	sizes := os.Getenv("WEFT_BENCH_SIM_SIZES")
	if sizes == "" {
		sizes = "500x10000,5000x10000"
	}
	for _, size := range strings.Split(sizes, ",") {
		var nodes, total int
		if _, err := fmt.Sscanf(size, "%dx%d", &nodes, &total); err != nil {
			b.Fatalf("WEFT_BENCH_SIM_SIZES: %q is not NODESxPODS", size)
		}
		b.Run(fmt.Sprintf("nodes=%d/pods=%d", nodes, total), func(b *testing.B) {
			for range b.N {
				c := startSimCluster(b, nodes)
				cpu := c.cpuNow(b)
				profiled := profileServer(b, "WEFT_BENCH_E2E_PROFILE", 10)
				l := c.load(b, "p", total, 64)
				bound, running := l.wait(b, 15*time.Minute)
				c.cpuPerPod(b, cpu, total)
				<-profiled
				b.ReportMetric(float64(total)/bound.Seconds(), "bound-pods/s")
				b.ReportMetric(float64(total)/l.created.Seconds(), "created-pods/s")
				b.ReportMetric(running.Seconds(), "s-to-all-running")
				b.ReportMetric(c.joined.Seconds(), "s-to-nodes-ready")
				b.ReportMetric(float64(total)/c.backlog(b, total).Seconds(), "backlog-bound-pods/s")
				c.reportLink(b)
				b.ReportMetric(0, "ns/op")
			}
		})
	}
}

// backlog measures the scheduler alone, as scheduler_perf does once its pods exist:
// total more pods that name a profile without a policy are created and wait; the
// profile is then created, and backlog returns the time from that write until the
// last of them is bound. Nodes still make the pods Running meanwhile.
func (c *simCluster) backlog(b *testing.B, total int) time.Duration {
	const profile = "bench-backlog"
	l := c.loadPods(b, "q", total, 64, func(name string) *corev1.Pod {
		p := simPod(name)
		p.Spec.SchedulerName = profile
		return p
	})
	profiles := dynamic.NewForConfigOrDie(c.cfg).Resource(schema.GroupVersionResource{Group: "weft.dev", Version: "v1alpha1", Resource: "schedulerprofiles"})
	prof := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "weft.dev/v1alpha1", "kind": "SchedulerProfile",
		"metadata": map[string]any{"name": profile}, "spec": map[string]any{"policy": "defaultpolicy"}}}
	cpu := c.cpuNow(b)
	profiled := profileServer(b, "WEFT_BENCH_BACKLOG_PROFILE", 10)
	t0 := time.Now()
	if _, err := profiles.Create(context.Background(), prof, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	bound, _ := l.wait(b, 15*time.Minute)
	<-profiled
	// From the profile's creation until every pod runs: the scheduler's and the
	// nodes' work, without the creates.
	now := c.cpuNow(b)
	for i, unit := range []string{"backlog-kernel-cpu-ms/pod", "backlog-sim-cpu-ms/pod"} {
		b.ReportMetric(float64((now[i]-cpu[i]).Microseconds())/1000/float64(total), unit)
	}
	return bound - t0.Sub(l.start)
}

// reportLink reports what the node link went through over the run: datagrams its
// socket dropped, and nodes the heartbeat watchdog cut or spared because the link
// lagged. Drops explain most of the spread between runs of one build.
func (c *simCluster) reportLink(b *testing.B) {
	raw, err := c.client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for name, unit := range map[string]string{
		"weft_nodelink_socket_drops_total":     "link-drops",
		"weft_nodelink_heartbeat_cuts_total":   "link-cuts",
		"weft_nodelink_heartbeat_spared_total": "link-spared",
	} {
		// A server built before these metrics (an A/B against an old build) has none.
		if v, ok := metricValue(b, raw, name); ok {
			b.ReportMetric(v, unit)
		} else {
			b.Logf("the server exports no %s", name)
		}
	}
}

// profileServer, when the environment variable env names a file and WEFT_BENCH_PPROF
// the server's pprof address, writes a CPU profile of seconds of the server, from now,
// to that file, what it allocated meanwhile to FILE.allocs, and a CPU profile of
// weft sim to FILE.sim when WEFT_BENCH_SIM_PPROF is set; the
// channel closes when they are written (at once otherwise).
func profileServer(b *testing.B, env string, seconds int) <-chan struct{} {
	done := make(chan struct{})
	file := os.Getenv(env)
	var wg sync.WaitGroup
	for _, t := range []struct{ addr, file, profile string }{
		{os.Getenv("WEFT_BENCH_PPROF"), file, "profile"},
		{os.Getenv("WEFT_BENCH_PPROF"), file + ".allocs", "allocs"},
		{os.Getenv("WEFT_BENCH_SIM_PPROF"), file + ".sim", "profile"},
	} {
		if file == "" || t.addr == "" {
			continue
		}
		wg.Go(func() {
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", t.addr, t.profile, seconds))
			if err != nil {
				b.Logf("%s: %v", env, err)
				return
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err == nil {
				err = os.WriteFile(t.file, raw, 0o644)
			}
			if err != nil {
				b.Logf("%s: %v", env, err)
			}
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// BenchmarkSchedulingScale is the scale test: 5000 simulated nodes join and
// turn Ready, then 50k pods are created and run. It reports both times; kwok's CI
// brings 5000 nodes and 10k pods up in 60 s each.
func BenchmarkSchedulingScale(b *testing.B) {
	const nodes, total = 5000, 50000
	b.Run(fmt.Sprintf("nodes=%d/pods=%d", nodes, total), func(b *testing.B) {
		for range b.N {
			c := startSimCluster(b, nodes)
			cpu := c.cpuNow(b)
			l := c.load(b, "p", total, 64)
			bound, running := l.wait(b, 30*time.Minute)
			c.cpuPerPod(b, cpu, total)
			b.ReportMetric(c.joined.Seconds(), "s-to-nodes-ready")
			b.ReportMetric(running.Seconds(), "s-to-all-running")
			b.ReportMetric(float64(total)/bound.Seconds(), "bound-pods/s")
			b.ReportMetric(0, "ns/op")
		}
	})
}

// BenchmarkSchedulerSwapLatency swaps the default profile's policy between the
// built-in defaultpolicy and binpack while pods keep arriving, and reports the time
// from the API write of the SchedulerProfile to the first decision made by the new
// policy (status.decidingSince). kube-scheduler cannot swap a policy without a
// restart; kube-scheduler-wasm-extension loads its guest only at start.
func BenchmarkSchedulerSwapLatency(b *testing.B) {
	c := startSimCluster(b, 50)
	dyn := dynamic.NewForConfigOrDie(c.cfg)
	profiles := dyn.Resource(schema.GroupVersionResource{Group: "weft.dev", Version: "v1alpha1", Resource: "schedulerprofiles"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Steady arrivals, bounded: 4 writers, one pod each 20 ms at most.
	var wg sync.WaitGroup
	var n atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && n.Load() < 20000 {
				i := n.Add(1)
				_, _ = c.client.CoreV1().Pods("default").Create(ctx, simPod(fmt.Sprintf("s%06d", i)), metav1.CreateOptions{})
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()
	var lat, standby []time.Duration
	policies := []string{"binpack", "defaultpolicy"}
	// Ten swaps 300 ms apart, then three to a policy unasked for 11 s: a standby,
	// whose feed was held (kernel/plugins: policyStandbyAfter) and is caught up first.
	for i := range 13 {
		policy := policies[i%2]
		wait := 300 * time.Millisecond
		if i >= 10 {
			wait = 11 * time.Second
		}
		time.Sleep(wait)
		t0 := time.Now()
		patch := fmt.Appendf(nil, `{"spec":{"policy":%q}}`, policy)
		if _, err := profiles.Patch(ctx, "default-scheduler", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			p, err := profiles.Get(ctx, "default-scheduler", metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			st, _ := p.Object["status"].(map[string]any)
			since, _ := st["decidingSince"].(string)
			at, perr := time.Parse(metav1.RFC3339Micro, since)
			if st["policy"] == policy && perr == nil && at.After(t0) {
				if i < 10 {
					lat = append(lat, at.Sub(t0))
				} else {
					standby = append(standby, at.Sub(t0))
				}
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no decision by %s within 30 s of the swap: %v", policy, st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	slices.Sort(lat)
	slices.Sort(standby)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-swap-p50")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "ms-swap-max")
	b.ReportMetric(float64(standby[len(standby)-1].Microseconds())/1000, "ms-swap-standby-max")
	b.ReportMetric(0, "ns/op")
}

func resourceMilli(m int64) resource.Quantity {
	return *resource.NewMilliQuantity(m, resource.DecimalSI)
}
