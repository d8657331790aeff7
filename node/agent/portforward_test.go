package agent_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/node/agent"
)

// forwardTargets maps a fake pod's port to a real listener of the test.
var forwardTargets sync.Map // int32 -> string (address)

// PortForward implements agent.PodManager: ports in forwardTargets reach their
// listener, others are refused.
func (f *fakePods) PortForward(ctx context.Context, namespace, pod string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	addr, ok := forwardTargets.Load(port)
	if !ok {
		return fmt.Errorf("failed to connect to localhost:%d inside the pod: connection refused", port)
	}
	conn, err := net.Dial("tcp", addr.(string))
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(conn, stream)
		_ = conn.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	_, err = io.Copy(stream, conn)
	_ = stream.(interface{ CloseWrite() error }).CloseWrite()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return err
}

// TestPortForwardAgainstKernel runs the real kubectl port-forward against the kernel
// and a node whose pod manager forwards to listeners of the test: over the WebSocket
// tunnel (kubectl's default), over SPDY (its fallback), with an error for a port
// nothing listens on, and the checks the kernel makes before any upgrade.
func TestPortForwardAgainstKernel(t *testing.T) {
	kubectl := kerneltest.Kubectl(t)
	c := kerneltest.Start(t, kerneltest.Options{Tune: func(cfg *kernel.Config) {
		cfg.NodeAddr = "127.0.0.1:0"
	}})
	ctx := context.Background()
	cs := c.Client
	pods := newFakePods()
	startAgent(t, c, t.TempDir(), pods)
	waitFor(t, 20*time.Second, "node Ready", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		return err == nil && nodeReady(n) == corev1.ConditionTrue, err
	})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the pod, %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	forwardTargets.Store(int32(80), srv.Listener.Addr().String())
	t.Cleanup(func() { forwardTargets.Delete(int32(80)) })

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "fwd", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{
			{Name: "main", Image: "busybox"}, {Name: "side", Image: "busybox"},
		}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "pod at the manager", func() (bool, error) { return pods.get("fwd") != nil, nil })
	running := pods.get("fwd").DeepCopy()
	running.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.7", HostIP: "127.0.0.1"}
	pods.updates <- agent.Update{Pod: running}
	waitFor(t, 10*time.Second, "pod Running", func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "fwd", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})

	for _, mode := range []struct{ name, env string }{
		{"websocket", "KUBECTL_PORT_FORWARD_WEBSOCKETS=true"},
		{"spdy", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			pf := kerneltest.StartPortForward(t, kubectl, []string{mode.env}, 2, "--kubeconfig", c.Kubeconfig, "-v=4", "pod/fwd", ":80", ":81")
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			// Several connections, some at once: each is its own stream pair.
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/n%d", pf.Ports[80], i))
					if err != nil {
						t.Errorf("GET through port-forward: %v", err)
						return
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					if want := fmt.Sprintf("hello from the pod, /n%d", i); string(b) != want {
						t.Errorf("got %q, want %q", b, want)
					}
				})
			}
			wg.Wait()
			if mode.name == "websocket" {
				// kubectl tried the tunnel first and did not need its fallback.
				if out := pf.Output(); strings.Contains(out, "fallback to secondary dialer") || !strings.Contains(out, "negotiated protocol: portforward.k8s.io") {
					t.Errorf("kubectl fell back to SPDY:\n%s", out)
				}
			}
			// Nothing listens on 81: the connection ends and kubectl reports the node's
			// error, as it reports kubelet's.
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", pf.Ports[81]))
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Errorf("read from a refused port: %d %v", n, err)
			}
			conn.Close()
			waitFor(t, 5*time.Second, "kubectl reports the refused port", func() (bool, error) {
				return strings.Contains(pf.Output(), "connection refused"), nil
			})
			if out := pf.Output(); !strings.Contains(out, "an error occurred forwarding") || !strings.Contains(out, "81") {
				t.Errorf("kubectl output: %s", out)
			}
		})
	}

	// Checks before the upgrade answer with a Status.
	rc := cs.CoreV1().RESTClient()
	other := pod.DeepCopy()
	other.Name, other.Spec.NodeName = "elsewhere", "node-b"
	unbound := pod.DeepCopy()
	unbound.Name, unbound.Spec.NodeName = "unbound", ""
	for _, p := range []*corev1.Pod{other, unbound} {
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		pod, port string
		code      int32
		msg       string
	}{
		{"nope", "", 404, `pods "nope" not found`},
		{"unbound", "", 400, "does not have a host assigned"},
		{"fwd", "0", 400, `invalid port "0"`},
		{"elsewhere", "", 503, `node "node-b" of pod elsewhere is not connected`},
		{"fwd", "", 400, "port-forward needs an upgrade to SPDY/3.1"},
	} {
		req := rc.Post().Namespace("default").Resource("pods").Name(tc.pod).SubResource("portforward")
		if tc.port != "" {
			req = req.Param("ports", tc.port)
		}
		err := req.Do(ctx).Error()
		st, ok := err.(apierrors.APIStatus)
		if !ok || st.Status().Code != tc.code || !strings.Contains(st.Status().Message, tc.msg) {
			t.Errorf("portforward %s ports=%q: %v, want %d %q", tc.pod, tc.port, err, tc.code, tc.msg)
		}
	}
	out, err := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "port-forward", "pod/nope", ":80").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `pods "nope" not found`) {
		t.Errorf("port-forward to a missing pod: %v %s", err, out)
	}
}
