package core_test

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"

	"weft.dev/weft/kernel/corekinds"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/plugins/core"
	"weft.dev/weft/sdk"
)

// The plugin's kinds are the native core kinds, attribute by attribute: nothing was
// lost in the move.
func TestKindsMatchCorekinds(t *testing.T) {
	native, err := corekinds.Kinds()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := core.Plugin()
	if len(m.Kinds) != len(native) {
		t.Fatalf("%d kinds, native %d", len(m.Kinds), len(native))
	}
	nameFormats := map[registry.NameFormat]string{registry.NameDNSSubdomain: "DNSSubdomain", registry.NameDNSLabel: "DNSLabel", registry.NamePathSegment: "PathSegment"}
	for i, n := range native {
		k := m.Kinds[i]
		t.Run(n.Kind, func(t *testing.T) {
			eq := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got %#v, native %#v", what, got, want)
				}
			}
			eq("group", k.Group, n.Group)
			eq("version", k.Version, n.Version)
			eq("kind", k.Kind, n.Kind)
			eq("resource", k.Resource, n.Resource)
			eq("singular", k.Singular, n.Singular)
			if n.ListKind != "" && n.ListKind != n.Kind+"List" {
				t.Errorf("list kind %s is not the default, and KindSpec cannot say so", n.ListKind)
			}
			eq("shortNames", k.ShortNames, n.ShortNames)
			eq("categories", k.Categories, n.Categories)
			eq("namespaced", k.Namespaced, n.Namespaced)
			eq("status", k.Status, n.Status)
			eq("encryptAtRest", k.EncryptAtRest, n.EncryptAtRest)
			eq("nameFormat", k.NameFormat, nameFormats[n.NameFormat])
			eq("selectableFields", k.SelectableFields, n.SelectableFields)
			var scale *registry.Scale
			if k.Scale != nil {
				scale = &registry.Scale{SpecReplicasPath: k.Scale.SpecReplicasPath, StatusReplicasPath: k.Scale.StatusReplicasPath, LabelSelectorPath: k.Scale.LabelSelectorPath}
			}
			eq("scale", scale, n.Scale)
			var graceful *registry.Graceful
			if g := k.Graceful; g != nil {
				graceful = &registry.Graceful{DefaultPath: g.DefaultPath, BoundPath: g.BoundPath, TerminalPath: g.TerminalPath, TerminalValues: g.TerminalValues}
			}
			eq("graceful", graceful, n.Graceful)
			var cols []registry.Column
			for _, c := range k.Columns {
				cols = append(cols, registry.Column{Name: c.Name, Type: c.Type, Format: c.Format, JSONPath: c.JSONPath, CountPaths: c.CountPaths, Description: c.Description, Priority: c.Priority, Values: c.Values})
			}
			eq("columns", cols, n.Columns)
			s := &spec.Schema{}
			if err := json.Unmarshal(k.Schema, s); err != nil {
				t.Fatal(err)
			}
			eq("schema", s, n.Schema)
		})
	}
}

func TestManifest(t *testing.T) {
	m, h := core.Plugin()
	if m.Name != "core" || m.Version != "1.0.0" || h.Admitter == nil || h.Reconciler != nil || len(m.Permissions) != 0 {
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
