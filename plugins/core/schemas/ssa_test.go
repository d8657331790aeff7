package schemas_test

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	kschema "weft.dev/weft/kernel/schema"
)

// Single-version kinds need no conversion, defaulting happens elsewhere in
// the kernel, and new objects are unstructured: these are all the field
// manager needs besides the type converter.
type sameVersion struct{}

func (sameVersion) Convert(in, out, context any) error { return errors.New("not supported") }
func (sameVersion) ConvertToVersion(in runtime.Object, _ runtime.GroupVersioner) (runtime.Object, error) {
	return in, nil
}
func (sameVersion) ConvertFieldLabel(schema.GroupVersionKind, string, string) (string, string, error) {
	return "", "", errors.New("not supported")
}

type noDefaults struct{}

func (noDefaults) Default(runtime.Object) {}

type unstructuredCreater struct{}

func (unstructuredCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// applier keeps one live object and applies to it, as the API server does.
type applier struct {
	t    *testing.T
	fm   *managedfields.FieldManager
	live runtime.Object
}

func newApplier(t *testing.T, gvk schema.GroupVersionKind, tc managedfields.TypeConverter) *applier {
	t.Helper()
	fm, err := managedfields.NewDefaultCRDFieldManager(tc, sameVersion{}, noDefaults{}, unstructuredCreater{}, gvk, gvk.GroupVersion(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := unstructuredCreater{}.New(gvk)
	return &applier{t: t, fm: fm, live: live}
}

func (a *applier) apply(manager, doc string, force bool) error {
	a.t.Helper()
	out, err := a.fm.Apply(a.live, &unstructured.Unstructured{Object: mustObject(a.t, doc)}, manager, force)
	if err == nil {
		a.live = out
	}
	return err
}

func (a *applier) object() map[string]any {
	return a.live.(*unstructured.Unstructured).Object
}

func (a *applier) managers() []string {
	var out []string
	for _, e := range a.live.(*unstructured.Unstructured).GetManagedFields() {
		out = append(out, e.Manager)
	}
	return out
}

func typeConverter(t *testing.T, gvks ...schema.GroupVersionKind) managedfields.TypeConverter {
	t.Helper()
	kinds := map[schema.GroupVersionKind]*kschema.Structural{}
	for _, gvk := range gvks {
		kinds[gvk] = mustCompile(t, gvk.Group, gvk.Kind)
	}
	tc, err := kschema.NewTypeConverter(kinds)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func TestServerSideApplyConfigMap(t *testing.T) {
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	a := newApplier(t, gvk, typeConverter(t, gvk))
	// creationTimestamp: null is what Go clients send for an unset time.
	const head = `"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d", "creationTimestamp": null}`

	if err := a.apply("alice", `{`+head+`, "data": {"shared": "1", "alice": "a"}}`, false); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	// bob claims a key alice owns with a different value: conflict.
	err := a.apply("bob", `{`+head+`, "data": {"shared": "2"}}`, false)
	if !apierrors.IsConflict(err) {
		t.Fatalf("bob's apply: err = %v, want a conflict", err)
	}
	if !strings.Contains(err.Error(), `.data.shared`) || !strings.Contains(err.Error(), `"alice"`) {
		t.Errorf("conflict should name the field and its owner: %v", err)
	}
	// Disjoint keys co-exist, each owned by its applier.
	if err := a.apply("bob", `{`+head+`, "data": {"bob": "b"}}`, false); err != nil {
		t.Fatalf("bob's disjoint apply: %v", err)
	}
	data := a.object()["data"].(map[string]any)
	if data["alice"] != "a" || data["bob"] != "b" || data["shared"] != "1" {
		t.Errorf("data = %v", data)
	}
	if got := strings.Join(a.managers(), ","); got != "alice,bob" {
		t.Errorf("managers = %s, want alice,bob", got)
	}
	// Forcing takes ownership.
	if err := a.apply("bob", `{`+head+`, "data": {"bob": "b", "shared": "2"}}`, true); err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if got := a.object()["data"].(map[string]any)["shared"]; got != "2" {
		t.Errorf("forced value = %v", got)
	}
}

func TestServerSideApplyDeploymentContainers(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	a := newApplier(t, gvk, typeConverter(t, gvk))
	deployment := func(containers string) string {
		return `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "d"},
		  "spec": {"selector": {"matchLabels": {"app": "web"}},
		    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [` + containers + `]}}}}`
	}

	if err := a.apply("alice", deployment(`{"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]}`), false); err != nil {
		t.Fatalf("alice: %v", err)
	}
	// bob adds his own container: containers are a map keyed by name, so
	// both co-own the list, each their own element.
	if err := a.apply("bob", deployment(`{"name": "log", "image": "log:1"}`), false); err != nil {
		t.Fatalf("bob: %v", err)
	}
	containers := a.object()["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	var names []string
	for _, c := range containers {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "app,log" {
		t.Fatalf("containers = %v, want app and log", names)
	}
	// bob touching alice's container image conflicts.
	err := a.apply("bob", deployment(`{"name": "log", "image": "log:1"}, {"name": "app", "image": "app:2"}`), false)
	if !apierrors.IsConflict(err) {
		t.Fatalf("bob changing app's image: err = %v, want a conflict", err)
	}
	if !strings.Contains(err.Error(), `.spec.template.spec.containers[name="app"].image`) {
		t.Errorf("conflict should point at the app container: %v", err)
	}
	// alice re-applying without the port drops it: she owned it alone.
	// The port had no protocol, which works only because protocol, a key of
	// the ports list-map, has a default.
	if err := a.apply("alice", deployment(`{"name": "app", "image": "app:1"}`), false); err != nil {
		t.Fatalf("alice re-apply: %v", err)
	}
	app := a.object()["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if _, ok := app["ports"]; ok {
		t.Errorf("alice's dropped port is still there: %v", app)
	}
}
