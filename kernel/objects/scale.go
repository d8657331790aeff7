package objects

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"weft.dev/weft/kernel/registry"
)

// The scale subresource speaks autoscaling/v1 Scale, mapped onto the object's fields
// by the kind's Scale paths, as for a CRD.

func scalePath(p string) []string { return strings.Split(strings.TrimPrefix(p, "."), ".") }

func noScale(e *registry.Entry) error {
	return apierrors.NewNotFound(gr(e), "scale")
}

// GetScale reads an object's scale.
func (s *Service) GetScale(ctx context.Context, e *registry.Entry, namespace, name string) (*unstructured.Unstructured, error) {
	if e.Scale == nil {
		return nil, noScale(e)
	}
	obj, _, err := s.get(ctx, e, namespace, name)
	if err != nil {
		return nil, err
	}
	return scaleOf(e, obj)
}

func scaleOf(e *registry.Entry, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	spec, _, _ := unstructured.NestedFieldNoCopy(obj.Object, scalePath(e.Scale.SpecReplicasPath)...)
	status, _, _ := unstructured.NestedFieldNoCopy(obj.Object, scalePath(e.Scale.StatusReplicasPath)...)
	sc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling/v1",
		"kind":       "Scale",
		"metadata": map[string]any{
			"name":              obj.GetName(),
			"uid":               string(obj.GetUID()),
			"resourceVersion":   obj.GetResourceVersion(),
			"creationTimestamp": obj.GetCreationTimestamp().UTC().Format("2006-01-02T15:04:05Z"),
		},
		"spec":   map[string]any{"replicas": toInt64(spec)},
		"status": map[string]any{"replicas": toInt64(status)},
	}}
	if obj.GetNamespace() != "" {
		sc.SetNamespace(obj.GetNamespace())
	}
	if e.Scale.LabelSelectorPath != "" {
		switch sel := mustNested(obj.Object, scalePath(e.Scale.LabelSelectorPath)).(type) {
		case string:
			_ = unstructured.SetNestedField(sc.Object, sel, "status", "selector")
		case map[string]any:
			var ls metav1.LabelSelector
			raw, _ := json.Marshal(sel)
			if json.Unmarshal(raw, &ls) == nil {
				if s, err := metav1.LabelSelectorAsSelector(&ls); err == nil {
					_ = unstructured.SetNestedField(sc.Object, s.String(), "status", "selector")
				}
			}
		}
	}
	return sc, nil
}

func mustNested(obj map[string]any, path []string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, path...)
	return v
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// UpdateScale sets an object's replicas from a Scale. The Scale's resourceVersion, when
// set, is a precondition on the object.
func (s *Service) UpdateScale(ctx context.Context, e *registry.Entry, namespace, name string, scale *unstructured.Unstructured, opts WriteOptions) (Result, error) {
	if e.Scale == nil {
		return Result{}, noScale(e)
	}
	if scale.GetName() != "" && scale.GetName() != name {
		return Result{}, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", scale.GetName(), name))
	}
	replicas, found, err := unstructured.NestedFieldNoCopy(scale.Object, "spec", "replicas")
	n, isInt := replicas.(int64)
	if err != nil || !found || !isInt || n < 0 {
		errs := field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), replicas, "must be a non-negative integer")}
		return Result{}, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("Scale").GroupKind(), name, errs)
	}
	pinned := scale.GetResourceVersion()
	res, err := s.updateLoop(ctx, e, namespace, name, "", opts, func(cur *unstructured.Unstructured) (*unstructured.Unstructured, bool, error) {
		if pinned != "" && pinned != cur.GetResourceVersion() {
			return nil, false, apierrors.NewConflict(gr(e), name, errModified)
		}
		if err := unstructured.SetNestedField(cur.Object, n, scalePath(e.Scale.SpecReplicasPath)...); err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		return cur, false, nil
	})
	if err != nil {
		return res, err
	}
	res.Object, err = scaleOf(e, res.Object)
	res.JSON = nil // the answer is the Scale, not what was stored
	return res, err
}

func (s *Service) patchScale(ctx context.Context, e *registry.Entry, namespace, name string, pt types.PatchType, data []byte, opts WriteOptions) (Result, error) {
	if pt == types.ApplyPatchType || pt == types.ApplyYAMLPatchType {
		return Result{}, apierrors.NewMethodNotSupported(gr(e), "apply to scale")
	}
	cur, err := s.GetScale(ctx, e, namespace, name)
	if err != nil {
		return Result{}, err
	}
	// Scale has no lists, so a strategic merge patch is a merge patch.
	if pt == types.StrategicMergePatchType {
		pt = types.MergePatchType
	}
	apply, err := patcher(e, pt, data)
	if err != nil {
		return Result{}, err
	}
	raw, _ := json.Marshal(cur.Object)
	patched, err := apply(raw)
	if err != nil {
		return Result{}, err
	}
	next, _, err := DecodeBody(patched, false)
	if err != nil {
		return Result{}, err
	}
	return s.UpdateScale(ctx, e, namespace, name, next, opts)
}
