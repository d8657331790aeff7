package kernel_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/pluginhost"
)

// Built-in plugins are installed on first start, and after that the operator's
// choices stand across restarts: a removed built-in stays removed, one moved to
// another module stays there, and one left alone follows the binary's module.
func TestBuiltinPlugins(t *testing.T) {
	dir := t.TempDir()
	v1 := kerneltest.BuildPluginVersion(t, "testdata/plugins/policy", "1.0.0")
	v2 := kerneltest.BuildPluginVersion(t, "testdata/plugins/policy", "2.0.0")
	writer := kerneltest.BuildPlugin(t, "testdata/plugins/writer")
	start := func(builtins map[string][]byte) *kerneltest.Cluster {
		return kerneltest.Start(t, kerneltest.Options{Dir: dir, Tune: func(cfg *kernel.Config) {
			for n, b := range builtins {
				cfg.Builtins[n] = b
			}
		}})
	}
	ctx := context.Background()
	module := func(c *kerneltest.Cluster, name string) string {
		obj, err := c.Dynamic.Resource(pluginsGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "absent"
		}
		m, _, _ := unstructured.NestedString(obj.Object, "spec", "module")
		return m
	}
	running := func(c *kerneltest.Cluster, name, digest string) {
		t.Helper()
		pluginStatus(t, c, name, func(st map[string]any) error {
			if st["phase"] != "Running" || st["digest"] != digest {
				return fmt.Errorf("status %v", st)
			}
			return nil
		})
	}

	c := start(map[string][]byte{"policy": v1, "writer": writer})
	running(c, "policy", pluginhost.Digest(v1))
	running(c, "writer", pluginhost.Digest(writer))
	obj, _ := c.Dynamic.Resource(pluginsGVR).Get(ctx, "policy", metav1.GetOptions{})
	if tr, _, _ := unstructured.NestedBool(obj.Object, "spec", "trusted"); !tr || obj.GetLabels()["weft.dev/built-in"] != "true" {
		t.Fatalf("built-in plugin object: %v", obj.Object)
	}
	// The operator removes writer.
	if err := c.Dynamic.Resource(pluginsGVR).Delete(ctx, "writer", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Stop()

	// A new binary with policy v2: policy, untouched, moves to v2; writer stays gone.
	c = start(map[string][]byte{"policy": v2, "writer": writer})
	running(c, "policy", pluginhost.Digest(v2))
	if m := module(c, "writer"); m != "absent" {
		t.Fatalf("a removed built-in came back: %s", m)
	}
	// The operator rolls policy back to v1 by hand.
	patch := fmt.Sprintf(`{"spec":{"module":%q}}`, pluginhost.Digest(v1))
	if _, err := c.Dynamic.Resource(pluginsGVR).Patch(ctx, "policy", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	running(c, "policy", pluginhost.Digest(v1))
	c.Stop()

	// The same binary again: the operator's choice stands.
	c = start(map[string][]byte{"policy": v2, "writer": writer}) // installs before serving
	if m := module(c, "policy"); m != pluginhost.Digest(v1) {
		t.Fatalf("the operator's module was replaced: %s", m)
	}
	running(c, "policy", pluginhost.Digest(v1))
}
