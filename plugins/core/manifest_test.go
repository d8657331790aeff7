package core_test

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"weft.dev/weft/kernel/plugins"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/plugins/core"
	"weft.dev/weft/sdk"
)

// The plugin's kinds become registry kinds, as the kernel turns them, with what the
// kernel relies on intact: the kernel itself names none of them except Namespace.
func TestKindsRegister(t *testing.T) {
	m, _ := core.Plugin()
	kinds, err := plugins.KindsOf(m)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New()
	if err := reg.Register(kinds...); err != nil {
		t.Fatal(err)
	}
	snap := reg.Snapshot()
	want := []string{"Namespace", "ConfigMap", "Secret", "Pod", "Service", "Endpoints", "Node", "ServiceAccount", "Lease", "EndpointSlice", "Event"}
	for _, k := range want {
		found := false
		for _, e := range snap.Entries() {
			found = found || e.Kind.Kind == k
		}
		if !found {
			t.Errorf("kind %s missing", k)
		}
	}
	for _, e := range snap.Entries() {
		if e.Owner != "core" || e.Schema == nil {
			t.Errorf("%s: owner %q, schema %v", e.Kind.Kind, e.Owner, e.Schema != nil)
		}
		switch e.Kind.Kind {
		case "Pod":
			if e.Graceful == nil || e.Graceful.BoundPath != ".spec.nodeName" || len(e.Columns()) != 6 {
				t.Errorf("pods: graceful %+v, %d columns", e.Graceful, len(e.Columns()))
			}
		case "Secret":
			if !e.EncryptAtRest {
				t.Error("secrets are not encrypted at rest")
			}
		case "Namespace", "Service":
			if e.NameFormat != registry.NameDNSLabel {
				t.Errorf("%s names are not DNS labels", e.Kind.Kind)
			}
		}
	}
}

func TestManifest(t *testing.T) {
	m, h := core.Plugin()
	if m.Name != "core" || m.Version != "1.1.0" || h.Admitter == nil || h.Reconciler != nil || len(m.Permissions) != 0 {
		t.Fatalf("manifest %s %s, handlers %+v, permissions %v", m.Name, m.Version, h, m.Permissions)
	}
	want := map[string]struct {
		mutating  bool
		resources string
	}{
		core.HookSecretDefaults: {true, "secrets"},
		core.HookPodDefaults:    {true, "pods"},
		core.HookDataValidation: {false, "configmaps,secrets"},
		core.HookPodValidation:  {false, "pods"},
	}
	if len(m.Admission) != len(want) {
		t.Fatalf("hooks: %+v", m.Admission)
	}
	for _, hk := range m.Admission {
		w, ok := want[hk.Name]
		if !ok || hk.Mutating != w.mutating || hk.FailurePolicy != "Fail" || len(hk.Rules) != 1 {
			t.Errorf("hook %+v", hk)
			continue
		}
		r := hk.Rules[0]
		if strings.Join(r.Resources, ",") != w.resources || !reflect.DeepEqual(r.Groups, []string{""}) ||
			!reflect.DeepEqual(r.Operations, []string{"CREATE", "UPDATE"}) || r.Subresource != "" {
			t.Errorf("hook %s rule %+v", hk.Name, r)
		}
	}
	// The manifest crosses the ABI as JSON.
	if err := sdk.Register(m, h); err != nil && err != sdk.ErrRegistered {
		t.Fatal(err)
	}
	out, err := sdk.Call(nil, "manifest", nil)
	if err != nil {
		t.Fatal(err)
	}
	var back sdk.Manifest
	if err := json.Unmarshal(out, &back); err != nil || len(back.Kinds) != len(m.Kinds) || back.ABI != sdk.ABIVersion {
		t.Fatalf("manifest round trip: %v", err)
	}
	// And an admission request through the wire encoding.
	req := sdk.AdmissionRequest{Hook: core.HookPodDefaults, Operation: "CREATE", Kind: sdk.GVK{Version: "v1", Kind: "Pod"},
		Object: json.RawMessage(`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`)}
	out, err = sdk.Call(nil, "admit", req.MarshalWire())
	if err != nil {
		t.Fatal(err)
	}
	var resp sdk.AdmissionResponse
	if err := resp.UnmarshalWire(out); err != nil || !resp.Allowed || len(resp.Patch) == 0 {
		t.Fatalf("admit over the wire: %v %+v", err, resp)
	}
}

// Package core imports nothing but the standard library and the SDK, for the native
// and the wasm build alike.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool := runtime.GOROOT() + "/bin/go"
	for _, env := range [][]string{nil, {"GOOS=wasip1", "GOARCH=wasm"}} {
		cmd := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "weft.dev/weft/plugins/core")
		cmd.Env = append(cmd.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list %v: %v\n%s", env, err, out)
		}
		for _, p := range strings.Fields(string(out)) {
			if p != "weft.dev/weft/sdk" && p != "weft.dev/weft/plugins/core" {
				t.Errorf("%v: package core depends on %s", env, p)
			}
		}
	}
}
