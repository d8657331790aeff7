package schema_test

import (
	"testing"
	"time"

	"k8s.io/kube-openapi/pkg/validation/spec"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"weft.dev/weft/kernel/schema"
	"weft.dev/weft/plugins/core/schemas"
)

const benchConfigMap = `{
  "apiVersion": "v1", "kind": "ConfigMap",
  "metadata": {"name": "app-config", "namespace": "default", "labels": {"app": "web"},
    "resourceVersion": "12345", "uid": "0e7a3c1e-4f7b-4a1e-9f0e-1c2d3e4f5a6b", "creationTimestamp": "2024-05-01T10:00:00Z"},
  "data": {"LOG_LEVEL": "info", "FEATURE_X": "true", "config.yaml": "server:\n  port: 8080\n  workers: 4\n"}
}`

// benchPod is what a scheduled, running pod looks like: a realistic spec
// and status, about 3 KB of JSON.
const benchPod = `{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web-7d4b9c8f6-x2x9z", "generateName": "web-7d4b9c8f6-", "namespace": "default",
    "uid": "5f0c2a7e-3b1d-4c8e-9a6f-2e1d0c9b8a7f", "resourceVersion": "98765", "creationTimestamp": "2024-05-01T10:00:00Z",
    "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6"},
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6",
      "uid": "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d", "controller": true, "blockOwnerDeletion": true}]},
  "spec": {
    "containers": [{
      "name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
      "args": ["--port=8080", "--workers=4"],
      "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
      "env": [{"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "LOG_LEVEL"}}},
              {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
      "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
      "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true},
                       {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
      "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
      "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
      "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
      "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
    }],
    "volumes": [{"name": "config", "configMap": {"name": "app-config", "defaultMode": 420}},
                {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                  {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                  {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
    "serviceAccountName": "default", "nodeName": "node-1", "schedulerName": "default-scheduler",
    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
    "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
  },
  "status": {
    "phase": "Running", "hostIP": "10.0.0.11", "podIP": "10.244.1.23", "podIPs": [{"ip": "10.244.1.23"}],
    "startTime": "2024-05-01T10:00:01Z", "qosClass": "Burstable",
    "conditions": [
      {"type": "Initialized", "status": "True", "lastTransitionTime": "2024-05-01T10:00:01Z"},
      {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:00:07Z"},
      {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2024-05-01T10:00:07Z"},
      {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z"}],
    "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0, "image": "nginx:1.27",
      "imageID": "docker.io/library/nginx@sha256:0123456789abcdef", "containerID": "containerd://abcdef0123456789",
      "started": true, "state": {"running": {"startedAt": "2024-05-01T10:00:03Z"}}}]
  }
}`

func benchSubject(b *testing.B, kind, doc string) (*schema.Structural, map[string]any) {
	b.Helper()
	s, err := schemas.Load("", "v1", kind)
	if err != nil {
		b.Fatal(err)
	}
	c, err := schema.Compile(s)
	if err != nil {
		b.Fatal(err)
	}
	obj := mustObject(b, doc)
	c.Default(obj)
	if pruned := c.Prune(obj); len(pruned) > 0 {
		b.Fatalf("benchmark object has unknown fields: %v", pruned)
	}
	if errs := c.Validate(obj); len(errs) > 0 {
		b.Fatalf("benchmark object is invalid: %v", errs)
	}
	return c, obj
}

func benchmarkKind(b *testing.B, kind, doc string) {
	s, obj := benchSubject(b, kind, doc)
	// Steady-state costs on an object that is already valid, pruned and
	// defaulted, as on most writes.
	b.Run("Validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if errs := s.Validate(obj); len(errs) > 0 {
				b.Fatal(errs)
			}
		}
	})
	b.Run("Prune", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Prune(obj)
		}
	})
	b.Run("Default", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Default(obj)
		}
	})
	// A write as the kernel sees it: a freshly decoded object (the copy
	// stands in for decoding and is part of the figure) goes through all
	// three.
	b.Run("CopyDefaultPruneValidate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o := runtime.DeepCopyJSON(obj)
			s.Default(o)
			s.Prune(o)
			if errs := s.Validate(o); len(errs) > 0 {
				b.Fatal(errs)
			}
		}
	})
}

func BenchmarkConfigMap(b *testing.B) { benchmarkKind(b, "ConfigMap", benchConfigMap) }
func BenchmarkPod(b *testing.B)       { benchmarkKind(b, "Pod", benchPod) }

func BenchmarkCompilePod(b *testing.B) {
	s, err := schemas.Load("", "v1", "Pod")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schema.Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPodValidateAnchor puts Validate next to its anchor: kube-openapi's
// SchemaValidator, which is what apiextensions-apiserver runs for every
// custom resource write, on the same compiled Pod schema and object. It
// reports the anchor's ns/op and how many times faster Validate is.
func BenchmarkPodValidateAnchor(b *testing.B) {
	s, obj := benchSubject(b, "Pod", benchPod)
	anchor := validate.NewSchemaValidator(asAPIExtensionsDoes(b, s.Schema()), nil, "", strfmt.Default)
	if res := anchor.Validate(obj); !res.IsValid() {
		b.Fatalf("anchor rejects the object: %v", res.AsError())
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if errs := s.Validate(obj); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
	perOp := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	// The anchor is two orders of magnitude slower; a bounded sample keeps
	// the run short without losing precision that matters.
	n := min(b.N, 200)
	start = time.Now()
	for range n {
		anchor.Validate(obj)
	}
	anchorPerOp := float64(time.Since(start).Nanoseconds()) / float64(n)
	b.ReportMetric(anchorPerOp, "kube-openapi-ns/op")
	b.ReportMetric(anchorPerOp/perOp, "speedup")
}

// asAPIExtensionsDoes converts a schema the way apiextensions-apiserver does
// before handing it to kube-openapi: int-or-string becomes the type list
// [integer, string].
func asAPIExtensionsDoes(b *testing.B, in *spec.Schema) *spec.Schema {
	out := mustSchema(b, toJSON(b, in))
	var walk func(s *spec.Schema)
	walk = func(s *spec.Schema) {
		if v, _ := s.Extensions["x-kubernetes-int-or-string"].(bool); v {
			s.Type = spec.StringOrArray{"integer", "string"}
		}
		for k, p := range s.Properties {
			walk(&p)
			s.Properties[k] = p
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(s.Items.Schema)
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			walk(s.AdditionalProperties.Schema)
		}
	}
	walk(out)
	return out
}
