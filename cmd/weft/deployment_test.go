package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"weft.dev/weft/kernel/kerneltest"
)

// A Deployment's life driven by kubectl against the built-in apps plugin: apply,
// rollout status, scale, an image change that rolls out, history, undo, pause and
// resume, restart, and a delete that cascades. Nodes are not part of this test: a
// stand-in marks pods Running and Ready through the status subresource, as a node
// would.
func TestDeploymentLifecycle(t *testing.T) {
	kerneltest.Kubectl(t)
	s := startServer(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go readyPods(ctx, t, s.kubeconfig)

	s.kubectl("apply", "-f", manifest("deployment.yaml"))
	rollout := func() {
		t.Helper()
		if out := s.kubectl("rollout", "status", "deployment/web", "--timeout=60s"); !strings.Contains(out, `deployment "web" successfully rolled out`) {
			t.Fatalf("rollout status:\n%s", out)
		}
	}
	rollout()
	if out := s.kubectl("get", "deploy", "web"); !regexpLine(out, `^web\s+3/3\s+3\s+3\s+\S+$`) {
		t.Fatalf("get deploy:\n%s", out)
	}
	if out := s.kubectl("get", "deploy", "web", "-o", "wide"); !regexpLine(out, `^web\s+3/3\s+3\s+3\s+\S+\s+httpd\s+localhost/busybox:latest\s+app=web$`) {
		t.Fatalf("get deploy -o wide:\n%s", out)
	}
	if out := s.kubectl("describe", "deploy", "web"); !strings.Contains(out, "StrategyType:           RollingUpdate") || !strings.Contains(out, "25% max unavailable, 25% max surge") {
		t.Fatalf("describe:\n%s", out)
	}

	s.kubectl("scale", "deployment/web", "--replicas=5")
	rollout()
	waitFor(t, "5 pods", func() (string, bool) {
		out, _ := s.kubectlErr("get", "pods", "-l", "app=web", "--no-headers")
		return out, len(strings.Split(out, "\n")) == 5
	})

	s.kubectl("set", "image", "deployment/web", "httpd=localhost/busybox:v2")
	rollout()
	if out := s.kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"); strings.Count(out, "localhost/busybox:v2") != 5 || strings.Contains(out, ":latest") {
		t.Fatalf("images after the rollout: %s", out)
	}
	if out := s.kubectl("get", "rs", "-l", "app=web", "--no-headers"); len(strings.Split(out, "\n")) != 2 {
		t.Fatalf("replica sets after one rollout:\n%s", out)
	}
	if out := s.kubectl("rollout", "history", "deployment/web"); !regexpLine(out, `1\s+<none>`) || !regexpLine(out, `2\s+<none>`) {
		t.Fatalf("history:\n%s", out)
	}

	s.kubectl("rollout", "undo", "deployment/web")
	rollout()
	if out := s.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}"); out != "localhost/busybox:latest 3" {
		t.Fatalf("after undo: %q", out)
	}

	// Paused, a template change makes no new replica set until resumed.
	s.kubectl("rollout", "pause", "deployment/web")
	s.kubectl("set", "image", "deployment/web", "httpd=localhost/busybox:v3")
	time.Sleep(time.Second)
	if out := s.kubectl("get", "rs", "-l", "app=web", "-o", "jsonpath={.items[*].spec.template.spec.containers[0].image}"); strings.Contains(out, ":v3") {
		t.Fatalf("a paused deployment rolled out: %s", out)
	}
	s.kubectl("rollout", "resume", "deployment/web")
	rollout()
	s.kubectl("rollout", "restart", "deployment/web")
	rollout()
	if out := s.kubectl("get", "rs", "-l", "app=web", "--no-headers"); len(strings.Split(out, "\n")) != 4 {
		t.Fatalf("replica sets after v2, undo, v3 and a restart:\n%s", out)
	}

	s.kubectl("delete", "deployment", "web")
	waitFor(t, "cascade", func() (string, bool) {
		out, _ := s.kubectlErr("get", "rs,pods", "-l", "app=web", "--no-headers")
		return out, out == "" || strings.Contains(out, "No resources found")
	})
}

// TestReplicaSetAdoptsOrphans: the apps plugin is fed only the metadata of pods no
// ReplicaSet controls (sdk.FieldSet.ControlledOnly), so an orphan's start never
// reaches it. It still adopts the running orphans that match, counts them ready
// once they are its own, leaves a failed one alone, as kube's ReplicaSet controller
// does, and releases a pod relabelled away.
func TestReplicaSetAdoptsOrphans(t *testing.T) {
	kerneltest.Kubectl(t)
	s := startServer(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go readyPods(ctx, t, s.kubeconfig)

	get := func(args ...string) string {
		out, _ := s.kubectlErr(append([]string{"get"}, args...)...)
		return out
	}
	for _, name := range []string{"orphan-a", "orphan-b", "failed"} {
		pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"labels":{"app":"adopt"}},
			"spec":{"containers":[{"name":"c","image":"localhost/busybox:latest"}]}}`, name)
		if out, err := s.kubectlIn(pod, "apply", "-f", "-"); err != nil {
			t.Fatalf("apply %s: %v\n%s", name, err, out)
		}
	}
	waitFor(t, "orphans running", func() (string, bool) {
		out := get("pods", "-l", "app=adopt", "-o", "jsonpath={.items[*].status.phase}")
		return out, out == "Running Running Running"
	})
	s.kubectl("patch", "pod", "failed", "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Failed"}}`)

	rs := `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"adopt"},"spec":{"replicas":3,
		"selector":{"matchLabels":{"app":"adopt"}},"template":{"metadata":{"labels":{"app":"adopt"}},
		"spec":{"containers":[{"name":"c","image":"localhost/busybox:latest"}]}}}}`
	if out, err := s.kubectlIn(rs, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply rs: %v\n%s", err, out)
	}
	waitFor(t, "3 ready replicas", func() (string, bool) {
		out := get("rs", "adopt", "-o", "jsonpath={.status.replicas} {.status.readyReplicas}")
		return out, out == "3 3"
	})
	owner := func(pod string) string {
		return get("pod", pod, "-o", "jsonpath={.metadata.ownerReferences[*].name}")
	}
	for pod, want := range map[string]string{"orphan-a": "adopt", "orphan-b": "adopt", "failed": ""} {
		if got := owner(pod); got != want {
			t.Errorf("%s is owned by %q, want %q", pod, got, want)
		}
	}
	if out := get("pods", "-l", "app=adopt", "--no-headers"); len(strings.Split(out, "\n")) != 4 {
		t.Errorf("want 3 replicas (two adopted) and the failed pod:\n%s", out)
	}

	s.kubectl("label", "pod", "orphan-a", "app=away", "--overwrite")
	waitFor(t, "release and replacement", func() (string, bool) {
		out := owner("orphan-a") + "|" + get("rs", "adopt", "-o", "jsonpath={.status.replicas} {.status.readyReplicas}")
		return out, out == "|3 3"
	})
	s.kubectl("delete", "rs", "adopt")
	waitFor(t, "cascade", func() (string, bool) {
		out := get("pods", "-o", "jsonpath={.items[*].metadata.name}")
		return out, out == "failed orphan-a"
	})
}

// readyPods stands in for nodes: it marks every pending pod Running and Ready.
func readyPods(ctx context.Context, t *testing.T, kubeconfig string) {
	var cs kubernetes.Interface
	for ctx.Err() == nil {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err == nil {
			cs, err = kubernetes.NewForConfig(cfg)
		}
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for ctx.Err() == nil {
		w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || pod.DeletionTimestamp != nil || pod.Status.Phase != "" && pod.Status.Phase != corev1.PodPending {
				continue
			}
			now := metav1.Now()
			pod.Status.Phase = corev1.PodRunning
			pod.Status.PodIP = "10.88.0.2"
			pod.Status.Conditions = []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			}
			pod.Status.ContainerStatuses = nil
			for _, c := range pod.Spec.Containers {
				pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
					Name: c.Name, Image: c.Image, Ready: true, Started: new(true),
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
				})
			}
			if _, err := cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
				t.Logf("mark %s ready: %v", pod.Name, err)
			}
		}
		w.Stop()
	}
}
