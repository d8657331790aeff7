package main

import (
	"context"
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

// readyPods stands in for nodes: it marks every pod Running and Ready.
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
			if !ok || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodRunning {
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
