package kernel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/registry"
)

var pluginsGVR = schema.GroupVersionResource{Group: "weft.dev", Version: "v1alpha1", Resource: "plugins"}

func upload(t *testing.T, c *kerneltest.Cluster, name string, wasm []byte) string {
	t.Helper()
	r := do(t, c, http.MethodPut, "/apis/weft.dev/v1alpha1/plugins/"+name+"/module", "application/wasm", wasm)
	var out struct{ Digest string }
	if r.code != 200 || json.Unmarshal(r.body, &out) != nil || !strings.HasPrefix(out.Digest, "sha256:") {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	return out.Digest
}

func pluginStatus(t *testing.T, c *kerneltest.Cluster, name string, want func(st map[string]any) error) map[string]any {
	t.Helper()
	var st map[string]any
	eventually(t, "plugin "+name+" status", func() error {
		obj, err := c.Dynamic.Resource(pluginsGVR).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st, _ = obj.Object["status"].(map[string]any)
		return want(st)
	})
	return st
}

func phase(want string, msg string) func(map[string]any) error {
	return func(st map[string]any) error {
		if st["phase"] != want || !strings.Contains(fmt.Sprint(st["message"]), msg) {
			return fmt.Errorf("status %v", st)
		}
		return nil
	}
}

// Plugins are installed, upgraded and removed at runtime by writing Plugin objects;
// a failing upgrade leaves the old version serving.
func TestPluginLifecycle(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{
		Kinds: []registry.Kind{kerneltest.WidgetKind(t)},
		Tune:  func(cfg *kernel.Config) { cfg.PluginStatusInterval = 100 * time.Millisecond },
	})
	ctx := context.Background()
	plugins := c.Dynamic.Resource(pluginsGVR)
	widgetsClient := c.Dynamic.Resource(widgets).Namespace("default")

	digest := upload(t, c, "policy", kerneltest.BuildPlugin(t, "testdata/plugins/policy"))
	if r := do(t, c, http.MethodPut, "/apis/weft.dev/v1alpha1/plugins/policy/module", "application/wasm", []byte("not wasm")); r.code != 400 {
		t.Fatalf("upload of garbage: %d", r.code)
	}
	plugin := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "weft.dev/v1alpha1", "kind": "Plugin",
		"metadata": map[string]any{"name": "policy"},
		"spec":     map[string]any{"module": digest},
	}}
	if _, err := plugins.Create(ctx, plugin, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pluginStatus(t, c, "policy", phase("Running", ""))
	if _, err := widgetsClient.Create(ctx, widget("red", map[string]any{"color": "red"}), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("installed plugin's hook: want Forbidden, got %v", err)
	}
	// A failure that costs an instance is an Event on the Plugin object, where
	// kubectl describe shows it.
	if _, err := widgetsClient.Create(ctx, widget("crash", map[string]any{"size": "999m"}), metav1.CreateOptions{}); !apierrors.IsInternalError(err) {
		t.Fatalf("crashing hook: want InternalError, got %v", err)
	}
	eventually(t, "failure event", func() error {
		evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Plugin,involvedObject.name=policy,reason=Trapped"})
		if err != nil {
			return err
		}
		if len(evs.Items) != 1 || evs.Items[0].Type != "Warning" || !strings.Contains(evs.Items[0].Message, "admit") || evs.Items[0].InvolvedObject.UID == "" {
			return fmt.Errorf("events: %+v", evs.Items)
		}
		return nil
	})
	st := pluginStatus(t, c, "policy", func(st map[string]any) error {
		if calls, _ := st["calls"].(int64); calls < 2 {
			return fmt.Errorf("calls not counted yet: %v", st)
		}
		return nil
	})
	if st["version"] != "1.0.0" || st["digest"] != digest {
		t.Fatalf("status: %v", st)
	}

	// An upgrade to a module that is not there fails and leaves version 1 serving.
	missing := "sha256:" + strings.Repeat("ab", 32)
	patch := fmt.Sprintf(`{"spec":{"module":%q}}`, missing)
	if _, err := plugins.Patch(ctx, "policy", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	pluginStatus(t, c, "policy", phase("Running", "keeps serving"))
	if _, err := widgetsClient.Create(ctx, widget("red", map[string]any{"color": "red"}), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("after a failed upgrade: want Forbidden, got %v", err)
	}

	// A module whose manifest names another plugin is refused.
	writer := upload(t, c, "other", kerneltest.BuildPlugin(t, "testdata/plugins/writer"))
	other := plugin.DeepCopy()
	other.SetName("other")
	other.Object["spec"] = map[string]any{"module": writer}
	if _, err := plugins.Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pluginStatus(t, c, "other", phase("Failed", `the module is plugin "writer", not "other"`))
	// Granting more than a plugin asks for is refused.
	greedy := plugin.DeepCopy()
	greedy.SetName("writer")
	greedy.Object["spec"] = map[string]any{"module": writer, "grants": []any{map[string]any{"resource": "secrets", "verbs": []any{"delete"}}}}
	if _, err := plugins.Create(ctx, greedy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pluginStatus(t, c, "writer", phase("Failed", "more than the plugin asks for"))

	// Removing the plugin removes its hooks.
	if err := plugins.Delete(ctx, "policy", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "hooks removed", func() error {
		_, err := widgetsClient.Create(ctx, widget("red", map[string]any{"color": "red"}), metav1.CreateOptions{})
		return err
	})
	// kubectl's view.
	r := do(t, c, http.MethodGet, "/apis/weft.dev/v1alpha1/plugins", "", nil, "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	if r.code != 200 || !strings.Contains(string(r.body), `"name":"State"`) {
		t.Fatalf("plugins table: %d %s", r.code, r.body)
	}
}

// A plugin's controller reconciles its primary kind and is requeued by the objects it
// owns: it sets status, and recreates an owned ConfigMap that is deleted.
func TestPluginController(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{kerneltest.WidgetKind(t)}})
	ctx := context.Background()
	c.InstallPlugin(t, "counter", kerneltest.BuildPlugin(t, "testdata/plugins/counter"), false)
	w := c.Dynamic.Resource(widgets).Namespace("default")
	if _, err := w.Create(ctx, widget("one", map[string]any{"color": "green"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cms := c.Client.CoreV1().ConfigMaps("default")
	eventually(t, "reconciled", func() error {
		got, err := w.Get(ctx, "one", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if nested(got, "status", "phase") != "Seen" || nested(got, "status", "observedGeneration") != got.GetGeneration() {
			return fmt.Errorf("status %v", got.Object["status"])
		}
		cm, err := cms.Get(ctx, "one-data", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Data["color"] != "green" || len(cm.OwnerReferences) != 1 {
			return fmt.Errorf("configmap %+v", cm)
		}
		return nil
	})
	// Deleting what it owns requeues the owner, which makes it again.
	old, _ := cms.Get(ctx, "one-data", metav1.GetOptions{})
	if err := cms.Delete(ctx, "one-data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "owned object recreated", func() error {
		cm, err := cms.Get(ctx, "one-data", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.UID == old.UID {
			return fmt.Errorf("same object")
		}
		return nil
	})
	// A spec change is observed.
	got, _ := w.Get(ctx, "one", metav1.GetOptions{})
	got.Object["spec"].(map[string]any)["color"] = "blue"
	if _, err := w.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new generation observed", func() error {
		got, err := w.Get(ctx, "one", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if nested(got, "status", "observedGeneration") != int64(2) {
			return fmt.Errorf("status %v", got.Object["status"])
		}
		return nil
	})
	// Deleting the widget lets the garbage collector take its ConfigMap.
	if err := w.Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "owned configmap collected", func() error {
		if _, err := cms.Get(ctx, "one-data", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
}

// Upgrading and rolling back a controller plugin while widgets keep arriving loses no
// reconcile and duplicates none: every widget ends reconciled, each ConfigMap is
// created once, each widget's status is written once, and no two versions ever raced
// on one widget (which would show as conflicts).
func TestPluginUpgradeUnderLoad(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{kerneltest.WidgetKind(t)}})
	ctx := context.Background()
	v1 := upload(t, c, "counter", kerneltest.BuildPluginVersion(t, "testdata/plugins/counter", "1.0.0"))
	v2 := upload(t, c, "counter", kerneltest.BuildPluginVersion(t, "testdata/plugins/counter", "2.0.0"))
	plugins := c.Dynamic.Resource(pluginsGVR)
	plugin := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "weft.dev/v1alpha1", "kind": "Plugin",
		"metadata": map[string]any{"name": "counter"},
		"spec":     map[string]any{"module": v1, "grantRequested": true},
	}}
	if _, err := plugins.Create(ctx, plugin, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pluginStatus(t, c, "counter", phase("Running", ""))

	// About 4 s of arrivals: long enough for both swaps to land while they continue.
	const total, writers = 400, 4
	colors := []string{"red", "green", "blue"}
	w := c.Dynamic.Resource(widgets).Namespace("default")
	created := make(chan int, total)
	errs := make(chan error, writers)
	for g := range writers {
		go func() {
			for i := g; i < total; i += writers {
				if _, err := w.Create(ctx, widget(fmt.Sprintf("w%03d", i), map[string]any{"color": colors[i%3]}), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
				created <- i
				time.Sleep(40 * time.Millisecond)
			}
			errs <- nil
		}()
	}
	swap := func(module, version string) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"module":%q}}`, module)
		if _, err := plugins.Patch(ctx, "counter", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		pluginStatus(t, c, "counter", func(st map[string]any) error {
			if st["version"] != version || st["phase"] != "Running" {
				return fmt.Errorf("status %v", st)
			}
			return nil
		})
	}
	for n := 0; n < total; n++ {
		<-created
		switch n {
		case total / 4:
			swap(v2, "2.0.0")
		case total * 5 / 8:
			swap(v1, "1.0.0")
		}
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	by := map[string]int{}
	eventually(t, "every widget reconciled", func() error {
		list, err := w.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		clear(by)
		for _, item := range list.Items {
			if nested(&item, "status", "observedGeneration") != item.GetGeneration() {
				return fmt.Errorf("%s not reconciled: %v", item.GetName(), item.Object["status"])
			}
			by[fmt.Sprint(nested(&item, "status", "observedBy"))]++
		}
		cms, err := c.Client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if n := len(cms.Items); n != total {
			return fmt.Errorf("%d configmaps", n)
		}
		return nil
	})
	if by["1.0.0"] == 0 || by["2.0.0"] == 0 {
		t.Errorf("both versions should have reconciled under load: %v", by)
	}

	// The audit log holds every write the plugin made.
	records := auditRecords(t, c)
	creates, statusWrites := map[string]int{}, map[string]int{}
	for _, r := range records {
		switch {
		case r.Outcome == "error" && r.Code == http.StatusConflict:
			t.Errorf("conflicting write: %+v", r)
		case r.Outcome != "allowed":
		case r.Resource == "configmaps" && r.Verb == "create":
			creates[r.Name]++
		case r.Resource == "widgets" && r.Subresource == "status":
			statusWrites[r.Name]++
		}
	}
	for i := range total {
		name := fmt.Sprintf("w%03d", i)
		if creates[name+"-data"] != 1 || statusWrites[name] != 1 {
			t.Errorf("%s: configmap created %d times, status written %d times; want 1 and 1", name, creates[name+"-data"], statusWrites[name])
		}
	}
	t.Logf("reconciled by version: %v; %d audited writes", by, len(records))
}

func auditRecords(t *testing.T, c *kerneltest.Cluster) []pluginhost.AuditRecord {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.Dir, "audit", "plugins.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []pluginhost.AuditRecord
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r pluginhost.AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}
