package apps

import (
	"encoding/json"
	"testing"

	"weft.dev/weft/sdk"
)

func TestDefaults(t *testing.T) {
	_, h, _ := newPlugin(nil)
	tests := []struct {
		kind, spec, want string
	}{
		{"Deployment", `{}`, `{"progressDeadlineSeconds":600,"replicas":1,"revisionHistoryLimit":10,"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"}}`},
		{"Deployment", `{"replicas":0,"strategy":{"type":"Recreate"},"revisionHistoryLimit":0,"progressDeadlineSeconds":30}`, `{"progressDeadlineSeconds":30,"replicas":0,"revisionHistoryLimit":0,"strategy":{"type":"Recreate"}}`},
		{"Deployment", `{"strategy":{"rollingUpdate":{"maxSurge":1}}}`, `{"progressDeadlineSeconds":600,"replicas":1,"revisionHistoryLimit":10,"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":"25%"},"type":"RollingUpdate"}}`},
		{"ReplicaSet", `{}`, `{"replicas":1}`},
		{"ReplicaSet", `{"replicas":3}`, `{"replicas":3}`},
	}
	for _, tc := range tests {
		obj := `{"apiVersion":"apps/v1","kind":"` + tc.kind + `","metadata":{"name":"x"},"spec":` + tc.spec + `}`
		resp := h.Admitter.Admit(nil, sdk.AdmissionRequest{Hook: defaultsHook, Operation: "CREATE", Kind: sdk.GVK{Group: "apps", Version: "v1", Kind: tc.kind}, Object: json.RawMessage(obj)})
		if !resp.Allowed {
			t.Fatalf("%s: denied", tc.spec)
		}
		var doc any
		_ = json.Unmarshal([]byte(obj), &doc)
		if len(resp.Patch) > 0 {
			var ops []struct {
				Path  string
				Value any
			}
			_ = json.Unmarshal(resp.Patch, &ops)
			for _, op := range ops {
				cur := doc
				segs := splitPath(op.Path)
				for _, s := range segs[:len(segs)-1] {
					cur = cur.(map[string]any)[s]
				}
				cur.(map[string]any)[segs[len(segs)-1]] = op.Value
			}
		}
		got, _ := json.Marshal(doc.(map[string]any)["spec"])
		if string(got) != tc.want {
			t.Errorf("%s %s: defaulted to %s, want %s", tc.kind, tc.spec, got, tc.want)
		}
	}
}

func splitPath(p string) []string {
	var out []string
	cur := ""
	for _, c := range p[1:] {
		if c == '/' {
			out = append(out, cur)
			cur = ""
			continue
		}
		cur += string(c)
	}
	return append(out, cur)
}
