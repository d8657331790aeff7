package main

import (
	"bytes"
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
	sim := exec.Command(weftBin, "sim", "--join", filepath.Join(s.dir, "join"), "--nodes", "10", "--zones", "2",
		"--cpu", "32", "--memory", "64Gi", "--data-dir", filepath.Join(t.TempDir(), "sim"))
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
	waitFor(t, "10 nodes Ready", func() (string, bool) {
		out, _ := s.kubectlErr("get", "nodes", "-l", "type=weft-sim", "--no-headers")
		return out, strings.Count(out, " Ready ") == 10
	})
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
