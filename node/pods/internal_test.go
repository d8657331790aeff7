package pods

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestAtomicWrite: updates swap ..data in one rename, keys that went away vanish,
// and the previous timestamped directory is removed.
func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	if err := atomicWrite(dir, map[string]file{"a": {data: []byte("1"), mode: 0o644}, "sub/b": {data: []byte("2"), mode: 0o600}}); err != nil {
		t.Fatal(err)
	}
	first, _ := os.Readlink(filepath.Join(dir, "..data"))
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "b")); err != nil || string(b) != "2" {
		t.Fatalf("sub/b = %q %v", b, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "sub", "b")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if err := atomicWrite(dir, map[string]file{"a": {data: []byte("one"), mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "one" {
		t.Errorf("a = %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("removed key still visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Errorf("old payload dir %s left: %v", first, err)
	}
	if link, _ := os.Readlink(filepath.Join(dir, "a")); link != "..data/a" {
		t.Errorf("a links to %q", link)
	}
	if err := atomicWrite(dir, map[string]file{"../evil": {}}); err == nil {
		t.Error("a payload path leaving the volume was accepted")
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "B": "y"}
	for in, want := range map[string]string{
		"$(A)":         "x",
		"$(A)-$(B)":    "x-y",
		"$$(A)":        "$(A)",
		"$(MISSING)":   "$(MISSING)",
		"plain $ text": "plain $ text",
		"$(A":          "$(A",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLimits(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	}}
	l := limitsFor(c)
	if l.CPUShares != 256 || l.CPUQuota != 150000 || l.CPUPeriod != 100000 || l.MemoryLimit != 128<<20 {
		t.Errorf("limits %+v", l)
	}
	if l := limitsFor(&corev1.Container{}); l.CPUShares != 2 || l.CPUQuota != 0 || l.MemoryLimit != 0 {
		t.Errorf("best effort limits %+v", l)
	}
}

func TestPodPhase(t *testing.T) {
	pod := &corev1.Pod{}
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	ok := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}
	bad := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	backoff := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	creating := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		ctrs   []corev1.ContainerStatus
		want   corev1.PodPhase
	}{
		{corev1.RestartPolicyAlways, []corev1.ContainerStatus{running, creating}, corev1.PodPending},
		{corev1.RestartPolicyAlways, []corev1.ContainerStatus{running, backoff}, corev1.PodRunning},
		{corev1.RestartPolicyAlways, []corev1.ContainerStatus{ok}, corev1.PodRunning},
		{corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{ok, ok}, corev1.PodSucceeded},
		{corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{ok, bad}, corev1.PodRunning},
		{corev1.RestartPolicyNever, []corev1.ContainerStatus{ok, bad}, corev1.PodFailed},
		{corev1.RestartPolicyNever, []corev1.ContainerStatus{ok, running}, corev1.PodRunning},
	} {
		if got := podPhase(pod, tc.policy, nil, tc.ctrs, true); got != tc.want {
			t.Errorf("%s %v: %s, want %s", tc.policy, tc.ctrs, got, tc.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	node := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(node, []byte("# comment\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &Manager{cfg: Config{ResolvConf: node, ClusterDomain: "cluster.local"}}
	w := &podWorker{m: m}
	pod := &corev1.Pod{}
	pod.Namespace = "ns"
	got, err := w.resolvConf(pod)
	if err != nil || string(got) != "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n" {
		t.Errorf("without cluster DNS: %q %v", got, err)
	}
	m.cfg.ClusterDNS = []string{"10.96.0.10"}
	got, _ = w.resolvConf(pod)
	if string(got) != "nameserver 10.96.0.10\nsearch ns.svc.cluster.local svc.cluster.local cluster.local example.org\noptions ndots:5\n" {
		t.Errorf("ClusterFirst: %q", got)
	}
	pod.Spec.DNSPolicy = corev1.DNSNone
	v := "2"
	pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.1"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &v}}}
	got, _ = w.resolvConf(pod)
	if string(got) != "nameserver 192.0.2.1\noptions ndots:2\n" {
		t.Errorf("None: %q", got)
	}
}

// TestProbeHandlers runs the network probes against servers on loopback.
func TestProbeHandlers(t *testing.T) {
	w := &podWorker{m: &Manager{cfg: Config{}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	port := ln.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g := &corev1.GRPCAction{Port: int32(port)}
	if err := w.grpcProbe(ctx, "127.0.0.1", g); err != nil {
		t.Errorf("serving: %v", err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := w.grpcProbe(ctx, "127.0.0.1", g); err == nil {
		t.Error("NOT_SERVING passed")
	}

	hsrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Header.Get("X-Probe") != "yes" {
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hsrv.Close()
	hp := hsrv.Listener.Addr().(*net.TCPAddr).Port
	spec := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(hp)}}}
	get := &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}}}
	if err := w.httpGet(ctx, "127.0.0.1", spec, get); err != nil {
		t.Errorf("httpGet: %v", err)
	}
	get.Path = "/other"
	if err := w.httpGet(ctx, "127.0.0.1", spec, get); err == nil {
		t.Error("503 passed")
	}
	if err := w.runProbe(ctx, "127.0.0.1", spec, "", corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(hp))}}); err != nil {
		t.Errorf("tcpSocket: %v", err)
	}
}
