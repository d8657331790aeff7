package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"weft.dev/weft/kernel/kerneltest"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "localhost/busybox:latest"}}},
	}
}

func binding(name, node string) *corev1.Binding {
	return &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
}

// pods/binding as client-go and kube-scheduler use it: it binds once, then refuses,
// and of many schedulers racing for one pod exactly one wins.
func TestBinding(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := context.Background()
	pods := c.Client.CoreV1().Pods("default")
	created, err := pods.Create(ctx, pod("p"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pods.Bind(ctx, binding("p", "node-a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "node-a" || got.UID != created.UID {
		t.Fatalf("bound pod: node %q", got.Spec.NodeName)
	}
	scheduled := false
	for _, c := range got.Status.Conditions {
		scheduled = scheduled || c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue
	}
	if !scheduled || got.Status.Phase != corev1.PodPending {
		t.Fatalf("status after binding: %+v", got.Status)
	}
	// As in kube-apiserver, a binding is written to storage directly: the binder
	// owns no field of the pod.
	if !slices.EqualFunc(got.ManagedFields, created.ManagedFields, func(a, b metav1.ManagedFieldsEntry) bool { return a.Manager == b.Manager }) {
		t.Fatalf("managed fields after binding: %+v, before: %+v", got.ManagedFields, created.ManagedFields)
	}
	err = pods.Bind(ctx, binding("p", "node-b"), metav1.CreateOptions{})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `pod p is already assigned to node "node-a"`) {
		t.Fatalf("second binding: %v", err)
	}
	// A UID precondition that does not hold.
	if _, err := pods.Create(ctx, pod("q"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b := binding("q", "node-a")
	b.UID = "not-the-uid"
	if err := pods.Bind(ctx, b, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("binding with a stale UID: %v", err)
	}
	// A missing pod.
	if err := pods.Bind(ctx, binding("missing", "node-a"), metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("binding a missing pod: %v", err)
	}
	// Racing binders: exactly one wins.
	if _, err := pods.Create(ctx, pod("race"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := pods.Bind(ctx, binding("race", fmt.Sprintf("node-%d", i)), metav1.CreateOptions{})
			switch {
			case err == nil:
				wins.Add(1)
			case apierrors.IsConflict(err):
				conflicts.Add(1)
			default:
				t.Errorf("racing bind: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 15 {
		t.Fatalf("racing binders: %d won, %d refused", wins.Load(), conflicts.Load())
	}
}
