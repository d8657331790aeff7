package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"weft.dev/weft/kernel/kerneltest"
)

// Ten simulated nodes join a server over the real transport; a Deployment of 50
// replicas spreads over them evenly under the built-in default policy; a swap to
// binpack with kubectl, while the old policy shadows, packs the next pods and shows
// the disagreement in the profile's status.
func TestSimulatedNodesAndPolicySwap(t *testing.T) {
	kerneltest.Kubectl(t)
	s := startServer(t, t.TempDir())
	startSim(t, s, "--nodes", "10", "--zones", "2", "--cpu", "32", "--memory", "64Gi")
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 50
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      containers:
      - name: c
        image: localhost/busybox:latest
        resources: {requests: {cpu: "1", memory: 1Gi}}
`
	if out, err := s.kubectlIn(deployment, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out := s.kubectl("rollout", "status", "deployment/spread", "--timeout=60s"); !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout: %s", out)
	}
	counts := func() []int {
		out := s.kubectl("get", "pods", "-l", "app=spread", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}")
		by := map[string]int{}
		for _, n := range strings.Fields(out) {
			by[n]++
		}
		var cs []int
		for _, c := range by {
			cs = append(cs, c)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(cs)))
		return cs
	}
	if cs := counts(); len(cs) != 10 || cs[0] != 5 || cs[9] != 5 {
		t.Fatalf("the default policy should spread 50 pods 5 per node: %v", cs)
	}

	// Swap to binpack, keeping the default policy as a shadow.
	s.kubectl("patch", "schedulerprofile", "default-scheduler", "--type=merge", "-p", `{"spec":{"policy":"binpack","shadows":["defaultpolicy"]}}`)
	waitFor(t, "the swap seen", func() (string, bool) {
		out, _ := s.kubectlErr("get", "schedulerprofile", "default-scheduler", "-o", "jsonpath={.status.policy}")
		return out, out == "binpack"
	})
	s.kubectl("scale", "deployment/spread", "--replicas=80")
	if out := s.kubectl("rollout", "status", "deployment/spread", "--timeout=60s"); !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout after the swap: %s", out)
	}
	if cs := counts(); cs[0] < 25 {
		t.Fatalf("binpack should fill one node with most of the 30 new pods: %v", cs)
	}
	waitFor(t, "shadow disagreement counted", func() (string, bool) {
		out, _ := s.kubectlErr("get", "schedulerprofile", "default-scheduler", "-o", "jsonpath={.status.shadows[0].disagreed}")
		n, _ := strconv.Atoi(out)
		return out, n > 0
	})
	if out := s.kubectl("get", "plugin", "defaultpolicy", "-o", "jsonpath={.status.shadow[0].profile}"); out != "default-scheduler" {
		t.Fatalf("shadow in the plugin's status: %q", out)
	}
}

// startSim runs weft sim against a server until the test ends, and waits for its
// nodes to be Ready.
func startSim(t *testing.T, s *server, args ...string) {
	t.Helper()
	nodes := 0
	for i, a := range args {
		if a == "--nodes" {
			nodes, _ = strconv.Atoi(args[i+1])
		}
	}
	sim := exec.Command(weftBin, append([]string{"sim", "--join", filepath.Join(s.dir, "join"), "--data-dir", filepath.Join(t.TempDir(), "sim")}, args...)...)
	var simLog bytes.Buffer
	sim.Stdout, sim.Stderr = &simLog, &simLog
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sim.Process.Signal(syscall.SIGTERM)
		_ = sim.Wait()
		if t.Failed() {
			t.Logf("weft sim:\n%s", simLog.String())
		}
	})
	waitFor(t, "simulated nodes Ready", func() (string, bool) {
		out, _ := s.kubectlErr("get", "nodes", "-l", "type=weft-sim", "--no-headers")
		return out, strings.Count(out, " Ready ") == nodes
	})
}

// 2000 pods arrive while the default profile's policy is swapped twice: every pod is
// bound exactly once, none is lost or stuck, and nothing restarts.
func TestPolicySwapUnderLoad(t *testing.T) {
	kerneltest.Kubectl(t)
	s := startServer(t, t.TempDir())
	startSim(t, s, "--nodes", "20", "--cpu", "1000", "--memory", "4Ti", "--pods", "1000")
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	const total, writers = 2000, 8
	errs := make(chan error, writers)
	for g := range writers {
		go func() {
			for i := g; i < total; i += writers {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%04d", i), Labels: map[string]string{"app": "load"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "localhost/busybox:latest"}}}}
				if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	swap := func(policy string) {
		s.kubectl("patch", "schedulerprofile", "default-scheduler", "--type=merge", "-p", `{"spec":{"policy":"`+policy+`"}}`)
	}
	time.Sleep(300 * time.Millisecond)
	swap("binpack")
	time.Sleep(700 * time.Millisecond)
	swap("defaultpolicy")
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every pod bound and running", func() (string, bool) {
		list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=load"})
		if err != nil {
			return err.Error(), false
		}
		unbound := 0
		for _, p := range list.Items {
			if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
				unbound++
			}
		}
		return fmt.Sprintf("%d pods, %d not bound and running", len(list.Items), unbound), len(list.Items) == total && unbound == 0
	})
	// Bound once each: one Scheduled event per pod, and no pod bound twice (the
	// binding subresource refuses it, so a second decision shows only as a conflict).
	// Events are written in the background, so they may trail the pods' phase.
	var per map[string]int
	waitFor(t, "a Scheduled event for every pod", func() (string, bool) {
		evs, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"})
		if err != nil {
			return err.Error(), false
		}
		per = map[string]int{}
		for _, e := range evs.Items {
			per[e.InvolvedObject.Name]++
		}
		return fmt.Sprintf("%d of %d pods have one", len(per), total), len(per) >= total
	})
	for i := range total {
		if n := per[fmt.Sprintf("p%04d", i)]; n != 1 {
			t.Fatalf("pod p%04d was reported scheduled %d times", i, n)
		}
	}
	// The status is written when the spec changes, apart from the swap itself.
	waitFor(t, "the profile's status to name the policy swapped in last", func() (string, bool) {
		out := s.kubectl("get", "schedulerprofile", "default-scheduler", "-o", "jsonpath={.status.policy}")
		return out, out == "defaultpolicy"
	})
	if strings.Contains(s.log.String(), "level=ERROR") {
		t.Fatalf("errors in the server log:\n%s", s.log)
	}
}
