package schemas_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"

	kschema "weft.dev/weft/kernel/schema"
	"weft.dev/weft/plugins/core/schemas"
)

func wantKinds() []schema.GroupVersionKind {
	core := func(k string) schema.GroupVersionKind { return schema.GroupVersionKind{Version: "v1", Kind: k} }
	gvk := func(g, k string) schema.GroupVersionKind {
		return schema.GroupVersionKind{Group: g, Version: "v1", Kind: k}
	}
	return []schema.GroupVersionKind{
		core("Binding"), core("ConfigMap"), core("Endpoints"), core("Event"), core("Namespace"), core("Node"),
		core("PersistentVolumeClaim"), core("Pod"), core("Secret"), core("Service"), core("ServiceAccount"),
		gvk("apps", "DaemonSet"), gvk("apps", "Deployment"), gvk("apps", "ReplicaSet"), gvk("apps", "StatefulSet"),
		gvk("autoscaling", "Scale"), gvk("batch", "CronJob"), gvk("batch", "Job"),
		gvk("coordination.k8s.io", "Lease"), gvk("discovery.k8s.io", "EndpointSlice"), gvk("networking.k8s.io", "Ingress"),
	}
}

func TestKinds(t *testing.T) {
	if got, want := schemas.Kinds(), wantKinds(); !slices.Equal(got, want) {
		t.Errorf("Kinds():\n got %v\nwant %v", got, want)
	}
}

func TestEveryGeneratedSchemaCompiles(t *testing.T) {
	for _, gvk := range schemas.Kinds() {
		t.Run(gvk.String(), func(t *testing.T) {
			s, err := schemas.Load(gvk.Group, gvk.Version, gvk.Kind)
			if err != nil {
				t.Fatal(err)
			}
			if s.Description == "" {
				t.Error("kind has no description")
			}
			for _, root := range []string{"apiVersion", "kind", "metadata"} {
				if _, ok := s.Properties[root]; ok {
					t.Errorf("generated schema has %s; Compile adds it", root)
				}
			}
			if _, err := kschema.Compile(s); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

func TestLoadUnknownKind(t *testing.T) {
	if _, err := schemas.Load("apps", "v1", "Nonesuch"); !errors.Is(err, schemas.ErrUnknownKind) {
		t.Errorf("err = %v, want ErrUnknownKind", err)
	}
}

func mustLoad(t testing.TB, group, kind string) *spec.Schema {
	t.Helper()
	s, err := schemas.Load(group, "v1", kind)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// at walks a schema by property names; "[]" steps into array items.
func at(t testing.TB, s *spec.Schema, path string) *spec.Schema {
	t.Helper()
	for _, step := range strings.Split(path, ".") {
		if step == "[]" {
			if s.Items == nil || s.Items.Schema == nil {
				t.Fatalf("%s: no items at %q", path, step)
			}
			s = s.Items.Schema
			continue
		}
		p, ok := s.Properties[step]
		if !ok {
			t.Fatalf("%s: no property %q", path, step)
		}
		s = &p
	}
	return s
}

func TestPodContainersAreAListMapMergedByName(t *testing.T) {
	c := at(t, mustLoad(t, "", "Pod"), "spec.containers")
	if got := c.Extensions["x-kubernetes-list-type"]; got != "map" {
		t.Errorf("list-type = %v, want map", got)
	}
	if keys, _ := c.Extensions.GetStringSlice("x-kubernetes-list-map-keys"); !slices.Equal(keys, []string{"name"}) {
		t.Errorf("list-map-keys = %v, want [name]", keys)
	}
	if got := c.Extensions["x-kubernetes-patch-strategy"]; got != "merge" {
		t.Errorf("patch-strategy = %v, want merge", got)
	}
	if got := c.Extensions["x-kubernetes-patch-merge-key"]; got != "name" {
		t.Errorf("patch-merge-key = %v, want name", got)
	}
	if !strings.HasPrefix(c.Description, "List of containers belonging to the pod.") {
		t.Errorf("description = %q", c.Description)
	}
	if !slices.Equal(c.Items.Schema.Required, []string{"name"}) {
		t.Errorf("containers[].required = %v, want [name]", c.Items.Schema.Required)
	}
}

// TestMatchesKubernetesOpenAPI spot-checks the generated schemas against
// what Kubernetes publishes for the same types.
func TestMatchesKubernetesOpenAPI(t *testing.T) {
	required := []struct {
		group, kind, path string // path "" is the kind itself
		want              []string
	}{
		{"", "ConfigMap", "", nil},
		{"", "Secret", "", nil},
		{"", "Pod", "", nil},
		{"", "Pod", "spec", []string{"containers"}},
		{"", "Pod", "spec.containers.[].ports.[]", []string{"containerPort"}},
		{"", "Pod", "spec.volumes.[]", []string{"name"}},
		{"", "Service", "spec.ports.[]", []string{"port"}},
		{"", "Event", "", []string{"involvedObject"}},
		{"", "Binding", "", []string{"target"}},
		{"apps", "Deployment", "spec", []string{"selector", "template"}},
		{"apps", "Deployment", "spec.selector.matchExpressions.[]", []string{"key", "operator"}},
		{"batch", "CronJob", "spec", []string{"schedule", "jobTemplate"}},
		{"discovery.k8s.io", "EndpointSlice", "", []string{"addressType"}},
	}
	for _, tc := range required {
		s := mustLoad(t, tc.group, tc.kind)
		if tc.path != "" {
			s = at(t, s, tc.path)
		}
		if !slices.Equal(s.Required, tc.want) {
			t.Errorf("%s %s: required = %v, want %v", tc.kind, tc.path, s.Required, tc.want)
		}
	}

	pod := mustLoad(t, "", "Pod")
	checks := []struct {
		path    string
		typ     string
		format  string
		extName string
		extVal  any
	}{
		{"spec.containers.[].ports.[].containerPort", "integer", "int32", "", nil},
		{"spec.activeDeadlineSeconds", "integer", "int64", "", nil},
		{"spec.containers.[].ports", "array", "", "x-kubernetes-patch-merge-key", "containerPort"},
		{"spec.volumes", "array", "", "x-kubernetes-patch-strategy", "merge,retainKeys"},
		{"spec.containers.[].resources.limits", "object", "", "", nil},
		{"spec.containers.[].livenessProbe.httpGet.port", "", "", "x-kubernetes-int-or-string", true},
		{"spec.tolerations", "array", "", "x-kubernetes-list-type", "atomic"},
		{"status.startTime", "string", "date-time", "", nil},
		{"spec.nodeSelector", "object", "", "x-kubernetes-map-type", "atomic"},
		{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution", "object", "", "x-kubernetes-map-type", "atomic"},
	}
	for _, c := range checks {
		s := at(t, pod, c.path)
		if c.typ != "" && (len(s.Type) != 1 || s.Type[0] != c.typ) {
			t.Errorf("Pod %s: type %v, want %s", c.path, s.Type, c.typ)
		}
		if s.Format != c.format {
			t.Errorf("Pod %s: format %q, want %q", c.path, s.Format, c.format)
		}
		if c.extName != "" && s.Extensions[c.extName] != c.extVal {
			t.Errorf("Pod %s: %s = %v, want %v", c.path, c.extName, s.Extensions[c.extName], c.extVal)
		}
	}

	protocol := at(t, pod, "spec.containers.[].ports.[].protocol")
	if protocol.Default != "TCP" || !slices.Equal(protocol.Enum, []any{"SCTP", "TCP", "UDP"}) {
		t.Errorf("ports[].protocol: default %v enum %v, want TCP and [SCTP TCP UDP]", protocol.Default, protocol.Enum)
	}
	if !strings.Contains(protocol.Description, "Possible enum values:\n - `\"SCTP\"`") {
		t.Errorf("ports[].protocol description lacks the enum list: %q", protocol.Description)
	}
	limits := at(t, pod, "spec.containers.[].resources.limits").AdditionalProperties.Schema
	if limits.Extensions["x-kubernetes-int-or-string"] != true {
		t.Errorf("quantities should be int-or-string: %v", limits.Extensions)
	}
	secretData := at(t, mustLoad(t, "", "Secret"), "data").AdditionalProperties.Schema
	if secretData.Format != "byte" {
		t.Errorf("Secret.data values: format %q, want byte", secretData.Format)
	}
}
