package objects

import (
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"weft.dev/weft/kernel/registry"
	wschema "weft.dev/weft/kernel/schema"
)

// Field validation directives, as the fieldValidation query parameter spells them.
const (
	FieldValidationStrict = "Strict"
	FieldValidationWarn   = "Warn"
	FieldValidationIgnore = "Ignore"
)

// metaOf decodes metadata into its typed form. Unstructured accessors silently drop
// fields of the wrong type, so this is the type check of metadata.
func metaOf(e *registry.Entry, u *unstructured.Unstructured) (*metav1.ObjectMeta, error) {
	m := &metav1.ObjectMeta{}
	raw, ok := u.Object["metadata"]
	if !ok || raw == nil {
		return m, nil
	}
	mm, ok := raw.(map[string]any)
	if !ok {
		return nil, cannotHandle(e, "metadata must be an object")
	}
	if fast, ok := metaFromMap(mm); ok {
		return fast, nil
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(mm, m); err != nil {
		return nil, cannotHandle(e, fmt.Sprintf("metadata: %v", err))
	}
	return m, nil
}

// metaToValidate is metaOf without managedFields' fieldsV1, which no validation of
// metadata reads and which was most of the conversion's cost, paid twice on every
// update. A request's metadata is converted whole when it arrives (metaOf), so a
// malformed fieldsV1 is refused there, and what is stored carries the field
// manager's own encoding of managedFields.
func metaToValidate(e *registry.Entry, u *unstructured.Unstructured) (*metav1.ObjectMeta, error) {
	mm, ok := u.Object["metadata"].(map[string]any)
	mfs, hasMF := mm["managedFields"].([]any)
	if !ok || !hasMF {
		return metaOf(e, u)
	}
	slim := make([]any, len(mfs))
	for i, x := range mfs {
		entry, ok := x.(map[string]any)
		if !ok {
			return metaOf(e, u) // the whole conversion says what is wrong
		}
		c := make(map[string]any, len(entry))
		for k, v := range entry {
			if k != "fieldsV1" {
				c[k] = v
			}
		}
		slim[i] = c
	}
	meta := make(map[string]any, len(mm))
	for k, v := range mm {
		meta[k] = v
	}
	meta["managedFields"] = slim
	return metaOf(e, &unstructured.Unstructured{Object: map[string]any{"metadata": meta}})
}

// cannotHandle is kube-apiserver's wording for a body that does not decode as the kind.
func cannotHandle(e *registry.Entry, detail string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %s", e.Kind.Kind, e.Version, e.Kind.Kind, detail))
}

// checkIdentity sets apiVersion and kind when absent and rejects a body for another kind.
func checkIdentity(e *registry.Entry, u *unstructured.Unstructured) error {
	av, k := u.GetAPIVersion(), u.GetKind()
	if av == "" {
		u.SetAPIVersion(e.APIVersion())
	}
	if k == "" {
		u.SetKind(e.Kind.Kind)
	}
	if (av != "" && av != e.APIVersion()) || (k != "" && k != e.Kind.Kind) {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) and kind (%s) do not match the endpoint %s %s", av, k, e.APIVersion(), e.Kind.Kind))
	}
	return nil
}

// pruneAndDefault drops unknown fields and applies schema defaults, reporting unknown and
// duplicate fields as the field validation directive asks.
func pruneAndDefault(e *registry.Entry, u *unstructured.Unstructured, opts *WriteOptions) ([]string, error) {
	warnings, err := prune(e, u, opts)
	if err == nil {
		e.Structural.Default(u.Object)
	}
	return warnings, err
}

// prune drops unknown fields and reports them, with duplicate fields, as the field
// validation directive asks. An applied configuration is pruned but not defaulted:
// defaults there would claim ownership of fields the applier never set.
func prune(e *registry.Entry, u *unstructured.Unstructured, opts *WriteOptions) ([]string, error) {
	unknown := e.Structural.Prune(u.Object)
	var problems []string
	problems = append(problems, opts.DecodeProblems...)
	for _, p := range unknown {
		problems = append(problems, fmt.Sprintf("unknown field %q", p))
	}
	if len(problems) == 0 {
		return nil, nil
	}
	switch opts.FieldValidation {
	case FieldValidationStrict:
		return nil, cannotHandle(e, "strict decoding error: "+strings.Join(problems, ", "))
	case FieldValidationIgnore:
		return nil, nil
	}
	return problems, nil
}

// checkFieldValidation rejects an unknown directive.
func checkFieldValidation(v string) error {
	switch v {
	case "", FieldValidationStrict, FieldValidationWarn, FieldValidationIgnore:
		return nil
	}
	return apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of %q, %q or %q, not %q", FieldValidationIgnore, FieldValidationWarn, FieldValidationStrict, v))
}

func nameValidator(e *registry.Entry) validation.ValidateNameFunc {
	switch e.NameFormat {
	case registry.NameDNSLabel:
		return validation.NameIsDNSLabel
	case registry.NamePathSegment:
		return path.ValidatePathSegmentName
	}
	return validation.NameIsDNSSubdomain
}

// validate checks metadata and the schema; old is nil on create.
func validate(e *registry.Entry, u, old *unstructured.Unstructured) error {
	m, err := metaToValidate(e, u)
	if err != nil {
		return err
	}
	errs := validation.ValidateObjectMetaAccessor(m, e.Namespaced, nameValidator(e), field.NewPath("metadata"))
	if old != nil {
		om, err := metaToValidate(e, old)
		if err != nil {
			return err
		}
		errs = append(errs, validation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))...)
		if om.DeletionTimestamp != nil {
			errs = append(errs, validation.ValidateNoNewFinalizers(m.Finalizers, om.Finalizers, field.NewPath("metadata", "finalizers"))...)
		}
	}
	errs = append(errs, e.Structural.Validate(u.Object)...)
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: e.Group, Kind: e.Kind.Kind}, u.GetName(), errs)
	}
	return nil
}

// contentChanged reports whether anything but metadata (and status, when the kind has
// a status subresource) differs: the rule for bumping metadata.generation.
func contentChanged(e *registry.Entry, a, b map[string]any) bool {
	skip := func(k string) bool { return k == "metadata" || (e.Status && k == "status") }
	for k, v := range a {
		if !skip(k) && !wschema.JSONEqual(v, b[k]) {
			return true
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && !skip(k) {
			return true
		}
	}
	return false
}

func hasFinalizer(u *unstructured.Unstructured, f string) bool {
	return slices.Contains(u.GetFinalizers(), f)
}

func setFinalizer(u *unstructured.Unstructured, f string, on bool) {
	fs := u.GetFinalizers()
	has := slices.Contains(fs, f)
	switch {
	case on && !has:
		u.SetFinalizers(append(fs, f))
	case !on && has:
		fs = slices.DeleteFunc(fs, func(s string) bool { return s == f })
		if len(fs) == 0 {
			fs = nil // drop the field rather than store an empty list
		}
		u.SetFinalizers(fs)
	}
}
