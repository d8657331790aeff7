package pods_test

import (
	"context"
	"fmt"
	goruntime "runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/node/runtime/runtimetest"
)

// BenchmarkPodStartup measures create→Running (the first Update with phase Running)
// with the image present, for 1 pod and for 30 created at once, as p50 and p99 over
// all pods of all iterations. With 30 pods it also reports the heap of the process
// (manager plus test harness) while they run. cpu-ms/pod is the CPU from create to
// Running of every process involved (this one, containerd, shims, runc, CNI plugins,
// log drivers, the containers' runc init), per pod.
func BenchmarkPodStartup(b *testing.B) {
	for _, n := range []int{1, 30} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			meter := runtimetest.MeterCPU(b, testNamespace)
			e := newEnv(b, nil)
			var lat []time.Duration
			var cpu int64
			var heap uint64
			for i := 0; b.Loop(); i++ {
				ps := make([]*corev1.Pod, n)
				for j := range ps {
					ps[j] = newPod(fmt.Sprintf("bench-%d-%d", i, j), sh("app", "exec sleep 1000"))
				}
				var cpu0 int64
				if meter != nil {
					cpu0 = meter.Nanos()
				}
				begin := time.Now()
				for _, p := range ps {
					e.sync(p)
				}
				for _, p := range ps {
					e.waitPod(p.UID, 120*time.Second, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
				}
				b.StopTimer()
				if meter != nil {
					cpu += meter.Nanos() - cpu0
				}
				e.mu.Lock()
				for _, p := range ps {
					lat = append(lat, e.running[p.UID].Sub(begin))
				}
				e.mu.Unlock()
				if n == 30 {
					goruntime.GC()
					var ms goruntime.MemStats
					goruntime.ReadMemStats(&ms)
					heap = max(heap, ms.HeapInuse)
				}
				deleteAll(e, ps)
				b.StartTimer()
			}
			b.ReportMetric(runtimetest.PercentileMs(lat, 0.5), "p50-ms")
			b.ReportMetric(runtimetest.PercentileMs(lat, 0.99), "p99-ms")
			if meter != nil {
				b.ReportMetric(float64(cpu)/1e6/float64(len(lat)), "cpu-ms/pod")
			}
			b.ReportMetric(0, "ns/op")
			if heap > 0 {
				b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
			}
		})
	}
}

func deleteAll(e *env, ps []*corev1.Pod) {
	for _, p := range ps {
		e.sync(deletePod(p, 0))
	}
	uids := make([]types.UID, len(ps))
	for i, p := range ps {
		uids[i] = p.UID
		e.waitTerminated(p.UID, 60*time.Second)
	}
	for _, uid := range uids {
		e.m.Forget(context.Background(), uid)
	}
}
