package core_test

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"weft.dev/weft/plugins/core"
	"weft.dev/weft/sdk"
)

// typicalPod is a Deployment's pod as a client sends it: two containers, probes,
// resources, env, mounts, a few volumes, labels and an owner.
const typicalPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-7d4b9c8f6-","name":"web-7d4b9c8f6-x2x9k","namespace":"default",
"labels":{"app":"web","pod-template-hash":"7d4b9c8f6","tier":"frontend"},"annotations":{"prometheus.io/scrape":"true","prometheus.io/port":"9090"},
"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c8f6","uid":"0b0e3c4a-4a45-4f9e-9a59-8a7a0e5b8c51","controller":true,"blockOwnerDeletion":true}]},
"spec":{"containers":[{"name":"web","image":"registry.example.com/team/web:v1.24.3","args":["--port=8080","--metrics-port=9090","--log-level=info"],
"ports":[{"name":"http","containerPort":8080},{"name":"metrics","containerPort":9090}],
"env":[{"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"POD_IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}},
{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"name":"db","key":"password"}}},{"name":"MODE","value":"production"},{"name":"CACHE_SIZE","value":"256"}],
"resources":{"requests":{"cpu":"250m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}},
"livenessProbe":{"httpGet":{"path":"/healthz","port":"http"},"initialDelaySeconds":10,"periodSeconds":10},
"readinessProbe":{"httpGet":{"path":"/ready","port":"http"},"periodSeconds":5},
"volumeMounts":[{"name":"config","mountPath":"/etc/web","readOnly":true},{"name":"cache","mountPath":"/var/cache/web"},{"name":"tls","mountPath":"/etc/tls","readOnly":true}],
"securityContext":{"runAsNonRoot":true,"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}},
{"name":"log-shipper","image":"fluent/fluent-bit:3.1","resources":{"limits":{"cpu":"100m","memory":"64Mi"}},
"volumeMounts":[{"name":"cache","mountPath":"/var/cache/web","readOnly":true}]}],
"volumes":[{"name":"config","configMap":{"name":"web-config"}},{"name":"cache","emptyDir":{"sizeLimit":"1Gi"}},{"name":"tls","secret":{"secretName":"web-tls"}}],
"affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname"}}]}},
"nodeSelector":{"kubernetes.io/os":"linux"}}}`

// BenchmarkAdmitPod admits a typical pod as the API does on create: the defaulting
// hook, the patch applied (by the host, so not timed), then the validating hook. It
// calls Admit, which decodes the pod every time, as for a spec the plugin's memo has
// not seen; BenchmarkAdmitPodTemplate is the plugin's handler on a spec it has.
func BenchmarkAdmitPod(b *testing.B) {
	benchmarkAdmitPod(b, sdk.AdmitFunc(core.Admit))
}

// BenchmarkAdmitPodTemplate admits the same pod again and again through the plugin's
// handler, as for the replicas of one template: the memo answers both hooks.
func BenchmarkAdmitPodTemplate(b *testing.B) {
	_, h := core.Plugin()
	benchmarkAdmitPod(b, h.Admitter)
}

func benchmarkAdmitPod(b *testing.B, h sdk.Admitter) {
	c := sdk.NewClient(nil, nil)
	kind := sdk.GVK{Version: "v1", Kind: "Pod"}
	mut := sdk.AdmissionRequest{Hook: core.HookPodDefaults, Operation: "CREATE", Kind: kind, Namespace: "default", Object: json.RawMessage(typicalPod)}
	resp := h.Admit(c, mut)
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		b.Fatal(err)
	}
	defaulted, err := p.Apply([]byte(typicalPod))
	if err != nil {
		b.Fatal(err)
	}
	val := sdk.AdmissionRequest{Hook: core.HookPodValidation, Operation: "CREATE", Kind: kind, Namespace: "default", Object: defaulted}
	if r := h.Admit(c, val); !r.Allowed {
		b.Fatalf("typical pod denied: %s", r.Status.Message)
	}
	b.SetBytes(int64(len(typicalPod)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := h.Admit(c, mut); !r.Allowed || len(r.Patch) == 0 {
			b.Fatal("defaulting failed")
		}
		if r := h.Admit(c, val); !r.Allowed {
			b.Fatal("validation failed")
		}
	}
}

// BenchmarkAdmitPodUpdate validates a label-only update of the defaulted pod, both
// objects encoded as the host encodes them (encoding/json of a map: sorted keys).
func BenchmarkAdmitPodUpdate(b *testing.B) {
	_, h := core.Plugin()
	c := sdk.NewClient(nil, nil)
	kind := sdk.GVK{Version: "v1", Kind: "Pod"}
	resp := h.Admitter.Admit(c, sdk.AdmissionRequest{Hook: core.HookPodDefaults, Operation: "CREATE", Kind: kind, Object: json.RawMessage(typicalPod)})
	p, _ := jsonpatch.DecodePatch(resp.Patch)
	old, err := p.Apply([]byte(typicalPod))
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(old, &m)
	old, _ = json.Marshal(m)
	m["metadata"].(map[string]any)["labels"].(map[string]any)["new"] = "label"
	cur, _ := json.Marshal(m)
	req := sdk.AdmissionRequest{Hook: core.HookPodValidation, Operation: "UPDATE", Kind: kind, Object: cur, OldObject: old}
	b.ReportAllocs()
	for b.Loop() {
		if r := h.Admitter.Admit(c, req); !r.Allowed {
			b.Fatal(r.Status.Message)
		}
	}
}

// BenchmarkAdmitPodImageUpdate validates an image change: the specs differ, so they
// are compared whole.
func BenchmarkAdmitPodImageUpdate(b *testing.B) {
	_, h := core.Plugin()
	c := sdk.NewClient(nil, nil)
	kind := sdk.GVK{Version: "v1", Kind: "Pod"}
	resp := h.Admitter.Admit(c, sdk.AdmissionRequest{Hook: core.HookPodDefaults, Operation: "CREATE", Kind: kind, Object: json.RawMessage(typicalPod)})
	p, _ := jsonpatch.DecodePatch(resp.Patch)
	old, err := p.Apply([]byte(typicalPod))
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(old, &m)
	old, _ = json.Marshal(m)
	m["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = "registry.example.com/team/web:v1.25.0"
	cur, _ := json.Marshal(m)
	req := sdk.AdmissionRequest{Hook: core.HookPodValidation, Operation: "UPDATE", Kind: kind, Object: cur, OldObject: old}
	b.ReportAllocs()
	for b.Loop() {
		if r := h.Admitter.Admit(c, req); !r.Allowed {
			b.Fatal(r.Status.Message)
		}
	}
}
