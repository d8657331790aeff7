package kernel_test

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel/kerneltest"
)

// TestWritesLeaveSharedVersionsAlone: updates read the current version from the
// shared decodes that watchers also read, so no kind of write may change it. Each
// write below runs against a version decoded into the shared window first, which is
// then compared with a copy taken before the write.
func TestWritesLeaveSharedVersionsAlone(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	pods := c.Client.CoreV1().Pods("default")
	e, ok := c.Kernel.Registry().Snapshot().Lookup(schema.GroupVersionResource{Version: "v1", Resource: "pods"})
	if !ok {
		t.Fatal("pods not registered")
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "1"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name  string
		write func(ctx context.Context) error
	}{
		{"update", func(ctx context.Context) error {
			p, err := pods.Get(ctx, "p", metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Labels["b"] = "2"
			_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}},
		{"update that changes nothing", func(ctx context.Context) error {
			p, err := pods.Get(ctx, "p", metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
			return err
		}},
		{"status update", func(ctx context.Context) error {
			p, err := pods.Get(ctx, "p", metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: "Custom", Status: corev1.ConditionTrue})
			_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}},
		{"merge patch", func(ctx context.Context) error {
			_, err := pods.Patch(ctx, "p", types.MergePatchType, []byte(`{"metadata":{"labels":{"c":"3"}}}`), metav1.PatchOptions{})
			return err
		}},
		{"strategic patch of status", func(ctx context.Context) error {
			_, err := pods.Patch(ctx, "p", types.StrategicMergePatchType, []byte(`{"status":{"conditions":[{"type":"Custom","status":"False"}]}}`), metav1.PatchOptions{}, "status")
			return err
		}},
		{"server-side apply", func(ctx context.Context) error {
			_, err := pods.Patch(ctx, "p", types.ApplyPatchType, []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"x":"y"}}}`), metav1.PatchOptions{FieldManager: "t"})
			return err
		}},
		{"binding", func(ctx context.Context) error {
			return pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{})
		}},
		{"graceful delete", func(ctx context.Context) error {
			return pods.Delete(ctx, "p", metav1.DeleteOptions{})
		}},
	}
	for _, w := range writes {
		kv, err := c.Kernel.Objects().Store().Get(ctx, e.Key("default", "p"), 0)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		shared, err := c.Kernel.Objects().DecodeShared(e, kv)
		if err != nil {
			t.Fatal(err)
		}
		before := shared.DeepCopy()
		if err := w.write(ctx); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if !reflect.DeepEqual(shared.Object, before.Object) {
			t.Fatalf("%s changed the shared version it read:\nbefore %v\nafter  %v", w.name, before.Object, shared.Object)
		}
		if again, _ := c.Kernel.Objects().DecodeShared(e, kv); again != shared {
			t.Fatalf("%s: the version was evicted from the shared window, so the check proves nothing", w.name)
		}
	}
}
