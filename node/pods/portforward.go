package pods

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/node/runtime"
)

// portForwardDialTimeout bounds the connect inside the pod; a listening port answers
// at once, so a longer wait would only hide a black hole.
const portForwardDialTimeout = 10 * time.Second

// PortForward implements agent.PodManager. It connects to port on the pod's loopback
// from inside the pod's network namespace, as kubelet (through containerd's CRI) does,
// so a server bound to 127.0.0.1 in the pod is reachable too. A hostNetwork pod's
// namespace is the node's.
func (m *Manager) PortForward(ctx context.Context, namespace, pod string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	w, err := m.workerByName(namespace, pod)
	if err != nil {
		return err
	}
	if uid != "" && w.uid != uid {
		return fmt.Errorf("%w: %s/%s with UID %s", ErrPodNotFound, namespace, pod, uid)
	}
	w.mu.Lock()
	p := w.pod
	w.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: %s/%s", ErrPodNotFound, namespace, pod)
	}
	var netns string
	switch {
	case p.Spec.HostNetwork:
		if m.cfg.Network != nil {
			netns = m.cfg.Network.Config().HostNetNS // "" is the agent's own
		}
	case m.cfg.Network == nil:
		return fmt.Errorf("pod %s/%s has no network: this node has no pod network", namespace, pod)
	default:
		// Asked of the network, not read from the worker: the worker's fields are its
		// run goroutine's.
		sb, err := m.cfg.Network.Status(ctx, string(w.uid))
		if err != nil {
			return fmt.Errorf("%w: network of pod %s/%s: %w", runtime.ErrNotRunning, namespace, pod, err)
		}
		if sb.NetNS == "" {
			return fmt.Errorf("%w: pod %s/%s has no network namespace", runtime.ErrNotRunning, namespace, pod)
		}
		netns = sb.NetNS
	}
	conn, err := dialLoopback(ctx, netns, port)
	if err != nil {
		return err
	}
	return splice(ctx, conn, stream)
}

// dialLoopback connects to port on 127.0.0.1, then [::1], in the network namespace
// at path (the current one if empty). The socket belongs to the namespace it was
// created in, so only the dial needs the thread switched.
func dialLoopback(ctx context.Context, path string, port int32) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, portForwardDialTimeout)
	defer cancel()
	var d net.Dialer
	var conn net.Conn
	dial := func() error {
		c, err4 := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
		if err4 == nil {
			conn = c
			return nil
		}
		c, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", strconv.Itoa(int(port))))
		if err6 == nil {
			conn = c
			return nil
		}
		return fmt.Errorf("failed to connect to localhost:%d inside the pod: IPv4: %w; IPv6: %w", port, err4, err6)
	}
	if path == "" {
		return conn, dial()
	}
	err := ns.WithNetNSPath(path, func(ns.NetNS) error { return dial() })
	return conn, err
}

// splice copies both ways until both directions have ended, passing each end on as
// a half-close, or until ctx ends. The first copy error is returned.
func splice(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close(); stream.Close() })
	defer stop()
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, stream)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		errc <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		if cw, ok := stream.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		errc <- err
	}()
	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
			// One direction failed: the connection is broken, end the other.
			conn.Close()
			stream.Close()
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return first
}
