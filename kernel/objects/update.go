package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"weft.dev/weft/kernel/registry"
	wschema "weft.dev/weft/kernel/schema"
	"weft.dev/weft/store"
)

// maxUpdateAttempts bounds the read-modify-write loop under contention.
const maxUpdateAttempts = 32

// errRetry marks a store conflict the update loop retries because the caller did not
// pin a resourceVersion.
var errRetry = errors.New("retry")

// Subresources the kernel implements for every kind that enables them.
const (
	SubStatus   = "status"
	SubScale    = "scale"
	SubFinalize = "finalize" // namespaces only
)

// Update replaces an object (or its status, or a namespace's finalizers). A
// resourceVersion in obj is a precondition; without one the update is unconditional.
func (s *Service) Update(ctx context.Context, e *registry.Entry, namespace, name, sub string, obj *unstructured.Unstructured, opts WriteOptions) (Result, error) {
	if err := checkFieldValidation(opts.FieldValidation); err != nil {
		return Result{}, err
	}
	if err := checkIdentity(e, obj); err != nil {
		return Result{}, err
	}
	if obj.GetName() != "" && obj.GetName() != name {
		return Result{}, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", obj.GetName(), name))
	}
	if e.Namespaced && obj.GetNamespace() != "" && obj.GetNamespace() != namespace {
		return Result{}, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	warnings, err := pruneAndDefault(e, obj, &opts)
	if err != nil {
		return Result{}, err
	}
	if _, err := metaOf(e, obj); err != nil {
		return Result{}, err
	}
	pinned := obj.GetResourceVersion()
	res, err := s.updateLoop(ctx, e, namespace, name, sub, opts, func(cur *unstructured.Unstructured) (*unstructured.Unstructured, bool, error) {
		if pinned != "" && pinned != cur.GetResourceVersion() {
			return nil, false, apierrors.NewConflict(gr(e), name, errModified)
		}
		return obj.DeepCopy(), false, nil
	})
	res.Warnings = append(warnings, res.Warnings...)
	return res, err
}

// transform turns the current object into the next one. managed reports that it set
// managedFields itself (server-side apply), so the loop must not track the change again.
type transform func(cur *unstructured.Unstructured) (next *unstructured.Unstructured, managed bool, err error)

// updateLoop is the optimistic-concurrency loop every update goes through: read,
// transform, write with compare-and-swap, and try again when someone else wrote first.
//
// The current version comes from the shared decodes (DecodeShared), which the watchers
// of the kind have usually made already, so cur is read only: fn edits a copy, and
// nothing of cur is put into what is stored or returned without a copy.
func (s *Service) updateLoop(ctx context.Context, e *registry.Entry, namespace, name, sub string, opts WriteOptions, fn transform) (Result, error) {
	for attempt := 0; ; attempt++ {
		kv, err := s.store.Get(ctx, e.Key(namespace, name), 0)
		if err != nil {
			return Result{}, storeError(e, name, err)
		}
		cur, err := s.DecodeShared(e, kv)
		if err != nil {
			return Result{}, err
		}
		next, managed, err := fn(cur.DeepCopy())
		if err != nil {
			return Result{}, err
		}
		res, err := s.commitUpdate(ctx, e, sub, cur, kv, next, managed, opts)
		if errors.Is(err, errRetry) && attempt < maxUpdateAttempts {
			continue
		}
		if errors.Is(err, errRetry) {
			return Result{}, apierrors.NewConflict(gr(e), name, errModified)
		}
		return res, err
	}
}

// commitUpdate turns next into the stored successor of cur: it restores what the
// server owns, applies subresource rules, tracks managed fields, admits, validates and
// writes with compare-and-swap on cur's revision.
func (s *Service) commitUpdate(ctx context.Context, e *registry.Entry, sub string, cur *unstructured.Unstructured, kv store.KV, next *unstructured.Unstructured, managed bool, opts WriteOptions) (Result, error) {
	name := cur.GetName()
	if uid := next.GetUID(); uid != "" && uid != cur.GetUID() {
		return Result{}, apierrors.NewConflict(gr(e), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, cur.GetUID()))
	}
	switch sub {
	case "":
		if e.Status {
			copyField(cur, next, "status")
		}
	case SubStatus:
		// Only status changes; managedFields carry the status writer's ownership.
		keepStatusOnly(cur, next)
	case SubFinalize:
		fs, hasFS, _ := unstructured.NestedFieldCopy(next.Object, "spec", "finalizers")
		next = cur.DeepCopy()
		if hasFS {
			_ = unstructured.SetNestedField(next.Object, fs, "spec", "finalizers")
		} else {
			unstructured.RemoveNestedField(next.Object, "spec", "finalizers")
		}
	}
	if isNamespace(e) {
		prepareNamespaceUpdate(sub, cur, next)
	}
	next.SetName(cur.GetName())
	next.SetNamespace(cur.GetNamespace())
	next.SetUID(cur.GetUID())
	next.SetCreationTimestamp(cur.GetCreationTimestamp())
	next.SetDeletionTimestamp(cur.GetDeletionTimestamp())
	next.SetDeletionGracePeriodSeconds(cur.GetDeletionGracePeriodSeconds())
	next.SetResourceVersion(cur.GetResourceVersion())
	next.SetSelfLink("")
	next.SetGeneration(cur.GetGeneration())
	user, _ := UserFrom(ctx)
	a := &Attributes{Kind: e, Operation: OpUpdate, Namespace: cur.GetNamespace(), Name: name, Subresource: sub, Object: next, OldObject: cur, User: user, DryRun: opts.DryRun}
	warnings, err := s.admit(ctx, a, func() error {
		if opts.storageOnly {
			return nil
		}
		return validate(e, a.Object, cur)
	})
	if err != nil {
		return Result{Warnings: warnings}, err
	}
	next = a.Object
	// Judged on what will be stored: admission may undo a change (Secret stringData).
	if contentChanged(e, cur.Object, next.Object) {
		next.SetGeneration(cur.GetGeneration() + 1)
	}
	if !managed {
		// Ownership is computed on the final, valid object, after admission.
		fmSub := sub
		if sub == SubFinalize {
			fmSub = ""
		}
		fm, err := s.managers.get(e, fmSub)
		if err != nil {
			return Result{}, managerError(err)
		}
		if sub == SubStatus {
			name := managerName(opts.FieldManager, s.agent(ctx))
			if o, ok := s.managers.statusOwnership(e); !ok || !trackStatusFast(o, cur, next, name, time.Now()) {
				next = trackStatus(fm, cur, next, name)
			}
		} else {
			next = trackUpdate(fm, cur, next, managerName(opts.FieldManager, s.agent(ctx)))
		}
	}

	plain, err := s.marshal(next)
	if err != nil {
		return Result{Warnings: warnings}, err
	}
	// The stored bytes are what marshal made of cur, unless sealed.
	old := kv.Value
	if e.EncryptAtRest || len(old) > 0 && old[0] != '{' {
		old, _ = s.marshal(cur)
	}
	if bytes.Equal(old, plain) {
		// Nothing changed: kube-apiserver skips the write and keeps the revision.
		return Result{Object: cur.DeepCopy(), Warnings: warnings}, nil
	}
	if opts.DryRun {
		return Result{Object: next, Warnings: warnings}, nil
	}
	if g := next.GetDeletionGracePeriodSeconds(); next.GetDeletionTimestamp() != nil && !pendingFinalizers(e, next) && (g == nil || *g == 0) {
		// The last finalizer is gone: the deletion the client asked for completes now.
		// A graceful deletion still running completes with its final delete instead.
		_, rev, err := s.store.Delete(ctx, kv.Key, kv.ModRevision)
		if errors.Is(err, store.ErrConflict) {
			return Result{}, errRetry
		}
		if err != nil {
			return Result{Warnings: warnings}, storeError(e, name, err)
		}
		next.SetResourceVersion(strconv.FormatInt(rev, 10))
		return Result{Object: next, Warnings: warnings}, nil
	}
	raw, err := s.seal(e, kv.Key, plain)
	if err != nil {
		return Result{Warnings: warnings}, err
	}
	nkv, err := s.store.Update(ctx, kv.Key, raw, kv.ModRevision)
	if errors.Is(err, store.ErrConflict) {
		return Result{}, errRetry
	}
	if err != nil {
		return Result{Warnings: warnings}, storeError(e, name, err)
	}
	next.SetResourceVersion(strconv.FormatInt(nkv.ModRevision, 10))
	out := Result{Object: next, Warnings: warnings}
	if plainJSON(e, raw) {
		out.JSON = raw
	}
	return out, nil
}

// pendingFinalizers reports whether anything still holds the object's deletion.
func pendingFinalizers(e *registry.Entry, obj *unstructured.Unstructured) bool {
	if len(obj.GetFinalizers()) > 0 {
		return true
	}
	return isNamespace(e) && len(NamespaceFinalizers(obj)) > 0
}

// keepStatusOnly makes next, a status write's object, cur with next's status and
// managedFields (cur's when next has none): whatever else next changed is put back.
// next is the writer's own copy, so what it left as it was is kept rather than
// copied again; a second copy of the whole pod was a fifth of a node's status write.
func keepStatusOnly(cur, next *unstructured.Unstructured) {
	nextMeta, _ := next.Object["metadata"].(map[string]any)
	curMeta, _ := cur.Object["metadata"].(map[string]any)
	mf, hasMF := nextMeta["managedFields"]
	restore(next.Object, cur.Object, func(k string) bool { return k == "status" || k == "metadata" })
	switch {
	case curMeta == nil:
		delete(next.Object, "metadata")
		return
	case nextMeta == nil:
		nextMeta = runtime.DeepCopyJSONValue(curMeta).(map[string]any)
		next.Object["metadata"] = nextMeta
	default:
		restore(nextMeta, curMeta, func(k string) bool { return k == "managedFields" })
	}
	if !hasMF {
		mf, hasMF = curMeta["managedFields"]
		mf = runtime.DeepCopyJSONValue(mf)
	}
	if hasMF {
		nextMeta["managedFields"] = mf
	} else {
		delete(nextMeta, "managedFields")
	}
}

// restore makes dst's members equal src's, but those keep names: members equal
// already stay, others are copied from src, which may be shared.
func restore(dst, src map[string]any, keep func(string) bool) {
	for k, v := range src {
		if keep(k) {
			continue
		}
		if dv, ok := dst[k]; !ok || !wschema.JSONEqual(v, dv) {
			dst[k] = runtime.DeepCopyJSONValue(v)
		}
	}
	for k := range dst {
		if _, ok := src[k]; !ok && !keep(k) {
			delete(dst, k)
		}
	}
}

func copyField(from, to *unstructured.Unstructured, field string) {
	if v, ok := from.Object[field]; ok {
		to.Object[field] = runtime.DeepCopyJSONValue(v) // from may be shared
	} else {
		delete(to.Object, field)
	}
}

// Assign is the write behind a subresource such as pods/binding, which kube-apiserver
// applies to storage directly, and behind the kernel's own bookkeeping writes (Lease
// renewals): fn edits a copy of the current object, the hooks registered for the
// subresource admit it, and it is written with compare-and-swap, retrying when
// someone else wrote first. The whole object is not validated again and no managed
// fields are recorded (a scheduler owns no field of the pod it binds), so fn alone
// answers for the change being valid.
func (s *Service) Assign(ctx context.Context, e *registry.Entry, namespace, name, sub string, fn func(cur *unstructured.Unstructured) error, opts WriteOptions) (Result, error) {
	opts.storageOnly = true
	return s.updateLoop(ctx, e, namespace, name, sub, opts, func(cur *unstructured.Unstructured) (*unstructured.Unstructured, bool, error) {
		if err := fn(cur); err != nil {
			return nil, false, err
		}
		return cur, true, nil
	})
}

// Mutate changes an object through the normal update path: fn edits a copy of the
// current object, then the change is admitted, validated and written with
// compare-and-swap, retrying when someone else wrote first. Kernel controllers (garbage
// collection, namespace lifecycle) write this way, so their writes obey the same rules
// as a client's.
func (s *Service) Mutate(ctx context.Context, e *registry.Entry, namespace, name, sub string, fn func(cur *unstructured.Unstructured) error, opts WriteOptions) (Result, error) {
	return s.updateLoop(ctx, e, namespace, name, sub, opts, func(cur *unstructured.Unstructured) (*unstructured.Unstructured, bool, error) {
		if err := fn(cur); err != nil {
			return nil, false, err
		}
		return cur, false, nil
	})
}
