package gc

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
)

var namespaceGVK = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}

func isNamespace(e *registry.Entry) bool { return e != nil && e.GVK() == namespaceGVK }

// touchNamespace requeues a terminating namespace when something in it goes away.
func (c *Collector) touchNamespace(ns string) {
	c.mu.Lock()
	terminating := c.terminating[ns]
	c.mu.Unlock()
	if terminating {
		c.namespaces.Add(ns)
	}
}

func (c *Collector) namespaceWorker(ctx context.Context) {
	for {
		ns, shutdown := c.namespaces.Get()
		if shutdown {
			return
		}
		err := c.finalizeNamespace(ctx, ns)
		switch {
		case err == nil:
			c.namespaces.Forget(ns)
		case ctx.Err() != nil:
		default:
			if err != errPending {
				c.log.Warn("namespace deletion", "namespace", ns, "err", err)
			}
			c.namespaces.AddRateLimited(ns)
		}
		c.namespaces.Done(ns)
	}
}

// finalizeNamespace deletes everything in a terminating namespace and, once nothing is
// left, removes the kubernetes finalizer so the namespace itself goes.
func (c *Collector) finalizeNamespace(ctx context.Context, name string) error {
	nsE, ok := c.reg.Snapshot().LookupKind(namespaceGVK)
	if !ok {
		return nil
	}
	ns, err := c.svc.Get(ctx, nsE, "", name, "")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.GetDeletionTimestamp() == nil || !slices.Contains(objects.NamespaceFinalizers(ns), objects.FinalizerKubernetes) {
		return nil
	}
	remaining := map[string]int{}
	finalizers := map[string]int{}
	background := metav1.DeletePropagationBackground
	for _, e := range c.reg.Snapshot().Entries() {
		if !e.Namespaced {
			continue
		}
		list, err := c.svc.List(ctx, e, name, objects.ListOptions{})
		if err != nil {
			return fmt.Errorf("list %s: %w", e.Resource, err)
		}
		for i := range list.Items {
			item := &list.Items[i]
			remaining[e.Resource+"."+e.Group]++
			for _, f := range item.GetFinalizers() {
				finalizers[f]++
			}
			if item.GetDeletionTimestamp() != nil {
				continue
			}
			uid := item.GetUID()
			_, err := c.svc.Delete(ctx, e, name, item.GetName(), objects.DeleteOptions{
				PropagationPolicy: &background,
				Preconditions:     &metav1.Preconditions{UID: &uid},
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("delete %s %s/%s: %w", e.Resource, name, item.GetName(), err)
			}
		}
	}
	if len(remaining) > 0 {
		// Deletions just issued may have completed; look again before reporting.
		c.setConditions(ctx, nsE, name, remaining, finalizers)
		return errPending
	}
	_, err = c.svc.Mutate(ctx, nsE, "", name, objects.SubFinalize, func(cur *unstructured.Unstructured) error {
		fs := slices.DeleteFunc(objects.NamespaceFinalizers(cur), func(f string) bool { return f == objects.FinalizerKubernetes })
		if len(fs) == 0 {
			unstructured.RemoveNestedField(cur.Object, "spec", "finalizers")
			return nil
		}
		return unstructured.SetNestedStringSlice(cur.Object, fs, "spec", "finalizers")
	}, objects.WriteOptions{FieldManager: "namespace-controller"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// setConditions reports what still holds the namespace, with kube-controller-manager's
// condition types, so `kubectl describe ns` explains a slow deletion.
func (c *Collector) setConditions(ctx context.Context, nsE *registry.Entry, name string, remaining, finalizers map[string]int) {
	describe := func(m map[string]int, what string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s has %d %s", strings.TrimSuffix(k, "."), m[k], what)
		}
		return strings.Join(parts, ", ")
	}
	now := time.Now().UTC().Format(time.RFC3339)
	conds := []any{
		map[string]any{"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
			"message": "Some resources are remaining: " + describe(remaining, "resource instances"), "lastTransitionTime": now},
	}
	if len(finalizers) > 0 {
		conds = append(conds, map[string]any{"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
			"message": "Some content in the namespace has finalizers remaining: " + describe(finalizers, "resource instances"), "lastTransitionTime": now})
	}
	_, err := c.svc.Mutate(ctx, nsE, "", name, objects.SubStatus, func(cur *unstructured.Unstructured) error {
		old, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
		// Keep transition times when nothing but the time would change, so that a
		// waiting namespace is not rewritten on every pass.
		if sameConditions(old, conds) {
			conds = old
		}
		return unstructured.SetNestedSlice(cur.Object, conds, "status", "conditions")
	}, objects.WriteOptions{FieldManager: "namespace-controller"})
	if err != nil && !apierrors.IsNotFound(err) {
		c.log.Debug("namespace conditions", "namespace", name, "err", err)
	}
}

func sameConditions(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, _ := a[i].(map[string]any)
		y, _ := b[i].(map[string]any)
		if x["type"] != y["type"] || x["message"] != y["message"] || x["status"] != y["status"] {
			return false
		}
	}
	return true
}
