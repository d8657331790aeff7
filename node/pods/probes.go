package pods

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"weft.dev/weft/node/runtime"
)

type probeKind string

const (
	liveness  probeKind = "Liveness"
	readiness probeKind = "Readiness"
	startup   probeKind = "Startup"
)

// startProbes starts the probe loops of a running instance. Without a startup probe
// the container counts as started at once; without a readiness probe it is ready
// once started.
func (w *podWorker) startProbes(ctx context.Context, pod *corev1.Pod, c *ctrState, spec *corev1.Container) {
	w.stopProbes(c)
	pctx, cancel := context.WithCancel(ctx)
	host := w.probeHost(pod)
	w.mu.Lock()
	c.probeCancel = cancel
	id := c.id
	if spec.StartupProbe == nil {
		c.started = true
	}
	if spec.ReadinessProbe == nil {
		c.ready = true
	}
	if c.init && !c.sidecar {
		c.ready = false
	}
	w.mu.Unlock()
	if c.init && !c.sidecar {
		return // init containers have no probes
	}
	for _, p := range []struct {
		kind  probeKind
		probe *corev1.Probe
	}{{startup, spec.StartupProbe}, {liveness, spec.LivenessProbe}, {readiness, spec.ReadinessProbe}} {
		if p.probe != nil {
			go w.probeLoop(pctx, pod, host, c, spec, id, p.kind, p.probe)
		}
	}
	w.poke()
}

func (w *podWorker) stopProbes(c *ctrState) {
	w.mu.Lock()
	cancel := c.probeCancel
	c.probeCancel = nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (w *podWorker) stopAllProbes() {
	w.mu.Lock()
	ctrs := make([]*ctrState, 0, len(w.ctrs))
	for _, c := range w.ctrs {
		ctrs = append(ctrs, c)
	}
	w.mu.Unlock()
	for _, c := range ctrs {
		w.stopProbes(c)
	}
}

func (w *podWorker) probeLoop(ctx context.Context, pod *corev1.Pod, host string, c *ctrState, spec *corev1.Container, id string, kind probeKind, p *corev1.Probe) {
	sec := w.m.cfg.ProbeSecond
	period := time.Duration(max(p.PeriodSeconds, 1)) * sec
	if p.PeriodSeconds == 0 {
		period = 10 * sec
	}
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	successT := max(int(p.SuccessThreshold), 1)
	failureT := max(int(p.FailureThreshold), 1)
	if p.FailureThreshold == 0 {
		failureT = 3
	}
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	if !wait(time.Duration(p.InitialDelaySeconds) * sec) {
		return
	}
	successes, failures := 0, 0
	last := ""
	for {
		w.mu.Lock()
		started := c.started
		current := c.id == id
		w.mu.Unlock()
		if !current {
			return
		}
		if kind == startup && started {
			return
		}
		if kind == startup || started {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			err := w.runProbe(pctx, host, spec, id, p.ProbeHandler)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				successes++
				failures = 0
			} else {
				failures++
				successes = 0
				if msg := err.Error(); msg != last {
					w.log().Info(string(kind)+" probe failed", "container", spec.Name, "err", err)
					last = msg
				}
			}
			w.probeResult(c, id, kind, successes, failures, successT, failureT)
		}
		if !wait(period) {
			return
		}
	}
}

// probeResult applies thresholds: readiness flips ready; liveness and startup
// failures ask the worker to kill the instance.
func (w *podWorker) probeResult(c *ctrState, id string, kind probeKind, successes, failures, successT, failureT int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.id != id {
		return
	}
	changed := false
	switch kind {
	case readiness:
		if successes >= successT && !c.ready {
			c.ready, changed = true, true
		}
		if failures >= failureT && c.ready {
			c.ready, changed = false, true
		}
	case startup:
		if successes >= 1 && !c.started {
			c.started, changed = true, true
		}
		if failures >= failureT && c.killReq == "" {
			c.killReq, changed = "startup probe failed", true
		}
	case liveness:
		if failures >= failureT && c.killReq == "" {
			c.killReq, changed = "liveness probe failed", true
		}
	}
	if changed {
		w.poke()
	}
}

// runProbe runs one check; nil is success.
func (w *podWorker) runProbe(ctx context.Context, podHost string, spec *corev1.Container, id string, h corev1.ProbeHandler) error {
	switch {
	case h.Exec != nil:
		var out strings.Builder
		code, err := w.m.rt.Exec(ctx, id, runtime.ExecOptions{Cmd: h.Exec.Command, Stdout: &out, Stderr: &out})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %v exited with %d: %s", h.Exec.Command, code, truncateOutput(out.String()))
		}
		return nil
	case h.HTTPGet != nil:
		return w.httpGet(ctx, podHost, spec, h.HTTPGet)
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, spec)
		if err != nil {
			return err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = podHost
		}
		conn, err := w.dial(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.GRPC != nil:
		return w.grpcProbe(ctx, podHost, h.GRPC)
	}
	return errors.New("probe has no handler")
}

// grpcProbe is the standard gRPC health check, as kubelet runs it: plaintext, to the
// pod's address, SERVING is success.
func (w *podWorker) grpcProbe(ctx context.Context, host string, g *corev1.GRPCAction) error {
	conn, err := grpc.NewClient(net.JoinHostPort(host, strconv.Itoa(int(g.Port))),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return w.dial(ctx, addr) }),
		grpc.WithUserAgent("kube-probe/1.33"),
	)
	if err != nil {
		return err
	}
	defer conn.Close()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("gRPC health check: %w", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("gRPC health check: service unhealthy (responded with %q)", resp.GetStatus())
	}
	return nil
}

func truncateOutput(s string) string {
	if len(s) > 256 {
		return s[:256]
	}
	return s
}

func (w *podWorker) probeHost(pod *corev1.Pod) string {
	if pod.Spec.HostNetwork {
		if w.m.cfg.NodeIP.IsValid() {
			return w.m.cfg.NodeIP.String()
		}
		return "127.0.0.1"
	}
	if len(w.podIPs) > 0 {
		return w.podIPs[0]
	}
	return "127.0.0.1"
}

// dial connects from the node's network namespace, which is the agent's own unless
// the network was configured with another one (several nodes in one process).
func (w *podWorker) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	hostNS := ""
	if w.m.cfg.Network != nil {
		hostNS = w.m.cfg.Network.Config().HostNetNS
	}
	if hostNS == "" {
		return d.DialContext(ctx, "tcp", addr)
	}
	var conn net.Conn
	err := ns.WithNetNSPath(hostNS, func(ns.NetNS) error {
		var err error
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return conn, err
}

func (w *podWorker) httpGet(ctx context.Context, podHost string, spec *corev1.Container, g *corev1.HTTPGetAction) error {
	port, err := resolvePort(g.Port, spec)
	if err != nil {
		return err
	}
	host := g.Host
	if host == "" {
		host = podHost
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if p, err := url.Parse(path); err == nil {
		u.Path, u.RawQuery = p.Path, p.RawQuery
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/1.33")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	tr := &http.Transport{
		DialContext:       func(ctx context.Context, _, addr string) (net.Conn, error) { return w.dial(ctx, addr) },
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet does not verify probe certificates either
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, 10*1024)
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

func resolvePort(p intstr.IntOrString, spec *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range spec.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	return 0, fmt.Errorf("port %q not found in container %s", p.StrVal, spec.Name)
}

// runHandler runs a lifecycle hook (postStart, preStop).
func (w *podWorker) runHandler(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, id string, h *corev1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		code, err := w.m.rt.Exec(ctx, id, runtime.ExecOptions{Cmd: h.Exec.Command})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %v exited with %d", h.Exec.Command, code)
		}
		return nil
	case h.HTTPGet != nil:
		return w.httpGet(ctx, w.probeHost(pod), spec, h.HTTPGet)
	case h.TCPSocket != nil:
		return nil // deprecated and a no-op in kubelet too
	case h.Sleep != nil:
		t := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
