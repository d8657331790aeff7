package main

import (
	"encoding/json"
	"strings"
	"testing"

	"weft.dev/weft/sdk"
	"weft.dev/weft/sdk/sdktest"
)

// The controller, natively, against the SDK's fake kernel.
func TestReconcile(t *testing.T) {
	m, h := Plugin()
	k := sdktest.New(m, h)
	k.Create(t, map[string]any{
		"apiVersion": "example.dev/v1", "kind": "Website",
		"metadata": map[string]any{"name": "hello", "namespace": "default"},
		"spec":     map[string]any{"title": "Hi <there>", "pages": map[string]any{"about.html": "<p>a</p>"}},
	})
	k.Run(t)
	var cm struct {
		Metadata sdk.ObjectMeta    `json:"metadata"`
		Data     map[string]string `json:"data"`
	}
	if !k.GetInto(t, "", "configmaps", "default", "hello-site", &cm) {
		t.Fatal("no configmap")
	}
	if !strings.Contains(cm.Data["index.html"], "<h1>Hi &lt;there&gt;</h1>") || cm.Data["about.html"] != "<p>a</p>" {
		t.Fatalf("rendered: %v", cm.Data)
	}
	if ref := cm.Metadata.ControllerOf(); ref == nil || ref.Kind != "Website" {
		t.Fatalf("owner: %+v", cm.Metadata.OwnerReferences)
	}
	var w Website
	k.GetInto(t, "example.dev", "websites", "default", "hello", &w)
	if w.Status.Pages != 2 || w.Status.ConfigMap != "hello-site" || w.Status.ObservedGeneration != 1 {
		t.Fatalf("status: %+v", w.Status)
	}
	// A change re-renders; a second run changes nothing.
	k.Patch(t, "example.dev", "websites", "default", "hello", sdk.MergePatch, `{"spec":{"pages":{"news.html":"n"}}}`)
	k.Run(t)
	k.GetInto(t, "", "configmaps", "default", "hello-site", &cm)
	if cm.Data["news.html"] != "n" {
		t.Fatalf("not re-rendered: %v", cm.Data)
	}
	writes := k.Calls[sdk.OpUpdate] + k.Calls[sdk.OpCreate] + k.Calls[sdk.OpUpdateStatus]
	k.Run(t)
	if again := k.Calls[sdk.OpUpdate] + k.Calls[sdk.OpCreate] + k.Calls[sdk.OpUpdateStatus]; again != writes {
		t.Fatalf("a converged website was written again: %d writes, then %d", writes, again)
	}
}

// The admission hook, natively.
func TestAdmit(t *testing.T) {
	cases := []struct {
		name, pages, title string
		allowed            bool
		msg, warning       string
	}{
		{"ok", `{"a.html":"<p>x</p>"}`, "t", true, "", ""},
		{"script", `{"a.html":"<SCRIPT>x</script>"}`, "t", false, "spec.pages[a.html]: Forbidden: scripts are not allowed", ""},
		{"bad name", `{"A B":"x"}`, "t", false, `spec.pages[A B]: Invalid value: "A B"`, ""},
		{"index", `{"index.html":"x"}`, "t", false, "index.html is generated", ""},
		{"long title", `{}`, strings.Repeat("x", 61), true, "", "spec.title is 61 characters"},
	}
	_, h := Plugin()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj, _ := json.Marshal(map[string]any{"metadata": map[string]any{"name": "w"}, "spec": map[string]any{"title": tc.title, "pages": json.RawMessage(tc.pages)}})
			resp := h.Admitter.Admit(nil, sdk.AdmissionRequest{Hook: "pages", Operation: "CREATE", Object: obj})
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v: %+v", resp.Allowed, resp.Status)
			}
			if !tc.allowed && (resp.Status.Code != 422 || !strings.Contains(resp.Status.Message, tc.msg)) {
				t.Fatalf("status %+v", resp.Status)
			}
			if tc.warning != "" && (len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], tc.warning)) {
				t.Fatalf("warnings %v", resp.Warnings)
			}
		})
	}
}
