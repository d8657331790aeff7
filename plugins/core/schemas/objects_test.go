package schemas_test

import (
	"encoding/json"
	"strings"
	"testing"

	sigsjson "sigs.k8s.io/json"

	kschema "weft.dev/weft/kernel/schema"
	"weft.dev/weft/plugins/core/schemas"
)

func mustCompile(t testing.TB, group, kind string) *kschema.Structural {
	t.Helper()
	s, err := kschema.Compile(mustLoad(t, group, kind))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustObject(t testing.TB, doc string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(doc), &obj); err != nil {
		t.Fatalf("bad test object: %v", err)
	}
	return obj
}

func toJSON(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestWritePipeline runs ordinary manifests through what the kernel does on
// a write (default, prune, validate) with the generated schemas.
func TestWritePipeline(t *testing.T) {
	tests := []struct {
		name, group, kind string
		obj               string
		wantPruned        []string
		wantErrs          []string
		wantAfter         string // substring of the object after the pipeline
	}{
		{
			name: "deployment from the docs", group: "apps", kind: "Deployment",
			obj: `{"apiVersion": "apps/v1", "kind": "Deployment",
			  "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
			  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
			    "template": {"metadata": {"labels": {"app": "nginx"}},
			      "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
			        "ports": [{"containerPort": 80}],
			        "resources": {"limits": {"cpu": 0.5, "memory": "128Mi"}}}]}}}}`,
			wantAfter: `"ports":[{"containerPort":80,"protocol":"TCP"}]`,
		},
		{
			name: "pod with mistakes", group: "", kind: "Pod",
			obj: `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
			  "spec": {"restartPolicy": "Sometimes", "containers": [
			    {"name": "a", "image": "x", "imagePullPolicy": "Always", "unknownField": 1,
			     "ports": [{"containerPort": "80"}], "resources": {"requests": {"cpu": "lots"}}},
			    {"name": "a", "image": "y"}]}}`,
			wantPruned: []string{"spec.containers[0].unknownField"},
			wantErrs: []string{
				`spec.containers[0].ports[0].containerPort: Invalid value: "string": spec.containers[0].ports[0].containerPort in body must be of type integer: "string"`,
				`spec.containers[0].resources.requests[cpu]: Invalid value: "lots": quantities must match the regular expression`,
				`spec.containers[1]: Duplicate value: {"name":"a"}`,
				`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"`,
			},
		},
		{
			name: "pod without containers", group: "", kind: "Pod",
			obj:      `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}`,
			wantErrs: []string{`spec.containers: Required value`},
		},
		{
			name: "secret data must be base64", group: "", kind: "Secret",
			obj:      `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {"ok": "aGk=", "bad": "hi!"}, "stringData": {"plain": "text"}}`,
			wantErrs: []string{`data[bad]: Invalid value: "hi!": data[bad] in body must be of type byte: "hi!"`},
		},
		{
			name: "service", group: "", kind: "Service",
			obj: `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
			  "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}, {"port": 443, "targetPort": 8443}]}}`,
			wantAfter: `{"port":80,"protocol":"TCP","targetPort":"http"}`,
		},
		{
			name: "configmap with a status field that does not exist", group: "", kind: "ConfigMap",
			obj:        `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": {"k": "v"}, "status": {}}`,
			wantPruned: []string{"status"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustCompile(t, tc.group, tc.kind)
			obj := mustObject(t, tc.obj)
			s.Default(obj)
			pruned := s.Prune(obj)
			errs := s.Validate(obj)
			if strings.Join(pruned, ",") != strings.Join(tc.wantPruned, ",") {
				t.Errorf("pruned %q, want %q", pruned, tc.wantPruned)
			}
			if len(errs) != len(tc.wantErrs) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.wantErrs), errs)
			}
			for i, e := range errs {
				if !strings.HasPrefix(e.Error(), tc.wantErrs[i]) {
					t.Errorf("error %d:\n got: %s\nwant: %s...", i, e.Error(), tc.wantErrs[i])
				}
			}
			if tc.wantAfter != "" && !strings.Contains(toJSON(t, obj), tc.wantAfter) {
				t.Errorf("object after the pipeline lacks %s:\n%s", tc.wantAfter, toJSON(t, obj))
			}
		})
	}
}

func TestLoadReturnsCopies(t *testing.T) {
	a := mustLoad(t, "", "ConfigMap")
	a.Description = "changed"
	b, err := schemas.Load("", "v1", "ConfigMap")
	if err != nil {
		t.Fatal(err)
	}
	if b.Description == "changed" {
		t.Error("Load returns shared, mutable schemas")
	}
}
