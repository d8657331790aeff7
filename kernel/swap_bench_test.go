package kernel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/registry"
)

// BenchmarkPluginSwap upgrades and rolls back an admission plugin ten times while
// eight clients keep creating widgets through its hooks. It reports the swap itself
// (from the new version being compiled and instantiated to its hooks serving; goal
// under 100 ms), the time from the Plugin update to the new version serving (which
// includes reading the module and instantiating it, with the compilation cached), and
// the requests that failed during the swaps (goal: none).
func BenchmarkPluginSwap(b *testing.B) {
	c := kerneltest.Start(b, kerneltest.Options{Kinds: []registry.Kind{kerneltest.WidgetKind(b)}})
	ctx := context.Background()
	v1 := uploadB(b, c, "policy", kerneltest.BuildPluginVersion(b, "testdata/plugins/policy", "1.0.0"))
	v2 := uploadB(b, c, "policy", kerneltest.BuildPluginVersion(b, "testdata/plugins/policy", "2.0.0"))
	plugins := c.Dynamic.Resource(pluginsGVR)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "weft.dev/v1alpha1", "kind": "Plugin",
		"metadata": map[string]any{"name": "policy"},
		"spec":     map[string]any{"module": v1},
	}}
	if _, err := plugins.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	waitVersion := func(version string) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := plugins.Get(ctx, "policy", metav1.GetOptions{})
			if err == nil {
				if v, _, _ := unstructured.NestedString(got.Object, "status", "version"); v == version {
					return
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("version %s did not start", version)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitVersion("1.0.0")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var requests, failed atomic.Int64
	w := c.Dynamic.Resource(widgets).Namespace("default")
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				requests.Add(1)
				if _, err := w.Create(ctx, widget(fmt.Sprintf("w-%d-%d", g, i), map[string]any{"color": "blue"}), metav1.CreateOptions{}); err != nil {
					failed.Add(1)
					b.Logf("request failed during a swap: %v", err)
				}
			}
		}()
	}
	var swaps, applied []time.Duration
	for i := range 10 {
		module, version := v2, "2.0.0"
		if i%2 == 1 {
			module, version = v1, "1.0.0"
		}
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		patch := fmt.Sprintf(`{"spec":{"module":%q}}`, module)
		if _, err := plugins.Patch(ctx, "policy", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		waitVersion(version)
		applied = append(applied, time.Since(start))
		d, _ := c.Kernel.Plugins().LastSwap("policy")
		swaps = append(swaps, d)
	}
	close(stop)
	wg.Wait()
	slices.Sort(swaps)
	slices.Sort(applied)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(swaps[len(swaps)/2]), "swap-p50-ms")
	b.ReportMetric(ms(swaps[len(swaps)-1]), "swap-max-ms")
	b.ReportMetric(ms(applied[len(applied)/2]), "apply-to-serving-p50-ms")
	b.ReportMetric(float64(requests.Load()), "requests")
	b.ReportMetric(float64(failed.Load()), "failed-requests")
	b.ReportMetric(0, "ns/op")
	if failed.Load() > 0 {
		b.Errorf("%d of %d requests failed during swaps", failed.Load(), requests.Load())
	}
}

func uploadB(b *testing.B, c *kerneltest.Cluster, name string, wasm []byte) string {
	b.Helper()
	raw, err := c.Client.Discovery().RESTClient().Put().AbsPath("/apis/weft.dev/v1alpha1/plugins/"+name+"/module").
		SetHeader("Content-Type", "application/wasm").Body(wasm).DoRaw(context.Background())
	var out struct{ Digest string }
	if err != nil || json.Unmarshal(raw, &out) != nil || out.Digest == "" {
		b.Fatalf("upload: %v %s", err, raw)
	}
	return out.Digest
}
