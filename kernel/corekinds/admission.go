package corekinds

import (
	"context"
	"encoding/base64"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"weft.dev/weft/kernel/objects"
)

// Admission holds the core kinds' rules that a schema cannot express.
type Admission struct{}

var _ objects.Admission = Admission{}

func isCore(a *objects.Attributes, kind string) bool {
	return a.Kind.Group == "" && a.Kind.Version == "v1" && a.Kind.Kind.Kind == kind
}

// Mutate folds Secret.stringData into data and defaults the Secret type, as the
// Kubernetes API server does when it converts a Secret.
func (Admission) Mutate(_ context.Context, a *objects.Attributes) ([]string, error) {
	if a.Object == nil || !isCore(a, "Secret") || a.Subresource != "" {
		return nil, nil
	}
	obj := a.Object.Object
	if sd, ok := obj["stringData"].(map[string]any); ok {
		data, _ := obj["data"].(map[string]any)
		if data == nil {
			data = map[string]any{}
		}
		for k, v := range sd {
			s, ok := v.(string)
			if !ok {
				continue // schema validation reports the type
			}
			data[k] = base64.StdEncoding.EncodeToString([]byte(s))
		}
		obj["data"] = data
		delete(obj, "stringData")
	}
	if t, _ := obj["type"].(string); t == "" {
		obj["type"] = "Opaque"
	}
	return nil, nil
}

// Validate checks data keys, keys shared by data and binaryData, and immutability.
func (Admission) Validate(_ context.Context, a *objects.Attributes) ([]string, error) {
	if a.Object == nil || a.Subresource != "" {
		return nil, nil
	}
	var errs field.ErrorList
	switch {
	case isCore(a, "ConfigMap"):
		errs = append(errs, validateKeys(a.Object, "data", "binaryData")...)
		errs = append(errs, validateImmutable(a, "data", "binaryData")...)
	case isCore(a, "Secret"):
		errs = append(errs, validateKeys(a.Object, "data")...)
		errs = append(errs, validateImmutable(a, "data")...)
		if a.OldObject != nil {
			oldType, _, _ := unstructured.NestedString(a.OldObject.Object, "type")
			newType, _, _ := unstructured.NestedString(a.Object.Object, "type")
			if oldType != newType {
				errs = append(errs, field.Invalid(field.NewPath("type"), newType, "field is immutable"))
			}
		}
	default:
		return nil, nil
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Kind: a.Kind.Kind.Kind}, a.Name, errs)
	}
	return nil, nil
}

func validateKeys(obj *unstructured.Unstructured, fields ...string) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]string{}
	for _, f := range fields {
		m, _, _ := unstructured.NestedMap(obj.Object, f)
		for k := range m {
			p := field.NewPath(f).Key(k)
			for _, msg := range validation.IsConfigMapKey(k) {
				errs = append(errs, field.Invalid(p, k, msg))
			}
			if other, dup := seen[k]; dup {
				errs = append(errs, field.Invalid(p, k, fmt.Sprintf("duplicate of key present in %s", other)))
			}
			seen[k] = f
		}
	}
	return errs
}

func validateImmutable(a *objects.Attributes, fields ...string) field.ErrorList {
	if a.OldObject == nil {
		return nil
	}
	if imm, _, _ := unstructured.NestedBool(a.OldObject.Object, "immutable"); !imm {
		return nil
	}
	var errs field.ErrorList
	if imm, _, _ := unstructured.NestedBool(a.Object.Object, "immutable"); !imm {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	for _, f := range fields {
		if !reflect.DeepEqual(a.OldObject.Object[f], a.Object.Object[f]) {
			errs = append(errs, field.Forbidden(field.NewPath(f), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}
