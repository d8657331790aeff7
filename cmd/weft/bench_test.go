package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// BenchmarkAPICreate creates ConfigMaps through client-go at a fixed rate against a
// weft server in its own process, and reports latency percentiles. It is open-loop:
// each request is timed from when it was due, so a stall shows up in the figures
// instead of slowing the load down. Run with -benchtime=1x; the load is bounded by
// WEFT_BENCH_API_RATE (default 1000/s) and WEFT_BENCH_API_SECONDS (default 30).
func BenchmarkAPICreate(b *testing.B) {
	rate := envInt("WEFT_BENCH_API_RATE", 1000)
	seconds := envInt("WEFT_BENCH_API_SECONDS", 30)
	dir := b.TempDir()
	args := []string{"server", "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--log-level", "warn"}
	if p := os.Getenv("WEFT_BENCH_PPROF"); p != "" {
		args = append(args, "--pprof-addr", p)
	}
	srv := exec.Command(weftBin, args...)
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	cfg := waitForKubeconfig(b, filepath.Join(dir, "kubeconfig"))
	cfg.QPS, cfg.Burst = -1, 0
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	// Warm the connection pool and the server's caches.
	for i := range 200 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("warm-%d", i)}, Data: map[string]string{"k": "v"}}
		if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}

	total := rate * seconds
	lat := make([]time.Duration, total)
	var failed atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	b.ResetTimer()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			cm := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%07d", i), Labels: map[string]string{"app": "bench"}},
				Data:       map[string]string{"key": "value", "index": fmt.Sprint(i)},
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := client.CoreV1().ConfigMaps("default").Create(rctx, cm, metav1.CreateOptions{}); err != nil {
				failed.Add(1)
			}
			lat[i] = time.Since(due)
		}(i, due)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(0.999), "p99.9-ms")
	b.ReportMetric(float64(failed.Load()), "errors")
	// Where the time goes: the server's own view of the same requests.
	raw, err := client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(histogramQuantile(b, raw, "apiserver_request_duration_seconds", `verb="create"`, 0.99)*1000, "server-p99-ms")
	b.ReportMetric(histogramQuantile(b, raw, "weft_store_commit_duration_seconds", "", 0.99)*1000, "commit-p99-ms")
}

// metricValue is the value of an unlabelled metric in a Prometheus text exposition;
// false if the text has none.
func metricValue(b *testing.B, text []byte, name string) (float64, bool) {
	for _, line := range strings.Split(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				b.Fatalf("metric %s: %v", name, err)
			}
			return f, true
		}
	}
	return 0, false
}

// histogramQuantile estimates a quantile from a Prometheus text histogram, as
// PromQL's histogram_quantile does: linear interpolation inside the bucket.
func histogramQuantile(b *testing.B, text []byte, name, match string, q float64) float64 {
	type bucket struct{ le, count float64 }
	var buckets []bucket
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, name+"_bucket{") || !strings.Contains(line, match) {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.Index(line[i+4:], `"`)
		var le, count float64
		if line[i+4:i+4+j] == "+Inf" {
			le = math.Inf(1)
		} else if _, err := fmt.Sscan(line[i+4:i+4+j], &le); err != nil {
			b.Fatalf("bad bucket %q", line)
		}
		if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &count); err != nil {
			b.Fatalf("bad bucket %q", line)
		}
		buckets = append(buckets, bucket{le, count})
	}
	if len(buckets) == 0 {
		b.Fatalf("no histogram %s{%s}", name, match)
	}
	slices.SortFunc(buckets, func(x, y bucket) int { return cmp.Compare(x.le, y.le) })
	total := buckets[len(buckets)-1].count
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, bk := range buckets {
		if bk.count >= rank {
			if math.IsInf(bk.le, 1) {
				return prevLe
			}
			return prevLe + (bk.le-prevLe)*(rank-prevCount)/(bk.count-prevCount)
		}
		prevLe, prevCount = bk.le, bk.count
	}
	return prevLe
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}

func waitForKubeconfig(b *testing.B, path string) *rest.Config {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if cfg, err := clientcmd.BuildConfigFromFlags("", path); err == nil {
			client := kubernetes.NewForConfigOrDie(cfg)
			if body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background()); err == nil && string(body) == "ok" {
				return cfg
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("server did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
