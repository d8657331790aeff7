package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"weft.dev/weft/cni"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/node/image"
	"weft.dev/weft/node/runtime/runtimetest"
)

// `weft up` is a whole cluster on this machine: kubectl applies an ordinary
// Deployment of busybox httpd, the built-in scheduler policy places it on the local
// node, and its pods run on containerd with IPs from CNI; the pods answer HTTP on
// their IPs; kubectl logs and exec reach the containers; deleting the Deployment
// removes the containers and their network interfaces; and stopping weft stops its
// containerd.
func TestUp(t *testing.T) {
	runtimetest.Gate(t)
	kerneltest.Kubectl(t)
	s, node := startUp(t, "up")
	dir := s.dir
	const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: httpd
        image: localhost/busybox:latest
        command: ["sh", "-c", "echo serving on $(hostname); exec httpd -f -p 8080"]
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`
	if out, err := s.kubectlIn(manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out := s.kubectl("rollout", "status", "deployment/hello", "--timeout=90s"); !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout: %s", out)
	}
	pods := strings.Fields(s.kubectl("get", "pods", "-l", "app=hello", "-o", "jsonpath={.items[*].metadata.name}"))
	ips := strings.Fields(s.kubectl("get", "pods", "-l", "app=hello", "-o", "jsonpath={.items[*].status.podIP}"))
	if len(pods) != 2 || len(ips) != 2 {
		t.Fatalf("pods %v, IPs %v", pods, ips)
	}
	if out := s.kubectl("get", "pods", "-l", "app=hello", "-o", "wide", "--no-headers"); !regexpLine(strings.Split(out, "\n")[0], `\S+\s+1/1\s+Running\s+0\s+\S+\s+10\.244\.\d+\.\d+\s+`+node+`(\s+.*)?`) {
		t.Fatalf("get pods -o wide:\n%s", out)
	}
	// Each pod answers on its IP, from its own file system: /etc/hostname is the pod's.
	for i, ip := range ips {
		body := httpGet(t, "http://"+ip+":8080/etc/hostname")
		if strings.TrimSpace(body) == "" || !strings.HasPrefix(strings.TrimSpace(body), "hello-") {
			t.Fatalf("pod %d at %s answered %q", i, ip, body)
		}
	}
	if out := s.kubectl("logs", pods[0]); !strings.Contains(out, "serving on "+pods[0]) {
		t.Fatalf("logs: %q", out)
	}
	if out := s.kubectl("exec", pods[0], "--", "sh", "-c", "echo $((6*7)) from $(hostname)"); out != "42 from "+pods[0] {
		t.Fatalf("exec: %q", out)
	}
	if out, err := s.kubectlErr("exec", pods[0], "--", "sh", "-c", "exit 3"); err == nil || !strings.Contains(out, "exit code 3") {
		t.Fatalf("exec exit code: %v %q", err, out)
	}
	// An image from a tarball, with weft image import, runs without a registry.
	tarball := filepath.Join(t.TempDir(), "other.tar")
	f, err := os.Create(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if err := image.BuildBusybox(f, "localhost/other:v1"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(weftBin, "image", "import", "--data-dir", filepath.Join(dir, "node"), "--name", node, tarball).CombinedOutput(); err != nil || !strings.Contains(string(out), "imported localhost/other:v1") {
		t.Fatalf("weft image import: %v\n%s", err, out)
	}
	s.kubectl("run", "other", "--image=localhost/other:v1", "--image-pull-policy=Never", "--", "sleep", "3600")
	waitFor(t, "the imported image runs", func() (string, bool) {
		out, _ := s.kubectlErr("get", "pod", "other", "--no-headers")
		return out, regexpLine(out, `other\s+1/1\s+Running\s+.*`)
	})
	s.kubectl("delete", "pod", "other", "--grace-period=1")

	s.kubectl("delete", "deployment", "hello")
	waitFor(t, "pods gone", func() (string, bool) {
		out, _ := s.kubectlErr("get", "pods", "-l", "app=hello", "--no-headers")
		return out, strings.Contains(out, "No resources found")
	})
	waitFor(t, "no containers left", func() (string, bool) {
		out, _ := exec.Command("pgrep", "-f", filepath.Join(dir, "node", "containerd")+".*-id").CombinedOutput()
		return string(out), strings.TrimSpace(string(out)) == ""
	})
	s.stop(syscall.SIGTERM)
	if out, _ := exec.Command("pgrep", "-f", filepath.Join(dir, "node", "containerd")).CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("containerd outlived weft up: %s", out)
	}
}

// cleanupNode removes what a stopped node left, as an operator would after a failed
// run: a node keeps its pods running when it stops (a restarted node adopts them).
func cleanupNode(t *testing.T, dir, node string) {
	t.Helper()
	if out, _ := exec.Command("pgrep", "-f", "containerd-shim-runc-v2 -namespace weft-"+node+" ").Output(); len(out) > 0 {
		for _, pid := range strings.Fields(string(out)) {
			_ = exec.Command("pkill", "-9", "-P", pid).Run()
			_ = exec.Command("kill", "-9", pid).Run()
		}
		t.Logf("killed containers left by node %s", node)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	var under []string
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir) {
			under = append(under, f[1])
		}
	}
	for i := len(under) - 1; i >= 0; i-- {
		_ = unix.Unmount(under[i], unix.MNT_DETACH)
	}
	_ = exec.Command("ip", "link", "del", cni.BridgeName(node)).Run()
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for range 20 {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

// kubectlIn runs kubectl with stdin.
func (s *server) kubectlIn(stdin string, args ...string) (string, error) {
	cmd := exec.Command(kerneltest.Kubectl(s.t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig, "HOME="+s.dir)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startUp runs `weft up` with a node named prefix-PID until the test ends, waits for
// the node to be Ready, and cleans up what the node leaves running.
func startUp(t *testing.T, prefix string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	node := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	s := &server{t: t, dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), log: &bytes.Buffer{}}
	s.cmd = exec.Command(weftBin, "up", "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--node-name", node)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("weft up log:\n%s", s.log)
		}
		cleanupNode(t, dir, node)
	})
	waitFor(t, "node Ready", func() (string, bool) {
		out, _ := s.kubectlErr("get", "node", node, "--no-headers")
		return out, regexpLine(out, node+`\s+Ready\s+.*`)
	})
	return s, node
}
