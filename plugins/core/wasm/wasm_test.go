package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/plugins/core"
	"weft.dev/weft/sdk"
)

var (
	buildOnce sync.Once
	wasmBytes []byte
	buildErr  error
)

// build compiles this command to WebAssembly, as the release does.
func build(tb testing.TB) []byte {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds the wasm module")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "core-wasm")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "core.wasm")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-o", out, ".")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err, string(b)}
			return
		}
		wasmBytes, buildErr = os.ReadFile(out)
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return wasmBytes
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func load(tb testing.TB) *pluginhost.Plugin {
	tb.Helper()
	wasm := build(tb)
	ctx := context.Background()
	e, err := pluginhost.NewEngine(pluginhost.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close(ctx) })
	// Trusted, as the kernel installs the built-in plugins.
	p, err := e.Load(ctx, wasm, pluginhost.Options{Limits: pluginhost.Limits{Instances: 1}, Trusted: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(ctx) })
	return p
}

const pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},
"spec":{"containers":[{"name":"web","image":"registry.example.com/team/web:v1.24.3","ports":[{"name":"http","containerPort":8080}],
"env":[{"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"MODE","value":"production"}],
"resources":{"requests":{"cpu":"250m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}},
"livenessProbe":{"httpGet":{"path":"/healthz","port":"http"}},"volumeMounts":[{"name":"config","mountPath":"/etc/web"}]}],
"volumes":[{"name":"config","configMap":{"name":"web-config"}}]}}`

// The module loads, declares what the package declares, and admits as it does natively.
func TestModule(t *testing.T) {
	p := load(t)
	m, _ := core.Plugin()
	got := p.Manifest
	if got.Name != m.Name || got.Version != m.Version || len(got.Kinds) != len(m.Kinds) || !reflect.DeepEqual(got.Admission, m.Admission) {
		t.Fatalf("manifest: %s %s, %d kinds, hooks %+v", got.Name, got.Version, len(got.Kinds), got.Admission)
	}
	ctx := context.Background()
	kind := sdk.GVK{Version: "v1", Kind: "Pod"}
	reqs := []sdk.AdmissionRequest{
		{Hook: core.HookPodDefaults, Operation: "CREATE", Kind: kind, Object: json.RawMessage(pod)},
		{Hook: core.HookPodValidation, Operation: "CREATE", Kind: kind, Object: json.RawMessage(`{"metadata":{"name":"bad"},"spec":{"containers":[{}]}}`)},
		{Hook: core.HookSecretDefaults, Operation: "CREATE", Kind: sdk.GVK{Version: "v1", Kind: "Secret"}, Object: json.RawMessage(`{"metadata":{"name":"s"},"stringData":{"a":"b"}}`)},
		{Hook: core.HookDataValidation, Operation: "CREATE", Kind: sdk.GVK{Version: "v1", Kind: "ConfigMap"}, Object: json.RawMessage(`{"metadata":{"name":"c"},"data":{"bad key":"1"}}`)},
	}
	for _, req := range reqs {
		resp, err := p.Admit(ctx, &req)
		if err != nil {
			t.Fatal(err)
		}
		want := core.Admit(nil, req)
		if !reflect.DeepEqual(resp.Status, want.Status) || resp.Allowed != want.Allowed || string(resp.Patch) != string(want.Patch) {
			t.Errorf("%s: wasm %+v %s, native %+v %s", req.Hook, resp.Status, resp.Patch, want.Status, want.Patch)
		}
	}
}

// BenchmarkAdmitPodWasm is BenchmarkAdmitPod of package core, through the module:
// "distinct" gives every iteration a spec of its own (an image tag), so the plugin
// decodes each pod as BenchmarkAdmitPodNative does; "template" sends one pod again
// and again, as a Deployment's replicas come, and the plugin's memo answers.
func BenchmarkAdmitPodWasm(b *testing.B) {
	p := load(b)
	ctx := context.Background()
	kind := sdk.GVK{Version: "v1", Kind: "Pod"}
	requests := func(obj string) (mut, val sdk.AdmissionRequest) {
		mut = sdk.AdmissionRequest{Hook: core.HookPodDefaults, Operation: "CREATE", Kind: kind, Object: json.RawMessage(obj)}
		patch, err := jsonpatch.DecodePatch(core.Admit(nil, mut).Patch)
		if err != nil {
			b.Fatal(err)
		}
		defaulted, err := patch.Apply([]byte(obj))
		if err != nil {
			b.Fatal(err)
		}
		return mut, sdk.AdmissionRequest{Hook: core.HookPodValidation, Operation: "CREATE", Kind: kind, Object: defaulted}
	}
	admit := func(reqs ...sdk.AdmissionRequest) {
		for _, req := range reqs {
			if r, err := p.Admit(ctx, &req); err != nil || !r.Allowed {
				b.Fatal(err)
			}
		}
	}
	b.Run("distinct", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			mut, val := requests(strings.Replace(pod, "web:v1.24.3", fmt.Sprintf("web:v1.%d", i), 1))
			b.StartTimer()
			admit(mut, val)
		}
	})
	b.Run("template", func(b *testing.B) {
		mut, val := requests(pod)
		for b.Loop() {
			admit(mut, val)
		}
	})
}

// BenchmarkAdmitPodNative is the same pod natively, for the ratio.
func BenchmarkAdmitPodNative(b *testing.B) {
	kind := sdk.GVK{Version: "v1", Kind: "Pod"}
	mut := sdk.AdmissionRequest{Hook: core.HookPodDefaults, Operation: "CREATE", Kind: kind, Object: json.RawMessage(pod)}
	resp := core.Admit(nil, mut)
	patch, _ := jsonpatch.DecodePatch(resp.Patch)
	defaulted, _ := patch.Apply([]byte(pod))
	val := sdk.AdmissionRequest{Hook: core.HookPodValidation, Operation: "CREATE", Kind: kind, Object: defaulted}
	for b.Loop() {
		core.Admit(nil, mut)
		core.Admit(nil, val)
	}
}

// BenchmarkAdmitNoopWasm is the fixed cost of an admission call the plugin answers
// without decoding anything (a subresource), with the pod as payload.
func BenchmarkAdmitNoopWasm(b *testing.B) {
	p := load(b)
	ctx := context.Background()
	req := sdk.AdmissionRequest{Hook: core.HookPodValidation, Operation: "UPDATE", Subresource: "status", Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Object: json.RawMessage(pod)}
	for b.Loop() {
		if r, err := p.Admit(ctx, &req); err != nil || !r.Allowed {
			b.Fatal(err)
		}
	}
}
