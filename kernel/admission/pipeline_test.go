package admission

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/sdk"
)

var rule = []sdk.AdmissionRule{{Groups: []string{""}, Resources: []string{"configmaps"}, Operations: []string{"CREATE"}}}

func attrs(labels map[string]string) *objects.Attributes {
	obj := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "x"}, "data": map[string]any{}}}
	obj.SetLabels(labels)
	return &objects.Attributes{
		Kind:      &registry.Entry{Kind: registry.Kind{Version: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespaced: true}},
		Operation: objects.OpCreate, Namespace: "ns", Name: "x", Object: obj,
	}
}

// setKey returns a mutating caller that sets data[key] = value, recording its calls.
func setKey(log *[]string, name, key, value string) Caller {
	return func(_ context.Context, req *sdk.AdmissionRequest) (*sdk.AdmissionResponse, error) {
		*log = append(*log, name)
		var obj map[string]any
		_ = json.Unmarshal(req.Object, &obj)
		obj["data"].(map[string]any)[key] = value
		out, _ := json.Marshal(obj)
		return &sdk.AdmissionResponse{Allowed: true, Object: out}, nil
	}
}

func TestMutatingOrderAndReinvocation(t *testing.T) {
	var log []string
	p := New(nil, nil)
	// Plugin "a" runs before plugin "b"; a1 asks to be reinvoked, a2 does not.
	must(t, p.Set("b", []Hook{{AdmissionHook: sdk.AdmissionHook{Name: "b1", Mutating: true, Rules: rule}, Call: setKey(&log, "b1", "b", "1")}}))
	must(t, p.Set("a", []Hook{
		{AdmissionHook: sdk.AdmissionHook{Name: "a1", Mutating: true, Rules: rule, ReinvocationPolicy: "IfNeeded"}, Call: setKey(&log, "a1", "a", "1")},
		{AdmissionHook: sdk.AdmissionHook{Name: "a2", Mutating: true, Rules: rule}, Call: setKey(&log, "a2", "a2", "1")},
	}))
	a := attrs(nil)
	if _, err := p.Mutate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	// b1 changed the object after a1 ran, so a1 runs once more; a2 does not.
	if got := strings.Join(log, ","); got != "a1,a2,b1,a1" {
		t.Fatalf("order: %s", got)
	}
	data := a.Object.Object["data"].(map[string]any)
	if data["a"] != "1" || data["a2"] != "1" || data["b"] != "1" {
		t.Fatalf("object: %v", data)
	}
	// Replacing a plugin's hooks drops its old ones.
	log = nil
	must(t, p.Set("a", nil))
	if _, err := p.Mutate(context.Background(), attrs(nil)); err != nil || strings.Join(log, ",") != "b1" {
		t.Fatalf("after replacing a: %v %v", log, err)
	}
}

func TestFailurePolicyAndSelectors(t *testing.T) {
	boom := func(context.Context, *sdk.AdmissionRequest) (*sdk.AdmissionResponse, error) {
		return nil, errors.New("boom")
	}
	calls := 0
	allow := func(context.Context, *sdk.AdmissionRequest) (*sdk.AdmissionResponse, error) {
		calls++
		return &sdk.AdmissionResponse{Allowed: true, Warnings: []string{"careful"}}, nil
	}
	nsLabels := func(_ context.Context, ns string) (map[string]string, error) {
		return map[string]string{"env": "prod"}, nil
	}
	p := New(nil, nsLabels)
	must(t, p.Set("ignore", []Hook{{AdmissionHook: sdk.AdmissionHook{Name: "lenient", Rules: rule, FailurePolicy: "Ignore"}, Call: boom}}))
	if _, err := p.Validate(context.Background(), attrs(nil)); err != nil {
		t.Fatalf("Ignore: %v", err)
	}
	must(t, p.Set("fail", []Hook{{AdmissionHook: sdk.AdmissionHook{Name: "strict", Rules: rule}, Call: boom}}))
	if _, err := p.Validate(context.Background(), attrs(nil)); !apierrors.IsInternalError(err) {
		t.Fatalf("Fail: want InternalError, got %v", err)
	}
	must(t, p.Set("fail", nil))
	must(t, p.Set("sel", []Hook{
		{AdmissionHook: sdk.AdmissionHook{Name: "prod-only", Rules: rule, NamespaceSelector: "env=prod"}, Call: allow},
		{AdmissionHook: sdk.AdmissionHook{Name: "dev-only", Rules: rule, NamespaceSelector: "env=dev"}, Call: allow},
		{AdmissionHook: sdk.AdmissionHook{Name: "team-a", Rules: rule, ObjectSelector: "team=a"}, Call: allow},
	}))
	w, err := p.Validate(context.Background(), attrs(map[string]string{"team": "b"}))
	if err != nil || calls != 1 || len(w) != 1 {
		t.Fatalf("selectors: calls %d warnings %v err %v", calls, w, err)
	}
	if err := p.Set("bad", []Hook{{AdmissionHook: sdk.AdmissionHook{Name: "x", FailurePolicy: "Sometimes"}}}); err == nil {
		t.Fatal("bad failure policy accepted")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
