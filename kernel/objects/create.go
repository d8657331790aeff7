package objects

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

// WriteOptions are the options shared by create, update and patch.
type WriteOptions struct {
	DryRun          bool
	FieldManager    string
	FieldValidation string // Strict, Warn (default) or Ignore
	// DecodeProblems are findings of strict decoding of the request body, such as
	// duplicate fields; they are reported like unknown fields.
	DecodeProblems []string
	// Force takes ownership of conflicting fields in a server-side apply.
	Force bool

	// storageOnly skips schema validation of the whole object (Assign).
	storageOnly bool
}

// Result is the outcome of a write.
type Result struct {
	Object   *unstructured.Unstructured
	Warnings []string
	// Created reports that the write created the object (201 rather than 200).
	Created bool
	// JSON is what the write stored, Object's encoding without its resourceVersion
	// (ujson.AppendWithResourceVersion puts it back), when the kind is stored
	// unsealed; nil otherwise. A response written from it is not encoded twice, so
	// whoever answers with another Object must clear it.
	JSON []byte
}

// maxGenerateNameAttempts bounds retries when a generated name collides.
const maxGenerateNameAttempts = 8

// Create stores a new object in namespace.
func (s *Service) Create(ctx context.Context, e *registry.Entry, namespace string, obj *unstructured.Unstructured, opts WriteOptions) (Result, error) {
	if err := checkFieldValidation(opts.FieldValidation); err != nil {
		return Result{}, err
	}
	if err := checkIdentity(e, obj); err != nil {
		return Result{}, err
	}
	if e.Namespaced {
		if ns := obj.GetNamespace(); ns != "" && ns != namespace {
			return Result{}, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		obj.SetNamespace(namespace)
	} else {
		obj.SetNamespace("")
	}
	warnings, err := pruneAndDefault(e, obj, &opts)
	if err != nil {
		return Result{}, err
	}
	if _, err := metaOf(e, obj); err != nil {
		return Result{}, err
	}
	s.resetForCreate(e, obj)
	res, err := s.createPrepared(ctx, e, obj, false, opts)
	res.Warnings = append(warnings, res.Warnings...)
	return res, err
}

// resetForCreate sets the metadata the server owns.
func (s *Service) resetForCreate(e *registry.Entry, obj *unstructured.Unstructured) {
	obj.SetUID(uuid.NewUUID())
	obj.SetCreationTimestamp(metav1.NewTime(s.now()))
	obj.SetResourceVersion("")
	obj.SetSelfLink("")
	obj.SetDeletionTimestamp(nil)
	obj.SetDeletionGracePeriodSeconds(nil)
	obj.SetGeneration(1)
	if e.Status {
		delete(obj.Object, "status")
	}
	if isNamespace(e) {
		prepareNamespaceCreate(obj)
	}
}

// createPrepared admits, validates and stores an object whose server-owned metadata
// is already set. managed reports that managedFields are already computed (apply).
func (s *Service) createPrepared(ctx context.Context, e *registry.Entry, obj *unstructured.Unstructured, managed bool, opts WriteOptions) (Result, error) {
	generated := obj.GetName() == "" && obj.GetGenerateName() != ""
	if generated {
		obj.SetName(generateName(obj.GetGenerateName()))
	}
	user, _ := UserFrom(ctx)
	a := &Attributes{Kind: e, Operation: OpCreate, Namespace: obj.GetNamespace(), Name: obj.GetName(), Object: obj, User: user, DryRun: opts.DryRun}
	warnings, err := s.admit(ctx, a, func() error { return validate(e, a.Object, nil) })
	if err != nil {
		return Result{Warnings: warnings}, err
	}
	obj = a.Object
	if !managed {
		// Ownership is computed on the final, valid object, after admission.
		fm, err := s.managers.get(e, "")
		if err != nil {
			return Result{Warnings: warnings}, managerError(err)
		}
		name := managerName(opts.FieldManager, s.agent(ctx))
		if o, ok := s.managers.createOwnership(e); !ok || !trackCreateFast(o, obj, name, time.Now()) {
			obj = trackUpdate(fm, newObject(e), obj, name)
		}
	}

	for attempt := 0; ; attempt++ {
		key := e.Key(obj.GetNamespace(), obj.GetName())
		ops := []store.Op{{Type: store.OpCreate, Key: key}}
		if e.Namespaced {
			check, err := s.namespaceOpen(ctx, e, obj.GetNamespace(), obj.GetName())
			if err != nil {
				return Result{Warnings: warnings}, err
			}
			ops = append(ops, check)
		}
		raw, err := s.encode(e, key, obj)
		if err != nil {
			return Result{Warnings: warnings}, err
		}
		ops[0].Value = raw
		if opts.DryRun {
			if _, err := s.store.Get(ctx, key, 0); err == nil {
				return Result{Warnings: warnings}, apierrors.NewAlreadyExists(gr(e), obj.GetName())
			}
			return Result{Object: obj, Warnings: warnings, Created: true}, nil
		}
		res, err := s.store.Txn(ctx, ops)
		var te *store.TxnError
		switch {
		case err == nil:
			obj.SetResourceVersion(strconv.FormatInt(res.Revision, 10))
			out := Result{Object: obj, Warnings: warnings, Created: true}
			if plainJSON(e, raw) {
				out.JSON = raw
			}
			return out, nil
		case errors.As(err, &te) && te.Index == 0 && generated && attempt < maxGenerateNameAttempts:
			// A generated name collided; a new suffix from the same valid base is valid too.
			obj.SetName(generateName(obj.GetGenerateName()))
		case errors.As(err, &te) && te.Index == 1 && attempt < maxGenerateNameAttempts:
			// The namespace changed under us: look at it again.
		case errors.As(err, &te) && te.Index == 0:
			return Result{Warnings: warnings}, apierrors.NewAlreadyExists(gr(e), obj.GetName())
		default:
			return Result{Warnings: warnings}, storeError(e, obj.GetName(), err)
		}
	}
}

// generateName appends a random suffix, keeping within the name length limit as
// kube-apiserver's generator does.
func generateName(base string) string {
	const maxNameLength, randomLength = 63, 5
	if len(base) > maxNameLength-randomLength {
		base = base[:maxNameLength-randomLength]
	}
	return base + utilrand.String(randomLength)
}

// admit runs mutating admission, re-applies the schema to what it produced, validates
// the result with validateFn, then runs validating admission.
func (s *Service) admit(ctx context.Context, a *Attributes, validateFn func() error) ([]string, error) {
	if s.cfg.Admission == nil {
		return nil, validateFn()
	}
	warnings, err := s.cfg.Admission.Mutate(ctx, a)
	if err != nil {
		return warnings, admissionError(err)
	}
	if a.Object != nil {
		// Admission may add fields the schema does not know; they are dropped silently,
		// as kube-apiserver prunes webhook output.
		a.Kind.Structural.Prune(a.Object.Object)
		a.Kind.Structural.Default(a.Object.Object)
	}
	if err := validateFn(); err != nil {
		return warnings, err
	}
	w, err := s.cfg.Admission.Validate(ctx, a)
	warnings = append(warnings, w...)
	if err != nil {
		return warnings, admissionError(err)
	}
	return warnings, nil
}

func admissionError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	return apierrors.NewInternalError(fmt.Errorf("admission: %w", err))
}

func (s *Service) agent(ctx context.Context) string {
	u, _ := UserFrom(ctx)
	return u.Agent
}
