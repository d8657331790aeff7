package apps_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tetratelabs/wazero/experimental"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/plugins/apps"
	"weft.dev/weft/sdk"
)

// The ReplicaSet controller is fed every pod in the cluster, so the apps plugin's
// session instance must hold a scale run's pods within its memory cap. A 5000-node,
// 50,000-pod run once made it run out of its 128 MiB and be replaced over and over.

// simPod is pod i of a scale run as the host feeds it to the apps plugin: a pod of one
// of rsCount ReplicaSets, bound, and Running as `weft sim` reports it, projected to
// the apps plugin's declared fields as the kernel projects it.
func simPod(i, rsCount, nodes int) []byte {
	rs := i % rsCount
	rsName := fmt.Sprintf("web-%02d-5d8f9c7b6", rs)
	uid := types.UID(fmt.Sprintf("%08x-4b1e-4c2d-9f3a-%012x", i, i))
	start := metav1.NewTime(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond))
	ip := fmt.Sprintf("10.%d.%d.%d", 64+i/65536, i/256%256, i%256)
	node := i % nodes
	yes := true
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	pod := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%05x", rsName, i), GenerateName: rsName + "-", Namespace: "default", UID: uid,
			ResourceVersion: fmt.Sprint(100000 + i), CreationTimestamp: start,
			Labels: map[string]string{"app": fmt.Sprintf("web-%02d", rs), "pod-template-hash": "5d8f9c7b6"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName, UID: types.UID(fmt.Sprintf("rs-uid-%02d", rs)),
				Controller: &yes, BlockOwnerDeletion: &yes,
			}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "weft", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1"}},
		},
		Spec: corev1.PodSpec{
			NodeName: fmt.Sprintf("sim-%04d", node), RestartPolicy: corev1.RestartPolicyAlways, SchedulerName: "default-scheduler",
			Containers: []corev1.Container{{
				Name: "web", Image: "localhost/busybox:latest", Command: []string{"sleep", "infinity"},
				Resources: corev1.ResourceRequirements{Requests: res, Limits: res}, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, HostIP: fmt.Sprintf("172.16.%d.%d", node/256, node%256), PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			StartTime: &start, QOSClass: corev1.PodQOSGuaranteed,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: start},
			},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", Image: "localhost/busybox:latest", ImageID: "sim://localhost/busybox:latest",
				ContainerID: fmt.Sprintf("sim://%s-web", uid), Ready: true, Started: &yes,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}},
			}},
		},
	}
	var full map[string]any
	b, _ := json.Marshal(&pod)
	_ = json.Unmarshal(b, &full)
	// As kernel/plugins projects it for the fields the manifest declares.
	meta := full["metadata"].(map[string]any)
	delete(meta, "managedFields")
	out, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": meta,
		"spec": map[string]any{"nodeName": pod.Spec.NodeName}, "status": full["status"],
	})
	return out
}

func simReplicaSet(rs, replicas int) []byte {
	name, app := fmt.Sprintf("web-%02d-5d8f9c7b6", rs), fmt.Sprintf("web-%02d", rs)
	return fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":%q,"namespace":"default","uid":"rs-uid-%02d","resourceVersion":"%d","generation":1,"creationTimestamp":"2026-11-21T10:00:00Z","labels":{"app":%q,"pod-template-hash":"5d8f9c7b6"}},"spec":{"replicas":%d,"selector":{"matchLabels":{"app":%q,"pod-template-hash":"5d8f9c7b6"}},"template":{"metadata":{"labels":{"app":%q,"pod-template-hash":"5d8f9c7b6"}},"spec":{"containers":[{"name":"web","image":"localhost/busybox:latest","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}},"status":{"replicas":%d,"readyReplicas":%d,"availableReplicas":%d,"fullyLabeledReplicas":%d,"observedGeneration":1}}`,
		name, rs, 1000+rs, app, replicas, app, app, replicas, replicas, replicas, replicas)
}

// peakMemory is a wazero memory allocator that records the largest size the guest's
// linear memory reached.
type peakMemory struct {
	mu   sync.Mutex
	peak uint64
}

func (m *peakMemory) Allocate(capacity, max uint64) experimental.LinearMemory {
	return &linearMemory{m: m, buf: make([]byte, 0, capacity)}
}

func (m *peakMemory) Peak() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}

type linearMemory struct {
	m   *peakMemory
	buf []byte
}

func (l *linearMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(l.buf)) {
		nb := make([]byte, size, max(size, uint64(cap(l.buf))*2))
		copy(nb, l.buf)
		l.buf = nb
	}
	l.buf = l.buf[:size]
	l.m.mu.Lock()
	l.m.peak = max(l.m.peak, size)
	l.m.mu.Unlock()
	return l.buf
}

func (l *linearMemory) Free() { l.buf = nil }

// feedResult is what feeding a session of the apps plugin came to.
type feedResult struct {
	peak     uint64 // bytes of linear memory the session instance reached
	failures []pluginhost.Failure
	err      error // the first failed call
}

// feedScaleRun feeds a session of the built apps plugin, under a memory cap of pages
// (0 for the default), rsCount ReplicaSets and their pods in the kernel's 1 MiB feed
// chunks, then Synced, then reconciles one ReplicaSet. The plugin runs trusted, as
// built-ins do; the long call timeout is for a loaded machine, not the guest.
func feedScaleRun(tb testing.TB, wasm []byte, pods [][]byte, rsCount int, pages uint32) feedResult {
	tb.Helper()
	ctx := context.Background()
	e, err := pluginhost.NewEngine(pluginhost.Config{CacheDir: cacheDir(tb), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	var res feedResult
	var mu sync.Mutex
	p, err := e.Load(ctx, wasm, pluginhost.Options{
		Limits: pluginhost.Limits{Instances: 1, MemoryPages: pages, CallTimeout: time.Minute}, Kernel: stubKernel{}, Trusted: true,
		OnFailure: func(f pluginhost.Failure) { mu.Lock(); res.failures = append(res.failures, f); mu.Unlock() },
	})
	if err != nil {
		tb.Fatal(err)
	}
	p.SetGrants(p.Manifest.Permissions)
	defer func() { p.Close(ctx); _ = e.Close(ctx) }()
	s := p.NewSession()
	defer s.Close()
	mem := &peakMemory{}
	epoch, err := s.Ready(experimental.WithMemoryAllocator(ctx, mem))
	if err != nil {
		tb.Fatal(err)
	}
	evs := make([]sdk.FeedEvent, 0, rsCount+len(pods)+1)
	for rs := range rsCount {
		evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: rsKind, Object: simReplicaSet(rs, (len(pods)+rsCount-1-rs)/rsCount)})
	}
	for _, pod := range pods {
		evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Object: pod})
	}
	evs = append(evs, sdk.FeedEvent{Type: sdk.Synced})
	const chunk = 1 << 20 // kernel/plugins' feedChunk
	for len(evs) > 0 && res.err == nil {
		n, size := 0, 0
		for n < len(evs) && (n == 0 || size+len(evs[n].Object) < chunk) {
			size += len(evs[n].Object)
			n++
		}
		_, res.err = s.Call(ctx, epoch, "feed", sdk.EncodeFeed(evs[:n]))
		evs = evs[n:]
	}
	if res.err == nil {
		req := sdk.ReconcileRequest{Controller: "replicaset", Kind: rsKind, Namespace: "default", Name: "web-00-5d8f9c7b6"}
		_, res.err = s.Call(ctx, epoch, "reconcile", req.MarshalWire())
	}
	res.peak = mem.Peak()
	mu.Lock()
	defer mu.Unlock()
	return res
}

// cacheDir shares compiled modules between the runs of one test binary.
var cacheDir = func() func(testing.TB) string {
	var once sync.Once
	var dir string
	return func(tb testing.TB) string {
		once.Do(func() { dir = tb.TempDir() })
		return dir
	}
}()

func simPods(n, rsCount, nodes int) [][]byte {
	pods := make([][]byte, n)
	for i := range pods {
		pods[i] = simPod(i, rsCount, nodes)
	}
	return pods
}

// A fifth of the scale run under 32 MiB, a fifth of the default cap plus the few MiB
// an instance takes with no pods: the session instance must keep every pod without
// running out of memory and being replaced.
func TestFeedScaleRunWithinMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the apps plugin for wasm")
	}
	wasm := kerneltest.BuildPlugin(t, "plugins/apps/wasm")
	for _, tc := range []struct {
		pods, rs, nodes int
		pages           uint32
	}{
		{pods: 10000, rs: 10, nodes: 1000, pages: 32 << 4}, // 32 MiB
	} {
		t.Run(fmt.Sprintf("%dpods-%dMiB", tc.pods, tc.pages>>4), func(t *testing.T) {
			res := feedScaleRun(t, wasm, simPods(tc.pods, tc.rs, tc.nodes), tc.rs, tc.pages)
			t.Logf("peak linear memory %.1f MiB", float64(res.peak)/(1<<20))
			if res.err != nil || len(res.failures) > 0 {
				t.Fatalf("feeding %d pods under %d MiB: %v (instance failures: %v)", tc.pods, tc.pages>>4, res.err, res.failures)
			}
		})
	}
}

// BenchmarkFeedScaleRun feeds the whole scale run (50,000 pods of 10 ReplicaSets on
// 5000 nodes) under the default memory cap, and reports how much linear memory the
// session instance needs per pod beyond what it needs with none.
func BenchmarkFeedScaleRun(b *testing.B) {
	const pods, rsCount, nodes = 50000, 10, 5000
	wasm := kerneltest.BuildPlugin(b, "plugins/apps/wasm")
	all := simPods(pods, rsCount, nodes)
	size := 0
	for _, p := range all {
		size += len(p)
	}
	empty := feedScaleRun(b, wasm, nil, rsCount, 0)
	if empty.err != nil {
		b.Fatal(empty.err)
	}
	var res feedResult
	for b.Loop() {
		res = feedScaleRun(b, wasm, all, rsCount, 0)
		if res.err != nil || len(res.failures) > 0 {
			b.Fatalf("feeding %d pods under the default cap: %v (instance failures: %v)", pods, res.err, res.failures)
		}
	}
	b.ReportMetric(float64(res.peak-empty.peak)/pods, "guest-bytes/pod")
	b.ReportMetric(float64(res.peak)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(size)/pods, "fed-bytes/pod")
}

// BenchmarkCacheLiveBytes is what the cache keeps per pod of the scale run, natively
// and after a collection: the part of guest-bytes/pod that is not the collector's
// headroom.
func BenchmarkCacheLiveBytes(b *testing.B) {
	const pods = 20000
	all := simPods(pods, 10, 5000)
	for b.Loop() {
		_, h := apps.Plugin()
		c := sdk.NewCache(h.Types)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		// In feed buffers like the host's, so that whatever aliases them keeps them.
		for i := 0; i < pods; i += 500 {
			evs := make([]sdk.FeedEvent, 0, 500)
			for _, p := range all[i : i+500] {
				evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Object: p})
			}
			fed, err := sdk.DecodeFeed(sdk.EncodeFeed(evs))
			if err != nil {
				b.Fatal(err)
			}
			for _, ev := range fed {
				if err := c.Apply(ev); err != nil {
					b.Fatal(err)
				}
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/pods, "live-bytes/pod")
		runtime.KeepAlive(c)
	}
}
