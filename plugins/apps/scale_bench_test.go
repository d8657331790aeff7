package apps_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel/kerneltest"
)

// BenchmarkDeploymentScale1000 scales a Deployment from 0 to 1000 replicas through
// the scale subresource, as `kubectl scale` does, on a kernel running the apps plugin
// from its wasm build, and reports the time until all 1000 pods exist. The anchor is
// kube-controller-manager at its default client rate of 20 QPS: about 50 s.
func BenchmarkDeploymentScale1000(b *testing.B) {
	const replicas = 1000
	c := kerneltest.Start(b, kerneltest.Options{Builtins: []string{"apps"}})
	ctx := context.Background()
	deps := c.Client.AppsV1().Deployments("default")
	for i := 0; b.Loop(); i++ {
		name := "scale-" + string(rune('a'+i%26))
		zero := int32(0)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{
				Replicas: &zero,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "localhost/busybox:latest"}}},
				},
			},
		}
		if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		w, err := c.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := deps.UpdateScale(ctx, name, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		seen := 0
		timeout := time.After(2 * time.Minute)
		for seen < replicas {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == watch.Added {
					seen++
				}
			case <-timeout:
				b.Fatalf("%d of %d pods after 2 minutes", seen, replicas)
			}
		}
		elapsed := time.Since(start)
		w.Stop()
		b.ReportMetric(elapsed.Seconds(), "s/1000pods")
		b.ReportMetric(50/elapsed.Seconds(), "x-vs-kcm-20qps")
		b.StopTimer()
		if err := deps.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
