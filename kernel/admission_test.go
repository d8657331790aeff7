package kernel_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"weft.dev/weft/kernel/admission"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/registry"
)

// warnings collects Warning headers client-go receives.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	w.list = append(w.list, msg)
	w.mu.Unlock()
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// A plugin's admission hooks, compiled to wasm and run in the kernel, mutate, deny and
// warn about writes as webhooks would, and a crashing hook fails closed.
func TestPluginAdmission(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{kerneltest.WidgetKind(t)}})
	ctx := context.Background()
	engine, err := pluginhost.NewEngine(pluginhost.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Load(ctx, kerneltest.BuildPlugin(t, "testdata/plugins/policy"), pluginhost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx); _ = engine.Close(ctx) })
	if err := c.Kernel.Admission().Set(p.Manifest.Name, admission.HooksOf(p.Manifest, p.Admit)); err != nil {
		t.Fatal(err)
	}

	w := &warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = w
	client := dynamic.NewForConfigOrDie(cfg).Resource(widgets).Namespace("default")

	got, err := client.Create(ctx, widget("blue", map[string]any{"color": "blue"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetLabels()["policy"] != "checked" {
		t.Fatalf("mutating hook did not label the widget: %v", got.GetLabels())
	}
	_, err = client.Create(ctx, widget("red", map[string]any{"color": "red"}), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `admission hook "no-red" denied the request: red widgets are not allowed`) {
		t.Fatalf("validating hook: want Forbidden, got %v", err)
	}
	if _, err := client.Get(ctx, "red", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("denied widget was stored: %v", err)
	}
	w.take()
	if _, err := client.Create(ctx, widget("green", map[string]any{"color": "green"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ws := w.take(); len(ws) != 1 || ws[0] != "green widgets are deprecated" {
		t.Fatalf("warnings: %q", ws)
	}
	// The object selector exempts labelled widgets.
	exempt := widget("red-exempt", map[string]any{"color": "red"})
	exempt.SetLabels(map[string]string{"exempt": "true"})
	if _, err := client.Create(ctx, exempt, metav1.CreateOptions{}); err != nil {
		t.Fatalf("exempt widget: %v", err)
	}
	// Updates go through the hooks too.
	got.Object["spec"].(map[string]any)["color"] = "red"
	if _, err := client.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("update to red: want Forbidden, got %v", err)
	}
	// A hook that crashes fails closed (failurePolicy Fail) with a clear error, its
	// instance is replaced, and the kernel keeps serving.
	_, err = client.Create(ctx, widget("crash", map[string]any{"size": "999m"}), metav1.CreateOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `failed calling admission hook "no-red" of plugin "policy"`) {
		t.Fatalf("crashing hook: want InternalError, got %v", err)
	}
	if _, err := client.Create(ctx, widget("after", map[string]any{"color": "blue"}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("after a crash: %v", err)
	}
	if r := do(t, c, http.MethodGet, "/readyz", "", nil); r.code != 200 {
		t.Fatalf("readyz after plugin failures: %d", r.code)
	}
	if st := p.Stats(); st.Errors != 1 {
		t.Fatalf("plugin stats: %+v", st)
	}
}
