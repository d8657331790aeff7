package kernel_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/registry"
)

func widget(name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": name},
		"spec":     spec,
	}}
}

func startWithWidgets(t *testing.T) (*kerneltest.Cluster, dynamic.ResourceInterface) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{kerneltest.WidgetKind(t)}})
	return c, c.Dynamic.Resource(widgets).Namespace("default")
}

func TestSchemaDefaultsAndValidation(t *testing.T) {
	_, w := startWithWidgets(t)
	ctx := ctxT(t)
	got, err := w.Create(ctx, widget("w", map[string]any{"size": "3cm"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _, _ := unstructured.NestedString(got.Object, "spec", "color"); c != "blue" {
		t.Fatalf("default color not applied: %v", got.Object["spec"])
	}
	if r, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); r != 1 {
		t.Fatalf("default replicas not applied: %v", got.Object["spec"])
	}
	for name, spec := range map[string]map[string]any{
		"enum":      {"color": "purple"},
		"pattern":   {"size": "big"},
		"minimum":   {"replicas": int64(-1)},
		"type":      {"replicas": "three"},
		"list key":  {"ports": []any{map[string]any{"name": "a", "port": int64(1)}, map[string]any{"name": "a", "port": int64(2)}}},
		"required":  {"ports": []any{map[string]any{"port": int64(80)}}},
		"max port":  {"ports": []any{map[string]any{"name": "a", "port": int64(70000)}}},
		"float int": {"replicas": 1.5},
	} {
		_, err := w.Create(ctx, widget("bad-"+strings.ReplaceAll(name, " ", "-"), spec), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Errorf("%s: want Invalid, got %v", name, err)
		}
	}
}

func TestPatchTypes(t *testing.T) {
	_, w := startWithWidgets(t)
	ctx := ctxT(t)
	_, err := w.Create(ctx, widget("p", map[string]any{
		"ports": []any{map[string]any{"name": "http", "port": int64(80)}, map[string]any{"name": "https", "port": int64(443)}},
		"tags":  []any{"a", "b"},
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ports := func(u *unstructured.Unstructured) string {
		ps, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
		var out []string
		for _, p := range ps {
			m := p.(map[string]any)
			out = append(out, fmt.Sprintf("%v:%v", m["name"], m["port"]))
		}
		return strings.Join(out, ",")
	}
	// Strategic merge: the list merges by name.
	got, err := w.Patch(ctx, "p", types.StrategicMergePatchType, []byte(`{"spec":{"ports":[{"name":"http","port":8080},{"name":"grpc","port":9090}]}}`), metav1.PatchOptions{})
	if err != nil || ports(got) != "http:8080,grpc:9090,https:443" && ports(got) != "http:8080,https:443,grpc:9090" {
		t.Fatalf("strategic merge: %v %s", err, ports(got))
	}
	got, err = w.Patch(ctx, "p", types.StrategicMergePatchType, []byte(`{"spec":{"ports":[{"name":"grpc","$patch":"delete"}]}}`), metav1.PatchOptions{})
	if err != nil || strings.Contains(ports(got), "grpc") {
		t.Fatalf("strategic merge delete: %v %s", err, ports(got))
	}
	// Merge patch replaces lists.
	got, err = w.Patch(ctx, "p", types.MergePatchType, []byte(`{"spec":{"ports":[{"name":"only","port":1}]}}`), metav1.PatchOptions{})
	if err != nil || ports(got) != "only:1" {
		t.Fatalf("merge patch: %v %s", err, ports(got))
	}
	// JSON patch, including a failing test operation.
	got, err = w.Patch(ctx, "p", types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/tags/-","value":"c"},{"op":"replace","path":"/spec/color","value":"red"}]`), metav1.PatchOptions{})
	tags, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "tags")
	if err != nil || strings.Join(tags, "") != "abc" {
		t.Fatalf("json patch: %v %v", err, tags)
	}
	_, err = w.Patch(ctx, "p", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/color","value":"green"}]`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("failing json patch test: want Invalid, got %v", err)
	}
	_, err = w.Patch(ctx, "p", types.JSONPatchType, []byte(`not json`), metav1.PatchOptions{})
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("malformed json patch: want BadRequest, got %v", err)
	}
	// A patch that breaks the schema is refused and changes nothing.
	before, _ := w.Get(ctx, "p", metav1.GetOptions{})
	_, err = w.Patch(ctx, "p", types.MergePatchType, []byte(`{"spec":{"color":"mauve"}}`), metav1.PatchOptions{})
	after, _ := w.Get(ctx, "p", metav1.GetOptions{})
	if !apierrors.IsInvalid(err) || before.GetResourceVersion() != after.GetResourceVersion() {
		t.Fatalf("invalid patch: %v, resourceVersion %s -> %s", err, before.GetResourceVersion(), after.GetResourceVersion())
	}
	// A patch pinned to a stale resourceVersion conflicts.
	_, err = w.Patch(ctx, "p", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"1"},"spec":{"color":"green"}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("stale pinned patch: want Conflict, got %v", err)
	}
	if _, err := w.Patch(ctx, "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("patch of a missing object: want NotFound, got %v", err)
	}
}

func TestServerSideApply(t *testing.T) {
	_, w := startWithWidgets(t)
	ctx := ctxT(t)
	apply := func(manager, body string, force bool) (*unstructured.Unstructured, error) {
		return w.Patch(ctx, "ssa", types.ApplyYAMLPatchType, []byte(body), metav1.PatchOptions{FieldManager: manager, Force: &force})
	}
	// Apply creates.
	got, err := apply("alice", `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"ssa"},"spec":{"color":"red","ports":[{"name":"a","port":1}]}}`, false)
	if err != nil {
		t.Fatal(err)
	}
	// Bob owns another list item: no conflict, both items stay.
	got, err = apply("bob", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: ssa\nspec:\n  ports:\n  - name: b\n    port: 2\n", false)
	if err != nil {
		t.Fatalf("disjoint apply: %v", err)
	}
	if ps, _, _ := unstructured.NestedSlice(got.Object, "spec", "ports"); len(ps) != 2 {
		t.Fatalf("list items of two managers: %v", ps)
	}
	// Bob changing Alice's field conflicts, unless forced.
	_, err = apply("bob", `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"ssa"},"spec":{"color":"green"}}`, false)
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "alice") {
		t.Fatalf("conflicting apply: want Conflict naming alice, got %v", err)
	}
	got, err = apply("bob", `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"ssa"},"spec":{"color":"green","ports":[{"name":"b","port":2}]}}`, true)
	if err != nil {
		t.Fatal(err)
	}
	if c, _, _ := unstructured.NestedString(got.Object, "spec", "color"); c != "green" {
		t.Fatalf("forced apply did not take: %v", got.Object["spec"])
	}
	// Alice re-applying without the field she lost ownership of does not remove it;
	// dropping her port removes it, and only it.
	got, err = apply("alice", `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"ssa"},"spec":{}}`, false)
	if err != nil {
		t.Fatal(err)
	}
	ps, _, _ := unstructured.NestedSlice(got.Object, "spec", "ports")
	if c, _, _ := unstructured.NestedString(got.Object, "spec", "color"); c != "green" || len(ps) != 1 || ps[0].(map[string]any)["name"] != "b" {
		t.Fatalf("after alice withdrew: color %s ports %v", c, ps)
	}
	managers := map[string]bool{}
	for _, m := range got.GetManagedFields() {
		managers[m.Manager] = true
	}
	if !managers["alice"] || !managers["bob"] {
		t.Fatalf("managedFields: %+v", got.GetManagedFields())
	}
	// Re-applying the same configuration is a no-op that keeps the resourceVersion.
	again, err := apply("alice", `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"ssa"},"spec":{}}`, false)
	if err != nil || again.GetResourceVersion() != got.GetResourceVersion() {
		t.Fatalf("idempotent apply: %v, resourceVersion %s -> %s", err, got.GetResourceVersion(), again.GetResourceVersion())
	}
	if _, err := w.Patch(ctx, "ssa", types.ApplyYAMLPatchType, []byte(`{"apiVersion":"example.com/v1","kind":"Widget"}`), metav1.PatchOptions{}); !apierrors.IsBadRequest(err) {
		t.Fatalf("apply without a field manager: want BadRequest, got %v", err)
	}
}

func TestStatusScaleAndGeneration(t *testing.T) {
	c, w := startWithWidgets(t)
	ctx := ctxT(t)
	created, err := w.Create(ctx, widget("s", map[string]any{"replicas": int64(2)}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetGeneration() != 1 {
		t.Fatalf("generation on create: %d", created.GetGeneration())
	}
	// The status subresource changes only status.
	upd := created.DeepCopy()
	_ = unstructured.SetNestedField(upd.Object, int64(2), "status", "replicas")
	_ = unstructured.SetNestedField(upd.Object, "app=s", "status", "selector")
	_ = unstructured.SetNestedField(upd.Object, "red", "spec", "color")
	st, err := w.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if col, _, _ := unstructured.NestedString(st.Object, "spec", "color"); col != "blue" || st.GetGeneration() != 1 {
		t.Fatalf("status update touched spec or generation: %v gen %d", st.Object["spec"], st.GetGeneration())
	}
	// The main resource ignores status and bumps generation on spec changes only.
	upd = st.DeepCopy()
	_ = unstructured.SetNestedField(upd.Object, "green", "spec", "color")
	_ = unstructured.SetNestedField(upd.Object, int64(99), "status", "replicas")
	main, err := w.Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(main.Object, "status", "replicas"); r != 2 || main.GetGeneration() != 2 {
		t.Fatalf("main update: status.replicas %d generation %d", r, main.GetGeneration())
	}
	main.SetLabels(map[string]string{"only": "metadata"})
	meta, err := w.Update(ctx, main, metav1.UpdateOptions{})
	if err != nil || meta.GetGeneration() != 2 {
		t.Fatalf("metadata-only update bumped generation: %v %d", err, meta.GetGeneration())
	}
	// Scale reads and writes spec.replicas through autoscaling/v1 Scale.
	scale, err := c.Dynamic.Resource(widgets).Namespace("default").Get(ctx, "s", metav1.GetOptions{}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	if scale.GetKind() != "Scale" || nested(scale, "spec", "replicas") != int64(2) || nested(scale, "status", "replicas") != int64(2) || nested(scale, "status", "selector") != "app=s" {
		t.Fatalf("scale: %v", scale.Object)
	}
	_ = unstructured.SetNestedField(scale.Object, int64(5), "spec", "replicas")
	// Writes of the scale answer with the Scale, as kubectl scale expects.
	updated, err := c.Dynamic.Resource(widgets).Namespace("default").Update(ctx, scale, metav1.UpdateOptions{}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetKind() != "Scale" || nested(updated, "spec", "replicas") != int64(5) {
		t.Fatalf("scale update answered: %v", updated.Object)
	}
	patched, err := c.Dynamic.Resource(widgets).Namespace("default").Patch(ctx, "s", types.MergePatchType, []byte(`{"spec":{"replicas":7}}`), metav1.PatchOptions{}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	if patched.GetKind() != "Scale" || nested(patched, "spec", "replicas") != int64(7) {
		t.Fatalf("scale patch answered: %v", patched.Object)
	}
	got, _ := w.Get(ctx, "s", metav1.GetOptions{})
	if r, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); r != 7 || got.GetGeneration() != 4 {
		t.Fatalf("after scaling: replicas %d generation %d", r, got.GetGeneration())
	}
	// Stale scale updates conflict.
	if _, err := c.Dynamic.Resource(widgets).Namespace("default").Update(ctx, scale, metav1.UpdateOptions{}, "scale"); !apierrors.IsConflict(err) {
		t.Fatalf("stale scale: want Conflict, got %v", err)
	}
	// ConfigMaps have no status subresource.
	r := do(t, c, http.MethodGet, "/api/v1/namespaces/default/configmaps/x/status", "", nil)
	if r.code != 404 {
		t.Fatalf("configmap status: want 404, got %d", r.code)
	}
}

func nested(u *unstructured.Unstructured, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
	return v
}

func TestFinalizers(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	cms := c.Client.CoreV1().ConfigMaps("default")
	cm := configMap("held", nil, nil)
	cm.Finalizers = []string{"example.com/hold"}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("object held by a finalizer must remain with a deletionTimestamp: %v %+v", err, got)
	}
	// No new finalizers while deleting.
	got.Finalizers = append(got.Finalizers, "example.com/another")
	if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("adding a finalizer during deletion: want Invalid, got %v", err)
	}
	// The deletionTimestamp cannot be cleared.
	got, _ = cms.Get(ctx, "held", metav1.GetOptions{})
	got.DeletionTimestamp = nil
	if upd, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err == nil && upd.DeletionTimestamp == nil {
		t.Fatal("deletionTimestamp was cleared")
	}
	got, _ = cms.Get(ctx, "held", metav1.GetOptions{})
	got.Finalizers = nil
	if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("removing the last finalizer must complete the deletion: %v", err)
	}
	// Delete preconditions.
	live, err := cms.Create(ctx, configMap("pre", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := "1"
	if err := cms.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}}); !apierrors.IsConflict(err) {
		t.Fatalf("stale delete precondition: want Conflict, got %v", err)
	}
	if err := cms.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &live.UID}}); err != nil {
		t.Fatal(err)
	}
}

func ownedBy(owner metav1.Object, kind string, block bool) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), BlockOwnerDeletion: &block}}
}

func TestGarbageCollection(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	cms := c.Client.CoreV1().ConfigMaps("default")
	secrets := c.Client.CoreV1().Secrets("default")
	gone := func(name string) func() error {
		return func() error {
			if _, err := secrets.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("secret %s still exists (%v)", name, err)
			}
			return nil
		}
	}
	mkOwner := func(name string) *corev1.ConfigMap {
		o, err := cms.Create(ctx, configMap(name, nil, nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	mkDependent := func(name string, owner *corev1.ConfigMap, block bool) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: ownedBy(owner, "ConfigMap", block)}}
		if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("background", func(t *testing.T) {
		o := mkOwner("bg")
		mkDependent("bg-1", o, false)
		mkDependent("bg-2", o, false)
		if err := cms.Delete(ctx, "bg", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "dependents of a deleted owner are collected", func() error {
			if err := gone("bg-1")(); err != nil {
				return err
			}
			return gone("bg-2")()
		})
	})
	t.Run("foreground", func(t *testing.T) {
		o := mkOwner("fg")
		mkDependent("fg-1", o, true)
		// A finalizer on the dependent keeps it, so the owner must wait.
		s, _ := secrets.Get(ctx, "fg-1", metav1.GetOptions{})
		s.Finalizers = []string{"example.com/slow"}
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		fg := metav1.DeletePropagationForeground
		if err := cms.Delete(ctx, "fg", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "dependent marked for deletion", func() error {
			s, err := secrets.Get(ctx, "fg-1", metav1.GetOptions{})
			if err != nil || s.DeletionTimestamp == nil {
				return fmt.Errorf("dependent not being deleted: %v", err)
			}
			return nil
		})
		owner, err := cms.Get(ctx, "fg", metav1.GetOptions{})
		if err != nil || owner.DeletionTimestamp == nil || len(owner.Finalizers) != 1 || owner.Finalizers[0] != metav1.FinalizerDeleteDependents {
			t.Fatalf("owner must wait in the foreground: %v %+v", err, owner)
		}
		// The collector writes to the dependent too (its own foreground finalizer), so
		// this client, like any, retries on conflict.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s, err := secrets.Get(ctx, "fg-1", metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Finalizers = nil
			_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "owner goes once its dependents are gone", func() error {
			if _, err := cms.Get(ctx, "fg", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("owner still there (%v)", err)
			}
			return nil
		})
	})
	t.Run("orphan", func(t *testing.T) {
		o := mkOwner("or")
		mkDependent("or-1", o, false)
		orphan := metav1.DeletePropagationOrphan
		if err := cms.Delete(ctx, "or", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "owner deleted, dependent released", func() error {
			if _, err := cms.Get(ctx, "or", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("owner still there (%v)", err)
			}
			s, err := secrets.Get(ctx, "or-1", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(s.OwnerReferences) != 0 {
				return fmt.Errorf("dependent still has owners %v", s.OwnerReferences)
			}
			return nil
		})
		time.Sleep(200 * time.Millisecond) // give a wrong collector the chance to act
		if _, err := secrets.Get(ctx, "or-1", metav1.GetOptions{}); err != nil {
			t.Fatalf("orphan was collected: %v", err)
		}
	})
	t.Run("dangling owner", func(t *testing.T) {
		ghost := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ghost", UID: "00000000-0000-0000-0000-000000000000"}}
		mkDependent("dangling", ghost, false)
		eventually(t, "dependent of a missing owner is collected", gone("dangling"))
	})
	t.Run("one owner left", func(t *testing.T) {
		a, b := mkOwner("two-a"), mkOwner("two-b")
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "two", OwnerReferences: append(ownedBy(a, "ConfigMap", false), ownedBy(b, "ConfigMap", false)...)}}
		if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "two-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "reference to the deleted owner is dropped", func() error {
			s, err := secrets.Get(ctx, "two", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != "two-b" {
				return fmt.Errorf("owners %v", s.OwnerReferences)
			}
			return nil
		})
	})
}

func TestNamespaceDeletion(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	newNamespace(t, c, "doomed")
	cms := c.Client.CoreV1().ConfigMaps("doomed")
	for i := range 5 {
		if _, err := cms.Create(ctx, configMap(fmt.Sprintf("cm-%d", i), nil, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Client.CoreV1().Secrets("doomed").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	held := configMap("held", nil, nil)
	held.Finalizers = []string{"example.com/hold"}
	if _, err := cms.Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("namespace must be Terminating: %v %+v", err, ns.Status)
	}
	if _, err := cms.Create(ctx, configMap("late", nil, nil), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("create in a terminating namespace: want Forbidden, got %v", err)
	}
	eventually(t, "contents deleted except the held object", func() error {
		list, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(list.Items) != 1 || list.Items[0].Name != "held" {
			return fmt.Errorf("%d configmaps left", len(list.Items))
		}
		ns, err := c.Client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range ns.Status.Conditions {
			if cond.Type == corev1.NamespaceContentRemaining && strings.Contains(cond.Message, "configmaps") {
				return nil
			}
		}
		return fmt.Errorf("no NamespaceContentRemaining condition: %+v", ns.Status.Conditions)
	})
	h, _ := cms.Get(ctx, "held", metav1.GetOptions{})
	h.Finalizers = nil
	if _, err := cms.Update(ctx, h, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace gone", func() error {
		if _, err := c.Client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace still there (%v)", err)
		}
		return nil
	})
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("deleting default: want Forbidden, got %v", err)
	}
	// A namespace of the same name can be created again, empty.
	newNamespace(t, c, "doomed")
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("recreated namespace is not empty: %v %d", err, len(list.Items))
	}
}

func TestGracefulPodDeletion(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	pods := c.Client.CoreV1().Pods("default")
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
	}
	// Not bound to a node: nothing runs it, so it goes at once.
	if _, err := pods.Create(ctx, pod("unbound", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "unbound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "unbound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unbound pod: %v", err)
	}
	// Bound: marked, with its grace period, for the node to finish.
	p := pod("bound", "node-a")
	grace := int64(45)
	p.Spec.TerminationGracePeriodSeconds = &grace
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx, "bound", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 45 {
		t.Fatalf("graceful delete: %v %+v", err, got)
	}
	if d := got.DeletionTimestamp.Sub(before); d < 40*time.Second || d > 50*time.Second {
		t.Fatalf("deletionTimestamp %v from now, want about 45s", d)
	}
	// The node reports status while the pod stops; that does not end it.
	got.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A shorter grace period shortens it; a longer one does not lengthen it.
	long, short := int64(300), int64(10)
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: &long}); err != nil {
		t.Fatal(err)
	}
	if got, _ = pods.Get(ctx, "bound", metav1.GetOptions{}); *got.DeletionGracePeriodSeconds != 45 {
		t.Fatalf("grace lengthened to %d", *got.DeletionGracePeriodSeconds)
	}
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: &short}); err != nil {
		t.Fatal(err)
	}
	if got, _ = pods.Get(ctx, "bound", metav1.GetOptions{}); *got.DeletionGracePeriodSeconds != 10 {
		t.Fatalf("grace not shortened: %d", *got.DeletionGracePeriodSeconds)
	}
	// The node's final delete, with grace 0 and the pod's uid.
	zero := int64(0)
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &got.UID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the final delete: %v", err)
	}
	// A finished pod goes at once.
	done := pod("done", "node-a")
	if _, err := pods.Create(ctx, done, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d, _ := pods.Get(ctx, "done", metav1.GetOptions{})
	d.Status.Phase = corev1.PodSucceeded
	if _, err := pods.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "done", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "done", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("finished pod: %v", err)
	}
}
