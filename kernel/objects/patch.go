package objects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/ujson"
)

// maxJSONPatchOps bounds the work one JSON patch can ask for, as kube-apiserver does.
const maxJSONPatchOps = 10000

// Patch applies a JSON, merge, strategic merge or server-side apply patch to an object
// or one of its subresources. A server-side apply to a missing object creates it.
func (s *Service) Patch(ctx context.Context, e *registry.Entry, namespace, name, sub string, pt types.PatchType, data []byte, opts WriteOptions) (Result, error) {
	if err := checkFieldValidation(opts.FieldValidation); err != nil {
		return Result{}, err
	}
	if sub == SubScale {
		return s.patchScale(ctx, e, namespace, name, pt, data, opts)
	}
	if pt == types.ApplyPatchType || pt == types.ApplyYAMLPatchType {
		return s.apply(ctx, e, namespace, name, sub, data, opts)
	}
	apply, err := patcher(e, pt, data)
	if err != nil {
		return Result{}, err
	}
	var warnings []string
	res, err := s.updateLoop(ctx, e, namespace, name, sub, opts, func(cur *unstructured.Unstructured) (*unstructured.Unstructured, bool, error) {
		curJSON, err := ujson.Marshal(cur.Object)
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		patched, err := apply(curJSON)
		if err != nil {
			return nil, false, err
		}
		next, problems, err := DecodeBody(patched, false)
		if err != nil {
			return nil, false, err
		}
		o := opts
		o.DecodeProblems = problems
		if err := checkIdentity(e, next); err != nil {
			return nil, false, err
		}
		if next.GetName() != name {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", next.GetName(), name))
		}
		if next.GetNamespace() != cur.GetNamespace() {
			return nil, false, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		if next.GetResourceVersion() != cur.GetResourceVersion() {
			// The patch pinned a resourceVersion that is no longer current.
			return nil, false, apierrors.NewConflict(gr(e), name, errModified)
		}
		if _, err := metaOf(e, next); err != nil {
			return nil, false, err
		}
		warnings, err = pruneAndDefault(e, next, &o)
		return next, false, err
	})
	res.Warnings = append(warnings, res.Warnings...)
	return res, err
}

// patcher returns the function that applies data, of type pt, to an object's JSON.
func patcher(e *registry.Entry, pt types.PatchType, data []byte) (func([]byte) ([]byte, error), error) {
	invalid := func(err error) error {
		return apierrors.NewInvalid(e.GVK().GroupKind(), "", field.ErrorList{field.Invalid(field.NewPath("patch"), string(data), err.Error())})
	}
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(data)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
		if len(p) > maxJSONPatchOps {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOps, len(p)))
		}
		opts := jsonpatch.NewApplyOptions()
		opts.SupportNegativeIndices = false
		opts.AccumulatedCopySizeLimit = DefaultMaxObjectSize
		return func(doc []byte) ([]byte, error) {
			out, err := p.ApplyWithOptions(doc, opts)
			if err != nil {
				var tooLarge *jsonpatch.AccumulatedCopySizeError
				if errors.As(err, &tooLarge) {
					return nil, apierrors.NewRequestEntityTooLargeError(err.Error())
				}
				return nil, invalid(err)
			}
			return out, nil
		}, nil
	case types.MergePatchType:
		if !json.Valid(data) {
			return nil, apierrors.NewBadRequest("error decoding patch: invalid JSON")
		}
		return func(doc []byte) ([]byte, error) {
			out, err := jsonpatch.MergePatch(doc, data)
			if err != nil {
				return nil, invalid(err)
			}
			return out, nil
		}, nil
	case types.StrategicMergePatchType:
		var probe map[string]any
		if err := json.Unmarshal(data, &probe); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
		meta := e.Structural.PatchMeta()
		return func(doc []byte) ([]byte, error) {
			out, err := strategicpatch.StrategicMergePatchUsingLookupPatchMeta(doc, data, meta)
			if err != nil {
				return nil, invalid(err)
			}
			return out, nil
		}, nil
	}
	return nil, UnsupportedMediaType(string(pt))
}

// apply is server-side apply: the field manager merges the applied configuration into
// the live object and records ownership, or reports conflicts with other managers.
func (s *Service) apply(ctx context.Context, e *registry.Entry, namespace, name, sub string, data []byte, opts WriteOptions) (Result, error) {
	if opts.FieldManager == "" {
		return Result{}, apierrors.NewBadRequest("PATCH, application/apply-patch+yaml requests require fieldManager to be set")
	}
	applied, problems, err := DecodeBody(data, true)
	if err != nil {
		return Result{}, err
	}
	if applied.GetAPIVersion() == "" || applied.GetKind() == "" {
		return Result{}, apierrors.NewBadRequest("apiVersion and kind must be set in an applied configuration")
	}
	if err := checkIdentity(e, applied); err != nil {
		return Result{}, err
	}
	if applied.GetName() != "" && applied.GetName() != name {
		return Result{}, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), name))
	}
	if e.Namespaced && applied.GetNamespace() != "" && applied.GetNamespace() != namespace {
		return Result{}, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	applied.SetName(name)
	if e.Namespaced {
		applied.SetNamespace(namespace)
	}
	opts.DecodeProblems = problems
	warnings, err := prune(e, applied, &opts)
	if err != nil {
		return Result{}, err
	}
	if _, err := metaOf(e, applied); err != nil {
		return Result{}, err
	}
	fmSub := sub
	if sub == SubFinalize {
		fmSub = ""
	}
	fm, err := s.managers.get(e, fmSub)
	if err != nil {
		return Result{}, managerError(err)
	}
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		res, err := s.updateLoop(ctx, e, namespace, name, sub, opts, func(cur *unstructured.Unstructured) (*unstructured.Unstructured, bool, error) {
			if rv := applied.GetResourceVersion(); rv != "" && rv != cur.GetResourceVersion() {
				return nil, false, apierrors.NewConflict(gr(e), name, errModified)
			}
			out, err := fm.Apply(cur, applied.DeepCopy(), opts.FieldManager, opts.Force)
			if err != nil {
				return nil, false, err
			}
			return out.(*unstructured.Unstructured), true, nil
		})
		if !apierrors.IsNotFound(err) || sub != "" {
			res.Warnings = append(warnings, res.Warnings...)
			return res, err
		}
		// Apply creates what does not exist yet.
		out, err := fm.Apply(newObject(e), applied.DeepCopy(), opts.FieldManager, opts.Force)
		if err != nil {
			return Result{Warnings: warnings}, err
		}
		obj := out.(*unstructured.Unstructured)
		obj.SetName(name)
		if e.Namespaced {
			obj.SetNamespace(namespace)
		}
		s.resetForCreate(e, obj)
		res, err = s.createPrepared(ctx, e, obj, true, opts)
		if apierrors.IsAlreadyExists(err) {
			continue // created concurrently: apply to it
		}
		res.Warnings = append(warnings, res.Warnings...)
		return res, err
	}
	return Result{Warnings: warnings}, apierrors.NewConflict(gr(e), name, errModified)
}
