// Package kerneltest starts real kernels for tests: a real store in a temporary
// directory, real TLS with the generated CA, and clients built from the kubeconfig
// the kernel writes, exactly as kubectl would use it.
package kerneltest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/registry"
)

// Cluster is a running kernel and clients for it.
type Cluster struct {
	Kernel     *kernel.Kernel
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface

	cancel context.CancelFunc
	done   chan error
}

// Options adjust a test kernel.
type Options struct {
	// Dir reuses a data dir (to test restarts); empty means a new temporary one.
	Dir string
	// Kinds are registered on start; the core plugin's kinds come with it.
	Kinds []registry.Kind
	// Builtins are first-party plugins (plugins/<name>/wasm) to build and install, as
	// the weft binary installs its embedded ones, besides core, which is always there.
	Builtins []string
	// Tune edits the kernel's configuration before it starts.
	Tune func(*kernel.Config)
}

// compileCache is shared by the test kernels of one machine: wazero keys it by module
// digest and its own version, so sharing is safe, and it spares every test the
// second-long compile of each plugin.
var compileCache = filepath.Join(os.TempDir(), "weft-test-plugin-cache")

// Start runs a kernel until the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := kernel.Config{
		DataDir: dir,
		APIAddr: "127.0.0.1:0",
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Kinds:   opts.Kinds,
		Version: version.Info{Major: "1", Minor: "32", GitVersion: "v1.32.0-weft.test"},
		// HTTP/2's graceful close waits a second for clients to hang up; tests need
		// not, since they stop their clients with the kernel.
		ShutdownTimeout:    200 * time.Millisecond,
		PluginCompileCache: compileCache,
	}
	cfg.Builtins = map[string][]byte{}
	for _, name := range append([]string{"core"}, opts.Builtins...) {
		cfg.Builtins[name] = BuildPlugin(t, "plugins/"+name+"/wasm")
	}
	if opts.Tune != nil {
		opts.Tune(&cfg)
	}
	k, err := kernel.New(cfg)
	if err != nil {
		t.Fatalf("start kernel: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{Kernel: k, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- k.Run(ctx) }()
	t.Cleanup(c.Stop)

	c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c.Config.QPS, c.Config.Burst = -1, 0 // no client-side throttling in tests
	c.Client = kubernetes.NewForConfigOrDie(c.Config)
	c.Dynamic = dynamic.NewForConfigOrDie(c.Config)
	c.WaitReady(t)
	return c
}

// WaitReady waits until /readyz answers ok.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
		if err == nil && string(body) == "ok" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernel not ready: %v %s", err, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the kernel gracefully and waits for it.
func (c *Cluster) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s", p)
	return len(p), nil
}

// RequireE2E reports whether end-to-end prerequisites must be present: `make test`
// sets WEFT_E2E=require so that a missing kubectl fails CI instead of skipping.
func RequireE2E() bool { return os.Getenv("WEFT_E2E") == "require" }

// Kubectl returns the path of kubectl. Without it the test is skipped when run by
// hand and fails under `make test`.
func Kubectl(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err == nil {
		return p
	}
	if RequireE2E() {
		t.Fatalf("kubectl is not on PATH; the end-to-end tests drive the API with the real kubectl (v1.32)")
	}
	t.Skip("kubectl is not on PATH; install kubectl v1.32 to run this end-to-end test")
	return ""
}

// WidgetKind is the test kind widgets.example.com/v1, defined by
// testdata/kinds/widget.json: status and scale subresources, defaults, enums, a list
// merged by key, a printer column and a selectable field.
func WidgetKind(t testing.TB) registry.Kind {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "kinds", "widget.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := &spec.Schema{}
	if err := json.Unmarshal(raw, s); err != nil {
		t.Fatal(err)
	}
	return registry.Kind{
		Group: "example.com", Version: "v1", Kind: "Widget", Resource: "widgets",
		ShortNames: []string{"wd"}, Categories: []string{"all"}, Namespaced: true,
		Schema: s, Status: true,
		Scale: &registry.Scale{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas", LabelSelectorPath: ".status.selector"},
		Columns: []registry.Column{
			{Name: "Color", Type: "string", JSONPath: ".spec.color"},
			{Name: "Replicas", Type: "integer", JSONPath: ".spec.replicas"},
			{Name: "Ports", Type: "integer", CountPaths: []string{".spec.ports"}, Priority: 1},
		},
		SelectableFields: []string{".spec.color"},
		Owner:            "test",
	}
}

var plugins sync.Map // path -> *builtPlugin

type builtPlugin struct {
	once sync.Once
	wasm []byte
	err  error
}

// BuildPlugin compiles the Go plugin at a path relative to the repository root (for
// example "testdata/plugins/policy") for GOOS=wasip1, once per test binary. A path
// with its own go.mod is built as its own module.
func BuildPlugin(t testing.TB, path string) []byte {
	t.Helper()
	return BuildPluginVersion(t, path, "")
}

// BuildPluginVersion builds a plugin with its main.version set, to make distinct
// versions of one plugin; "" keeps the version in the source.
func BuildPluginVersion(t testing.TB, path, version string) []byte {
	t.Helper()
	v, _ := plugins.LoadOrStore(path+"@"+version, &builtPlugin{})
	b := v.(*builtPlugin)
	b.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		out := filepath.Join(os.TempDir(), fmt.Sprintf("weft-plugin-%d-%s-%s.wasm", os.Getpid(), strings.ReplaceAll(path, "/", "_"), version))
		args := []string{"build", "-buildmode=c-shared", "-o", out}
		if version != "" {
			args = append(args, "-ldflags", "-X main.version="+version)
		}
		cmd := exec.Command("go", append(args, "./"+path)...)
		cmd.Dir = root
		if _, err := os.Stat(filepath.Join(root, path, "go.mod")); err == nil {
			// A plugin that is its own module, as an out-of-tree one is.
			cmd = exec.Command("go", append(args, ".")...)
			cmd.Dir = filepath.Join(root, path)
		}
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", path, err, msg)
			return
		}
		b.wasm, b.err = os.ReadFile(out)
		os.Remove(out)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.wasm
}

// InstallPlugin is the integration-test harness for plugins: it uploads a built
// module into the running kernel's real host, installs it as a Plugin granted what
// its manifest asks for (trusted if asked), and waits until it runs.
func (c *Cluster) InstallPlugin(t testing.TB, name string, wasm []byte, trusted bool) {
	t.Helper()
	ctx := context.Background()
	raw, err := c.Client.Discovery().RESTClient().Put().AbsPath("/apis/weft.dev/v1alpha1/plugins/"+name+"/module").
		SetHeader("Content-Type", "application/wasm").Body(wasm).DoRaw(ctx)
	var up struct{ Digest string }
	if err != nil || json.Unmarshal(raw, &up) != nil || up.Digest == "" {
		t.Fatalf("upload plugin %s: %v %s", name, err, raw)
	}
	gvr := schema.GroupVersionResource{Group: "weft.dev", Version: "v1alpha1", Resource: "plugins"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "weft.dev/v1alpha1", "kind": "Plugin",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"module": up.Digest, "grantRequested": true, "trusted": trusted},
	}}
	if _, err := c.Dynamic.Resource(gvr).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("install plugin %s: %v", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.Dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			phase, _, _ := unstructured.NestedString(got.Object, "status", "phase")
			digest, _, _ := unstructured.NestedString(got.Object, "status", "digest")
			if phase == "Running" && digest == up.Digest {
				return
			}
			if phase == "Failed" {
				msg, _, _ := unstructured.NestedString(got.Object, "status", "message")
				t.Fatalf("plugin %s failed: %s", name, msg)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin %s did not start: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
