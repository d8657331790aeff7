package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/node/runtime/runtimetest"
)

// kubectl port-forward reaches a real pod through the kernel and its node: a port
// the pod serves on all addresses, a port bound only to 127.0.0.1 inside the pod
// (the node dials from the pod's network namespace, as kubelet does), and a clear
// error for a pod that does not exist.
func TestPortForward(t *testing.T) {
	runtimetest.Gate(t)
	kubectl := kerneltest.Kubectl(t)
	s, _ := startUp(t, "pf")
	const manifest = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: localhost/busybox:latest
    command: ["sh", "-c", "httpd -p 127.0.0.1:8081 && exec httpd -f -p 80"]
    readinessProbe: {tcpSocket: {port: 80}, periodSeconds: 1}
`
	if out, err := s.kubectlIn(manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out, err := s.kubectlErr("wait", "--for=condition=Ready", "pod/web", "--timeout=40s"); err != nil {
		t.Fatalf("pod not Ready: %v\n%s", err, out)
	}
	ip := s.kubectl("get", "pod", "web", "-o", "jsonpath={.status.podIP}")

	pf := startPortForward(t, kubectl, s, "pod/web", ":80", ":8081")
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, port := range []int{80, 8081} {
		resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/etc/hostname", pf.Ports[port]))
		if err != nil {
			t.Fatalf("GET through port-forward to %d: %v\n%s", port, err, pf.Output())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "web" {
			t.Fatalf("port %d: %s %q", port, resp.Status, b)
		}
	}
	// 8081 is bound to the pod's loopback only: from the node it is not reachable.
	if resp, err := hc.Get("http://" + ip + ":8081/etc/hostname"); err == nil {
		resp.Body.Close()
		t.Fatalf("port 8081 answered on the pod IP %s; the test would not show the dial inside the pod", ip)
	}

	// Nothing listens on 9: the connection ends and kubectl shows the node's error.
	refused := startPortForward(t, kubectl, s, "pod/web", ":9")
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", refused.Ports[9]))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("read from a refused port: %d %v", n, err)
	}
	conn.Close()
	waitFor(t, "kubectl shows the refused connection", func() (string, bool) {
		out := refused.Output()
		return out, strings.Contains(out, "an error occurred forwarding") && strings.Contains(out, "failed to connect to localhost:9 inside the pod") && strings.Contains(out, "connection refused")
	})

	out, err := s.kubectlErr("port-forward", "pod/nope", ":80")
	if err == nil || !strings.Contains(out, `pods "nope" not found`) {
		t.Fatalf("port-forward to a missing pod: %v\n%s", err, out)
	}

	s.kubectl("delete", "pod", "web", "--grace-period=1")
	waitFor(t, "pod gone", func() (string, bool) {
		out, err := s.kubectlErr("get", "pod", "web")
		return out, err != nil && strings.Contains(out, "NotFound")
	})
}

func startPortForward(t *testing.T, kubectl string, s *server, target string, ports ...string) *kerneltest.PortForward {
	t.Helper()
	return kerneltest.StartPortForward(t, kubectl, []string{"KUBECONFIG=" + s.kubeconfig, "HOME=" + s.dir}, len(ports), append([]string{target}, ports...)...)
}
