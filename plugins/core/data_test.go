package core_test

import (
	"encoding/json"
	"strings"
	"testing"

	"weft.dev/weft/plugins/core"
	"weft.dev/weft/sdk"
)

func TestSecretDefaults(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"stringData into no data",
			`{"metadata":{"name":"x"},"stringData":{"password":"correct-horse","a/b":"~"}}`,
			`{"metadata":{"name":"x"},"data":{"password":"Y29ycmVjdC1ob3JzZQ==","a/b":"fg=="},"type":"Opaque"}`},
		{"stringData wins over data",
			`{"metadata":{"name":"x"},"data":{"password":"b2xk","keep":"aw=="},"stringData":{"password":"new","x~y/z":""},"type":"kubernetes.io/basic-auth"}`,
			`{"metadata":{"name":"x"},"data":{"password":"bmV3","keep":"aw==","x~y/z":""},"type":"kubernetes.io/basic-auth"}`},
		{"empty stringData dropped",
			`{"metadata":{"name":"x"},"stringData":{},"type":"Opaque"}`,
			`{"metadata":{"name":"x"},"data":{},"type":"Opaque"}`},
		{"type defaulted only",
			`{"metadata":{"name":"x"},"data":{"k":"dg=="},"type":""}`,
			`{"metadata":{"name":"x"},"data":{"k":"dg=="},"type":"Opaque"}`},
		{"nothing to do",
			`{"metadata":{"name":"x"},"type":"Opaque"}`,
			`{"metadata":{"name":"x"},"type":"Opaque"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := admit(t, core.HookSecretDefaults, "CREATE", "Secret", tc.in, "")
			got := applyPatch(t, tc.in, resp)
			sameJSON(t, got, tc.want)
			if strings.Contains(tc.name, "nothing") && len(resp.Patch) != 0 {
				t.Errorf("empty patch expected, got %s", resp.Patch)
			}
		})
	}
}

func TestDataValidation(t *testing.T) {
	const keyMsg = `a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`
	cases := []struct {
		name, kind, op, obj, old string
		want                     string // "" when allowed
	}{
		{name: "good configmap", kind: "ConfigMap", op: "CREATE", obj: `{"metadata":{"name":"x"},"data":{"a.b":"1","A_B-c":"2"},"binaryData":{"bin":"AA=="}}`},
		{name: "bad configmap key", kind: "ConfigMap", op: "CREATE", obj: `{"metadata":{"name":"x"},"data":{"bad key":"1"}}`,
			want: `ConfigMap "x" is invalid: data[bad key]: Invalid value: "bad key": ` + keyMsg},
		{name: "bad secret key", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"data":{"bad key":"MQ=="},"type":"Opaque"}`,
			want: `Secret "x" is invalid: data[bad key]: Invalid value: "bad key": ` + keyMsg},
		{name: "dot-dot key", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"data":{"..a":"MQ=="},"type":"Opaque"}`,
			want: `Secret "x" is invalid: data[..a]: Invalid value: "..a": must not start with '..'`},
		{name: "key in data and binaryData", kind: "ConfigMap", op: "CREATE", obj: `{"metadata":{"name":"x"},"data":{"k":"1"},"binaryData":{"k":"AA=="}}`,
			want: `ConfigMap "x" is invalid: binaryData[k]: Invalid value: "k": duplicate of key present in data`},
		{name: "several errors", kind: "ConfigMap", op: "CREATE", obj: `{"metadata":{"name":"x"},"data":{"a b":"1","c/d":"2"}}`,
			want: `ConfigMap "x" is invalid: [data[a b]: Invalid value: "a b": ` + keyMsg + `, data[c/d]: Invalid value: "c/d": ` + keyMsg + `]`},
		{name: "immutable configmap data", kind: "ConfigMap", op: "UPDATE",
			obj: `{"metadata":{"name":"x"},"immutable":true,"data":{"k":"changed"}}`, old: `{"metadata":{"name":"x"},"immutable":true,"data":{"k":"v"}}`,
			want: "ConfigMap \"x\" is invalid: data: Forbidden: field is immutable when `immutable` is set"},
		{name: "immutable configmap metadata", kind: "ConfigMap", op: "UPDATE",
			obj: `{"metadata":{"name":"x","labels":{"a":"b"}},"immutable":true,"data":{"k":"v"}}`, old: `{"metadata":{"name":"x"},"immutable":true,"data":{"k":"v"}}`},
		{name: "immutable unset", kind: "ConfigMap", op: "UPDATE",
			obj: `{"metadata":{"name":"x"},"data":{"k":"v"},"binaryData":{"b":"AA=="}}`, old: `{"metadata":{"name":"x"},"immutable":true,"data":{"k":"v"}}`,
			want: "ConfigMap \"x\" is invalid: [immutable: Forbidden: field is immutable when `immutable` is set, binaryData: Forbidden: field is immutable when `immutable` is set]"},
		{name: "mutable configmap", kind: "ConfigMap", op: "UPDATE",
			obj: `{"metadata":{"name":"x"},"immutable":true,"data":{"k":"new"}}`, old: `{"metadata":{"name":"x"},"data":{"k":"v"}}`},
		{name: "immutable secret", kind: "Secret", op: "UPDATE",
			obj: `{"metadata":{"name":"x"},"immutable":true,"data":{"k":"dg=="},"type":"Opaque"}`, old: `{"metadata":{"name":"x"},"immutable":true,"data":{"k":"dw=="},"type":"Opaque"}`,
			want: "Secret \"x\" is invalid: data: Forbidden: field is immutable when `immutable` is set"},
		{name: "secret type change", kind: "Secret", op: "UPDATE",
			obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/basic-auth","data":{"username":"dQ=="}}`, old: `{"metadata":{"name":"x"},"type":"Opaque","data":{"username":"dQ=="}}`,
			want: `Secret "x" is invalid: type: Invalid value: "kubernetes.io/basic-auth": field is immutable`},
		// Kubernetes' type-specific rules (ValidateSecret), which the native rules lacked.
		{name: "tls without keys", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/tls","data":{}}`,
			want: `Secret "x" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]`},
		{name: "tls", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/tls","data":{"tls.crt":"","tls.key":""}}`},
		{name: "basic-auth without either", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/basic-auth"}`,
			want: `Secret "x" is invalid: [data[username]: Required value, data[password]: Required value]`},
		{name: "basic-auth with one", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/basic-auth","data":{"password":""}}`},
		{name: "ssh-auth empty key", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/ssh-auth","data":{"ssh-privatekey":""}}`,
			want: `Secret "x" is invalid: data[ssh-privatekey]: Required value`},
		{name: "dockerconfigjson not JSON", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/dockerconfigjson","data":{".dockerconfigjson":"bm9wZQ=="}}`,
			want: `Secret "x" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character 'o' in literal null (expecting 'u')`},
		{name: "dockerconfigjson", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/dockerconfigjson","data":{".dockerconfigjson":"eyJhdXRocyI6e319"}}`},
		{name: "dockercfg missing", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/dockercfg","data":{}}`,
			want: `Secret "x" is invalid: data[.dockercfg]: Required value`},
		{name: "service account token", kind: "Secret", op: "CREATE", obj: `{"metadata":{"name":"x"},"type":"kubernetes.io/service-account-token"}`,
			want: `Secret "x" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := admit(t, core.HookDataValidation, tc.op, tc.kind, tc.obj, tc.old)
			if tc.want == "" {
				if !resp.Allowed {
					t.Fatalf("denied: %+v", resp.Status)
				}
			} else {
				denied(t, resp, 422, "Invalid", tc.want)
			}
		})
	}
}

// Hooks leave subresources, other kinds and deletes alone.
func TestAdmitIgnores(t *testing.T) {
	_, h := core.Plugin()
	for _, req := range []sdk.AdmissionRequest{
		{Hook: core.HookDataValidation, Operation: "UPDATE", Kind: sdk.GVK{Version: "v1", Kind: "Secret"}, Subresource: "status", Object: json.RawMessage(`{"data":{"bad key":""}}`)},
		{Hook: core.HookDataValidation, Operation: "CREATE", Kind: sdk.GVK{Group: "example.com", Version: "v1", Kind: "Secret"}, Object: json.RawMessage(`{"data":{"bad key":""}}`)},
		{Hook: core.HookPodValidation, Operation: "DELETE", Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, OldObject: json.RawMessage(`{}`)},
		{Hook: core.HookPodValidation, Operation: "UPDATE", Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Subresource: "status", Object: json.RawMessage(`{"spec":{}}`), OldObject: json.RawMessage(`{"spec":{"containers":[]}}`)},
	} {
		if resp := h.Admitter.Admit(client, req); !resp.Allowed || len(resp.Patch) > 0 {
			t.Errorf("%+v: %+v", req, resp)
		}
	}
}
