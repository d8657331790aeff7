package sim

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"weft.dev/weft/node/agent"
	"weft.dev/weft/node/runtime"
)

func next(t *testing.T, p *Pods) agent.Update {
	t.Helper()
	select {
	case u := <-p.Updates():
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update")
		return agent.Update{}
	}
}

func TestSimulatedPods(t *testing.T) {
	ctx := context.Background()
	p := New(netip.MustParsePrefix("10.244.3.0/24"))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default", UID: "u1"},
		Spec: corev1.PodSpec{NodeName: "sim-1", Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
	p.Sync(ctx, pod)
	u := next(t, p)
	st := u.Pod.Status
	if u.Terminated || st.Phase != corev1.PodRunning || st.PodIP != "10.244.3.1" || !podReady(u.Pod) || len(st.ContainerStatuses) != 1 || !st.ContainerStatuses[0].Ready {
		t.Fatalf("running: %+v", st)
	}
	// A second pod gets the next address; a running pod is not reported again.
	p.Sync(ctx, u.Pod)
	pod2 := pod.DeepCopy()
	pod2.Name, pod2.UID = "b", "u2"
	p.Sync(ctx, pod2)
	if u2 := next(t, p); u2.Pod.Name != "b" || u2.Pod.Status.PodIP != "10.244.3.2" {
		t.Fatalf("second pod: %s %s", u2.Pod.Name, u2.Pod.Status.PodIP)
	}
	// Deleting terminates at once.
	del := u.Pod.DeepCopy()
	now := metav1.Now()
	del.DeletionTimestamp = &now
	p.Sync(ctx, del)
	if u3 := next(t, p); !u3.Terminated || u3.Pod.Name != "a" {
		t.Fatalf("deleted: %+v", u3)
	}
	if _, err := p.Exec(ctx, "default", "b", "c", runtime.ExecOptions{Cmd: []string{"true"}}); err != ErrSimulated {
		t.Fatalf("exec: %v", err)
	}
}
