package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"weft.dev/weft/kernel/kerneltest"
)

// TestInformers: client-go informers, which every controller is built on, list and
// watch weft and converge on what was written: typed ConfigMaps (protobuf) and
// dynamic Deployments (JSON), through creates, updates and deletes, and across a
// restart of the server on the same address, which breaks every watch: the
// reflectors come back by themselves (resuming, or listing again if refused) and see
// what is written after it, with no live object ever reported deleted.
func TestInformers(t *testing.T) {
	kerneltest.Kubectl(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := startServerAt(t, dir, addr)
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	typed := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace("default"))
	cms := typed.Core().V1().ConfigMaps().Informer()
	deps := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	dynf := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", nil)
	depInf := dynf.ForResource(deps).Informer()
	var mu sync.Mutex
	deleted := map[string]bool{}
	for _, inf := range []cache.SharedIndexInformer{cms, depInf} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if m, err := apimeta.Accessor(obj); err == nil {
				mu.Lock()
				deleted[m.GetName()] = true
				mu.Unlock()
			}
		}}); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	typed.Start(stop)
	dynf.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), cms.HasSynced, depInf.HasSynced) {
		t.Fatal("informers never synced")
	}

	// write creates n ConfigMaps and Deployments from first, updates the first half of
	// them and deletes the rest; want is what the informers must then hold.
	want := map[string]string{}
	write := func(first, n int, phase string) {
		for i := first; i < first+n; i++ {
			name := fmt.Sprintf("o-%03d", i)
			if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			dep := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
				"metadata": map[string]any{"name": name},
				"spec": map[string]any{"replicas": int64(0), "selector": map[string]any{"matchLabels": map[string]any{"app": name}},
					"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}},
						"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "localhost/busybox:latest"}}}}}}}
			if _, err := dyn.Resource(deps).Namespace("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if i < first+n/2 {
				cm, err := cs.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				cm.Data["v"] = phase
				if _, err := cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				patch := []byte(`{"metadata":{"labels":{"phase":"` + phase + `"}}}`)
				if _, err := dyn.Resource(deps).Namespace("default").Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
					t.Fatal(err)
				}
				want[name] = phase
			} else {
				if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				if err := dyn.Resource(deps).Namespace("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	converged := func(what string) {
		t.Helper()
		waitFor(t, what, func() (string, bool) {
			cmKeys, depKeys := cms.GetStore().ListKeys(), depInf.GetStore().ListKeys()
			if len(cmKeys) != len(want) || len(depKeys) != len(want) {
				return fmt.Sprintf("%d ConfigMaps and %d Deployments cached, want %d each", len(cmKeys), len(depKeys), len(want)), false
			}
			for name, phase := range want {
				o, ok, _ := cms.GetStore().GetByKey("default/" + name)
				if !ok || o.(*corev1.ConfigMap).Data["v"] != phase {
					return fmt.Sprintf("ConfigMap %s: %v", name, o), false
				}
				d, ok, _ := depInf.GetStore().GetByKey("default/" + name)
				if !ok || d.(*unstructured.Unstructured).GetLabels()["phase"] != phase {
					return fmt.Sprintf("Deployment %s: %v", name, d), false
				}
			}
			return "", true
		})
		mu.Lock()
		defer mu.Unlock()
		for name := range want {
			if deleted[name] {
				t.Fatalf("%s: the informers saw a live object deleted", name)
			}
		}
	}
	write(0, 20, "one")
	converged("after the first writes")

	// A restart on the same address: the watches break, and the reflectors resume
	// from their resourceVersions against the new process.
	s.stop(syscall.SIGTERM)
	s = startServerAt(t, dir, addr)
	write(20, 20, "two")
	converged("after a restart and more writes")
	mu.Lock()
	n := len(deleted)
	mu.Unlock()
	if n != 20 {
		t.Fatalf("deletions seen of %d names, want the 20 deleted: %v", n, deleted)
	}
}
