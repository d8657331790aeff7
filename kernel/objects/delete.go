package objects

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

// DeleteOptions are the options of a delete.
type DeleteOptions struct {
	DryRun            bool
	PropagationPolicy *metav1.DeletionPropagation
	Preconditions     *metav1.Preconditions
	// GracePeriodSeconds overrides the object's own grace period for kinds with
	// graceful deletion (pods); 0 deletes at once.
	GracePeriodSeconds *int64
}

// DeleteResult is the outcome of a delete.
type DeleteResult struct {
	// Object is the object as it was last stored.
	Object *unstructured.Unstructured
	// Deleted reports that the object is gone. When false, finalizers hold it and
	// Object carries its deletionTimestamp.
	Deleted  bool
	Warnings []string
}

// Delete deletes an object, or marks it for deletion when finalizers hold it. The
// propagation policy decides what happens to its dependents: Background leaves them to
// the garbage collector, Foreground holds the owner until they are gone, Orphan
// releases them.
func (s *Service) Delete(ctx context.Context, e *registry.Entry, namespace, name string, opts DeleteOptions) (DeleteResult, error) {
	if isNamespace(e) {
		if err := checkNamespaceDeletable(e, name); err != nil {
			return DeleteResult{}, err
		}
	}
	policy := metav1.DeletePropagationBackground
	if opts.PropagationPolicy != nil {
		policy = *opts.PropagationPolicy
		switch policy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return DeleteResult{}, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy %q is not one of Orphan, Background, Foreground", policy))
		}
	}
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		cur, kv, err := s.get(ctx, e, namespace, name)
		if err != nil {
			return DeleteResult{}, err
		}
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != cur.GetUID() {
				return DeleteResult{}, apierrors.NewConflict(gr(e), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, cur.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != cur.GetResourceVersion() {
				return DeleteResult{}, apierrors.NewConflict(gr(e), name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, cur.GetResourceVersion()))
			}
		}
		user, _ := UserFrom(ctx)
		a := &Attributes{Kind: e, Operation: OpDelete, Namespace: namespace, Name: name, OldObject: cur, User: user, DryRun: opts.DryRun}
		warnings, err := s.admit(ctx, a, func() error { return nil })
		if err != nil {
			return DeleteResult{Warnings: warnings}, err
		}

		next := cur.DeepCopy()
		// The policy is recorded as a finalizer the garbage collector honours; a later
		// delete with another policy replaces it, as in Kubernetes.
		if opts.PropagationPolicy != nil || cur.GetDeletionTimestamp() == nil {
			setFinalizer(next, metav1.FinalizerOrphanDependents, policy == metav1.DeletePropagationOrphan)
			setFinalizer(next, metav1.FinalizerDeleteDependents, policy == metav1.DeletePropagationForeground)
		}
		grace := gracePeriod(e, cur, opts.GracePeriodSeconds)
		if grace > 0 {
			// A graceful delete: the object stays, marked, until whatever runs it has
			// stopped it and deletes it with a grace period of 0.
			if cur.GetDeletionTimestamp() != nil && !shortens(cur, grace) && slices.Equal(cur.GetFinalizers(), next.GetFinalizers()) {
				return DeleteResult{Object: cur, Warnings: warnings}, nil
			}
			deadline := metav1.NewTime(s.now().Add(time.Duration(grace) * time.Second))
			if cur.GetDeletionTimestamp() == nil || shortens(cur, grace) {
				next.SetDeletionTimestamp(&deadline)
				next.SetDeletionGracePeriodSeconds(&grace)
			}
			res, retry, err := s.markDeleted(ctx, e, kv, next, opts)
			if retry {
				continue
			}
			res.Warnings = append(warnings, res.Warnings...)
			return res, err
		}
		if !pendingFinalizers(e, next) {
			if opts.DryRun {
				return DeleteResult{Object: cur, Deleted: true, Warnings: warnings}, nil
			}
			_, _, err := s.store.Delete(ctx, kv.Key, kv.ModRevision)
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			if err != nil {
				return DeleteResult{Warnings: warnings}, storeError(e, name, err)
			}
			return DeleteResult{Object: cur, Deleted: true, Warnings: warnings}, nil
		}

		if cur.GetDeletionTimestamp() != nil && slices.Equal(cur.GetFinalizers(), next.GetFinalizers()) {
			return DeleteResult{Object: cur, Warnings: warnings}, nil // already being deleted
		}
		if next.GetDeletionTimestamp() == nil {
			now := metav1.NewTime(s.now())
			zero := int64(0)
			next.SetDeletionTimestamp(&now)
			next.SetDeletionGracePeriodSeconds(&zero)
			if isNamespace(e) {
				_ = unstructured.SetNestedField(next.Object, NamespaceTerminating, "status", "phase")
			}
		}
		res, retry, err := s.markDeleted(ctx, e, kv, next, opts)
		if retry {
			continue
		}
		res.Warnings = append(warnings, res.Warnings...)
		return res, err
	}
	return DeleteResult{}, apierrors.NewConflict(gr(e), name, errModified)
}

// markDeleted stores next, an object marked for deletion, with compare-and-swap on
// kv's revision; retry reports a lost race.
func (s *Service) markDeleted(ctx context.Context, e *registry.Entry, kv store.KV, next *unstructured.Unstructured, opts DeleteOptions) (DeleteResult, bool, error) {
	raw, err := s.encode(e, kv.Key, next)
	if err != nil {
		return DeleteResult{}, false, err
	}
	if opts.DryRun {
		return DeleteResult{Object: next}, false, nil
	}
	nkv, err := s.store.Update(ctx, kv.Key, raw, kv.ModRevision)
	if errors.Is(err, store.ErrConflict) {
		return DeleteResult{}, true, nil
	}
	if err != nil {
		return DeleteResult{}, false, storeError(e, next.GetName(), err)
	}
	next.SetResourceVersion(strconv.FormatInt(nkv.ModRevision, 10))
	return DeleteResult{Object: next}, false, nil
}

// gracePeriod is the grace period of a delete: 0 for kinds without graceful deletion
// and for objects that are not bound or have finished; otherwise the request's, or
// the object's own, or 30 seconds.
func gracePeriod(e *registry.Entry, obj *unstructured.Unstructured, requested *int64) int64 {
	g := e.Graceful
	if g == nil {
		return 0
	}
	if g.BoundPath != "" {
		if v, _ := registry.Lookup(obj.Object, g.BoundPath).(string); v == "" {
			return 0
		}
	}
	if g.TerminalPath != "" {
		if v, _ := registry.Lookup(obj.Object, g.TerminalPath).(string); slices.Contains(g.TerminalValues, v) {
			return 0
		}
	}
	if requested != nil {
		return max(*requested, 0)
	}
	if g.DefaultPath != "" {
		if v, ok := registry.Lookup(obj.Object, g.DefaultPath).(int64); ok {
			return max(v, 0)
		}
	}
	return 30
}

// shortens reports whether grace ends an object's deletion sooner than it would.
func shortens(obj *unstructured.Unstructured, grace int64) bool {
	cur := obj.GetDeletionGracePeriodSeconds()
	return cur == nil || grace < *cur
}

// DeleteCollection deletes every object in namespace that the selector matches and
// returns what it deleted or marked for deletion.
func (s *Service) DeleteCollection(ctx context.Context, e *registry.Entry, namespace string, sel Selector, opts DeleteOptions) (*unstructured.UnstructuredList, error) {
	list, err := s.List(ctx, e, namespace, ListOptions{Selector: sel})
	if err != nil {
		return nil, err
	}
	out := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": e.APIVersion(), "kind": e.ListKind}}
	for i := range list.Items {
		item := &list.Items[i]
		res, err := s.Delete(ctx, e, item.GetNamespace(), item.GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, *res.Object)
	}
	out.SetResourceVersion(list.GetResourceVersion())
	return out, nil
}
