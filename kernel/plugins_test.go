package kernel_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/plugins"
	"weft.dev/weft/sdk"
)

// A plugin's writes go through the API's write path as the plugin's own user, its
// ungranted reads are refused, and both are in the audit log with its digest.
func TestPluginCallsThroughTheKernel(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := context.Background()
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	audit, err := plugins.OpenAuditLog(auditPath, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	engine, err := pluginhost.NewEngine(pluginhost.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	wasm := kerneltest.BuildPlugin(t, "testdata/plugins/writer")
	// The operator grants configmaps and events, but not the secrets it asked for.
	p, err := engine.Load(ctx, wasm, pluginhost.Options{
		Kernel:  &plugins.Calls{Objects: c.Kernel.Objects()},
		Auditor: audit,
		Grants: []sdk.Permission{
			{Resource: "configmaps", Verbs: []string{"get", "create"}, Namespaces: []string{"default"}},
			{Resource: "events", Verbs: []string{"create"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx); _ = engine.Close(ctx) })
	call := func(name string) sdk.ReconcileResult {
		in := (&sdk.ReconcileRequest{Namespace: "default", Name: name}).MarshalWire()
		out, err := p.Call(ctx, "reconcile", in)
		if err != nil {
			t.Fatal(err)
		}
		var res sdk.ReconcileResult
		if err := res.UnmarshalWire(out); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := call("create"); res.Error != "" {
		t.Fatalf("create: %s", res.Error)
	}
	cm, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "made-by-plugin", metav1.GetOptions{})
	if err != nil || cm.Data["by"] != "writer" || cm.ManagedFields[0].Manager != "writer" {
		t.Fatalf("plugin's configmap: %v %+v", err, cm)
	}
	events, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=made-by-plugin"})
	if err != nil || len(events.Items) != 1 || events.Items[0].Source.Component != "plugin/writer" {
		t.Fatalf("plugin's event: %v %+v", err, events)
	}
	// Creating it again fails in the API's write path, not in the host.
	if res := call("create"); !strings.Contains(res.Error, `configmaps "made-by-plugin" already exists`) {
		t.Fatalf("second create: %q", res.Error)
	}
	if res := call("read-secret"); !strings.Contains(res.Error, `plugin "writer" may not get secrets in namespace default: not granted`) {
		t.Fatalf("ungranted read: %q", res.Error)
	}
	if st := p.Stats(); st.Denied != 1 {
		t.Fatalf("denied calls: %d", st.Denied)
	}
	raw, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r pluginhost.AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Plugin != "writer" || r.Digest != pluginhost.Digest(wasm) {
			t.Fatalf("audit record: %+v", r)
		}
		outcomes = append(outcomes, r.Outcome+" "+r.Verb+" "+r.Resource+" "+r.Name)
	}
	want := "allowed create configmaps made-by-plugin,allowed create configmaps made-by-plugin,error create configmaps made-by-plugin,denied get secrets db"
	if strings.Join(outcomes, ",") != want {
		t.Fatalf("audit log:\n got %s\nwant %s", strings.Join(outcomes, ","), want)
	}
}
