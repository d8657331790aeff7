package core_test

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"weft.dev/weft/plugins/core"
	"weft.dev/weft/sdk"
)

var client = sdk.NewClient(nil, nil)

// admit runs one hook of the plugin's Admitter, as the host calls it.
func admit(t testing.TB, hook, op, kind string, obj, old string) sdk.AdmissionResponse {
	t.Helper()
	_, h := core.Plugin()
	req := sdk.AdmissionRequest{Hook: hook, Operation: op, Kind: sdk.GVK{Version: "v1", Kind: kind}, Namespace: "default"}
	if obj != "" {
		req.Object = json.RawMessage(obj)
	}
	if old != "" {
		req.OldObject = json.RawMessage(old)
	}
	return h.Admitter.Admit(client, req)
}

// applyPatch applies a response's patch to obj.
func applyPatch(t testing.TB, obj string, resp sdk.AdmissionResponse) map[string]any {
	t.Helper()
	if !resp.Allowed {
		t.Fatalf("denied: %+v", resp.Status)
	}
	if len(resp.Object) > 0 {
		t.Fatalf("hook returned a whole object; want a patch")
	}
	out := []byte(obj)
	if len(resp.Patch) > 0 {
		p, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("patch %s: %v", resp.Patch, err)
		}
		if out, err = p.Apply(out); err != nil {
			t.Fatalf("apply %s: %v", resp.Patch, err)
		}
	}
	return decode(t, string(out))
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return m
}

func sameJSON(t testing.TB, got map[string]any, want string) {
	t.Helper()
	if w := decode(t, want); !reflect.DeepEqual(got, w) {
		g, _ := json.MarshalIndent(got, "", "  ")
		wb, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("got\n%s\nwant\n%s", g, wb)
	}
}

// denied checks a denial's code, reason and message.
func denied(t testing.TB, resp sdk.AdmissionResponse, code int32, reason, message string) {
	t.Helper()
	if resp.Allowed || resp.Status == nil {
		t.Fatalf("allowed; want %d %s: %s", code, reason, message)
	}
	if resp.Status.Code != code || resp.Status.Reason != reason || resp.Status.Message != message {
		t.Errorf("got %d %s:\n  %s\nwant %d %s:\n  %s", resp.Status.Code, resp.Status.Reason, resp.Status.Message, code, reason, message)
	}
}
