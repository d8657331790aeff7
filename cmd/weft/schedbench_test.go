package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// BenchmarkSchedulingThroughput is the scheduler end to end: a weft server, N
// simulated nodes joined over the real transport (weft sim), and pods created by 32
// clients; it reports how fast pods are bound by the built-in default policy (wasm),
// from the first create to the last binding, and how long until all run. Nodes:
// WEFT_BENCH_SIM_NODES (default 500); pods: WEFT_BENCH_SIM_PODS (default 10000). The
// anchors are kube-scheduler's scheduler_perf floors (680-810 pods/s at 5000 nodes).
func BenchmarkSchedulingThroughput(b *testing.B) {
	nodes := envInt("WEFT_BENCH_SIM_NODES", 500)
	total := envInt("WEFT_BENCH_SIM_PODS", 10000)
	const writers = 32
	dir := b.TempDir()
	// A /10 of /24s: room for 16384 nodes.
	srv := exec.Command(weftBin, "server", "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0", "--cluster-cidr", "10.128.0.0/10", "--log-level", "warn")
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() }()
	cfg := waitForKubeconfig(b, filepath.Join(dir, "kubeconfig"))
	cfg.QPS, cfg.Burst = -1, 0
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()

	sim := exec.Command(weftBin, "sim", "--join", filepath.Join(dir, "join"), "--nodes", fmt.Sprint(nodes),
		"--cpu", "1000", "--memory", "4Ti", "--pods", "1000", "--data-dir", filepath.Join(dir, "sim"))
	sim.Stderr = os.Stderr
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sim.Process.Signal(syscall.SIGTERM); _ = sim.Wait() }()
	joinStart := time.Now()
	for {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		if err == nil {
			for _, n := range list.Items {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
		}
		if ready == nodes {
			break
		}
		if time.Since(joinStart) > 5*time.Minute {
			b.Fatalf("%d of %d nodes Ready after 5 minutes", ready, nodes)
		}
		time.Sleep(200 * time.Millisecond)
	}
	joined := time.Since(joinStart)

	w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	bound, running := make(chan time.Time, 1), make(chan time.Time, 1)
	go func() {
		seenBound, seenRunning := map[string]bool{}, map[string]bool{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			if p.Spec.NodeName != "" && !seenBound[p.Name] {
				seenBound[p.Name] = true
				if len(seenBound) == total {
					bound <- time.Now()
				}
			}
			if p.Status.Phase == corev1.PodRunning && !seenRunning[p.Name] {
				seenRunning[p.Name] = true
				if len(seenRunning) == total {
					running <- time.Now()
					return
				}
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < total; i += writers {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%05d", i), Labels: map[string]string{"app": "bench"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "localhost/busybox:latest",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resourceMilli(100)}}}}}}
				if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	created := time.Since(start)
	var boundAt, runningAt time.Time
	select {
	case boundAt = <-bound:
	case <-time.After(10 * time.Minute):
		b.Fatal("not every pod was bound within 10 minutes")
	}
	select {
	case runningAt = <-running:
	case <-time.After(10 * time.Minute):
		b.Fatal("not every pod was running within 10 minutes")
	}
	b.ReportMetric(float64(total)/boundAt.Sub(start).Seconds(), "bound-pods/s")
	b.ReportMetric(float64(total)/created.Seconds(), "created-pods/s")
	b.ReportMetric(runningAt.Sub(start).Seconds(), "s-to-all-running")
	b.ReportMetric(joined.Seconds(), "s-to-nodes-ready")
	b.ReportMetric(0, "ns/op")
}

func resourceMilli(m int64) resource.Quantity {
	return *resource.NewMilliQuantity(m, resource.DecimalSI)
}
