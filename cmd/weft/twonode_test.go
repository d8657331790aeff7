package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/node/runtime/runtimetest"
)

// Two nodes, each in its own network namespace on this machine as if on two hosts on
// one LAN, join a server; a pod on one reaches a pod on the other over HTTP through
// the host-gw routes the nodes keep to each other's pod CIDRs.
func TestTwoNodesPodToPod(t *testing.T) {
	runtimetest.Gate(t)
	kerneltest.Kubectl(t)
	id := os.Getpid() % 200
	lan := fmt.Sprintf("10.98.%d", id)
	bridge := fmt.Sprintf("wlan%d", id)
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "link", "add", bridge, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })
	sh("ip", "addr", "add", lan+".1/24", "dev", bridge)
	sh("ip", "link", "set", bridge, "up")
	hosts := []string{"a", "b"}
	for i, h := range hosts {
		ns, veth := fmt.Sprintf("wn%s%d", h, id), fmt.Sprintf("wv%s%d", h, id)
		sh("ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "link", "del", veth).Run() })
		sh("ip", "link", "set", veth, "master", bridge, "up")
		sh("ip", "-n", ns, "addr", "add", fmt.Sprintf("%s.%d/24", lan, i+2), "dev", "eth0")
		sh("ip", "-n", ns, "link", "set", "eth0", "up")
		sh("ip", "-n", ns, "link", "set", "lo", "up")
	}

	dir := t.TempDir()
	s := &server{t: t, dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), log: &bytes.Buffer{}}
	s.cmd = exec.Command(weftBin, "server", "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--node-addr", lan+".1:0")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	waitFor(t, "server ready", func() (string, bool) {
		out, err := s.kubectlErr("get", "--raw", "/readyz")
		return out, err == nil && out == "ok"
	})
	nodes := map[string]*exec.Cmd{}
	startNode := func(i int, h, ndir string) {
		name, ns := fmt.Sprintf("node-%s-%d", h, id), fmt.Sprintf("wn%s%d", h, id)
		var log bytes.Buffer
		// nsenter joins only the network namespace: `ip netns exec` would also remount
		// /sys, hiding the cgroup file system runc needs.
		cmd := exec.Command("nsenter", "--net=/run/netns/"+ns, weftBin, "node", "--join", filepath.Join(dir, "join"),
			"--data-dir", ndir, "--name", name, "--node-ip", fmt.Sprintf("%s.%d", lan, i+2))
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		nodes[h] = cmd
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
			}
			if t.Failed() {
				t.Logf("node %s:\n%s", name, log.String())
			}
		})
	}
	dirs := map[string]string{}
	for i, h := range hosts {
		dirs[h] = filepath.Join(t.TempDir(), "node")
		t.Cleanup(func() { cleanupNode(t, dirs[h], fmt.Sprintf("node-%s-%d", h, id)) })
		startNode(i, h, dirs[h])
	}
	waitFor(t, "two nodes Ready", func() (string, bool) {
		out, _ := s.kubectlErr("get", "nodes", "--no-headers")
		return out, strings.Count(out, " Ready ") == 2
	})
	pod := func(name, node, command string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: localhost/busybox:latest
    command: ["sh", "-c", %q]
`, name, node, command)
	}
	manifest := pod("server", fmt.Sprintf("node-b-%d", id), "exec httpd -f -p 8080") + "---\n" + pod("client", fmt.Sprintf("node-a-%d", id), "exec sleep 3600")
	if out, err := s.kubectlIn(manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.kubectlErr("describe", "pods")
			logs, _ := s.kubectlErr("logs", "client", "--previous")
			t.Logf("pods:\n%s\nclient's previous log:\n%s", out, logs)
		}
		_, _ = s.kubectlErr("delete", "pods", "--all", "--grace-period=0", "--force")
	})
	waitFor(t, "both pods running", func() (string, bool) {
		out, _ := s.kubectlErr("get", "pods", "-o", "wide", "--no-headers")
		return out, strings.Count(out, " Running ") == 2
	})
	ip := s.kubectl("get", "pod", "server", "-o", "jsonpath={.status.podIP}")
	reach := func(what string) {
		t.Helper()
		waitFor(t, what, func() (string, bool) {
			out, err := s.kubectlErr("exec", "client", "--", "timeout", "3", "wget", "-qO-", "http://"+ip+":8080/etc/hostname")
			return out, err == nil && strings.TrimSpace(out) == "server"
		})
	}
	reach("the client reaches the server across nodes")

	// Killing the server's node agent leaves its pod running, and a restarted agent
	// adopts it without restarting it.
	before := s.kubectl("get", "pod", "server", "-o", "jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}")
	if err := nodes["b"].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = nodes["b"].Wait()
	reach("the server answers with its node agent dead")
	startNode(1, "b", dirs["b"])
	waitFor(t, "the node back", func() (string, bool) {
		out, _ := s.kubectlErr("get", "nodes", "--no-headers")
		return out, strings.Count(out, " Ready ") == 2
	})
	reach("the server answers after its node agent restarted")
	if after := s.kubectl("get", "pod", "server", "-o", "jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}"); after != before {
		t.Fatalf("the server's container changed across an agent restart: %q, then %q", before, after)
	}
}
