package nodes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/apiserver"
	"weft.dev/weft/nodelink"
	"weft.dev/weft/nodelink/nodeapi"
)

var (
	podGVKMeta        = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	podExecOptionsGVK = metav1.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}
)

// WebSocket subprotocols of remote commands: v5 adds the close message (255) that
// ends stdin; v4 is the same otherwise.
const (
	protocolV5 = "v5.channel.k8s.io"
	protocolV4 = "v4.channel.k8s.io"
)

// target is a pod's node and container, after the checks kube-apiserver makes before
// it proxies to a kubelet.
type target struct {
	pod       *unstructured.Unstructured
	node      string
	container string
}

func (m *Manager) resolve(r *http.Request, req apiserver.SubresourceRequest, container string) (*target, error) {
	p, err := m.objects.Get(r.Context(), req.Kind, req.Namespace, req.Name, "")
	if err != nil {
		return nil, err
	}
	node, _, _ := unstructured.NestedString(p.Object, "spec", "nodeName")
	if node == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", req.Name))
	}
	var names []string
	for _, f := range []string{"containers", "initContainers", "ephemeralContainers"} {
		cs, _, _ := unstructured.NestedSlice(p.Object, "spec", f)
		for _, c := range cs {
			if cm, ok := c.(map[string]any); ok {
				if n, _ := cm["name"].(string); n != "" && (f == "containers" || container != "") {
					names = append(names, n)
				}
			}
		}
	}
	if container == "" {
		if d := p.GetAnnotations()["kubectl.kubernetes.io/default-container"]; d != "" && slices.Contains(names, d) {
			container = d
		} else if len(names) == 1 {
			container = names[0]
		} else {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", req.Name, names))
		}
	}
	if !slices.Contains(names, container) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, req.Name))
	}
	return &target{pod: p, node: node, container: container}, nil
}

// open opens a stream of kind to the pod's node, mapping "not connected" onto the
// 503 a client can understand.
func (m *Manager) open(ctx context.Context, t *target, kind string, header any) (io.ReadWriteCloser, error) {
	raw, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	st, err := m.srv.OpenStream(ctx, t.node, kind, raw)
	switch {
	case errors.Is(err, nodelink.ErrNotConnected):
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q of pod %s is not connected", t.node, t.pod.GetName()))
	case errors.Is(err, nodelink.ErrNoHandler):
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q does not serve %s", t.node, kind))
	case err != nil:
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q: %v", t.node, err))
	}
	return st, nil
}

// streamCtx ends with the request or with CloseStreams.
func (m *Manager) streamCtx(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(m.streamsCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (m *Manager) serveLog(w http.ResponseWriter, r *http.Request, req apiserver.SubresourceRequest) {
	q := r.URL.Query()
	t, err := m.resolve(r, req, q.Get("container"))
	if err != nil {
		apiserver.WriteStatus(w, err)
		return
	}
	h := nodeapi.LogsHeader{
		Namespace: req.Namespace, Pod: req.Name, UID: t.pod.GetUID(), Container: t.container,
		Follow: isTrue(q.Get("follow")), Previous: isTrue(q.Get("previous")), Timestamps: isTrue(q.Get("timestamps")),
	}
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"tailLines", &h.TailLines}, {"limitBytes", &h.LimitBytes}, {"sinceSeconds", nil}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || (p.name != "tailLines" && n == 0) {
			apiserver.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("invalid %s %q", p.name, v)))
			return
		}
		if p.dst != nil {
			*p.dst = &n
		} else {
			since := time.Now().Add(-time.Duration(n) * time.Second)
			h.Since = &since
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		if h.Since != nil {
			apiserver.WriteStatus(w, apierrors.NewBadRequest("at most one of sinceTime or sinceSeconds may be specified"))
			return
		}
		since, err := time.Parse(time.RFC3339, v)
		if err != nil {
			apiserver.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("invalid sinceTime %q", v)))
			return
		}
		h.Since = &since
	}
	ctx, cancel := m.streamCtx(r)
	defer cancel()
	st, err := m.open(ctx, t, nodeapi.StreamLogs, h)
	if err != nil {
		apiserver.WriteStatus(w, err)
		return
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	br := bufio.NewReader(st)
	res, err := nodeapi.ReadResult(br)
	if err != nil {
		apiserver.WriteStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q: logs of %s/%s: %v", t.node, req.Namespace, req.Name, err)))
		return
	}
	if res.Status == metav1.StatusFailure {
		if res.Code == 0 {
			res.Code = http.StatusInternalServerError
		}
		apiserver.WriteStatus(w, &apierrors.StatusError{ErrStatus: *res})
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	var src io.Reader = br
	if h.LimitBytes != nil {
		src = io.LimitReader(br, *h.LimitBytes)
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			if flusher != nil && br.Buffered() == 0 {
				flusher.Flush()
			}
		}
		if rerr != nil {
			return
		}
	}
}

func isTrue(s string) bool { return s == "true" || s == "1" }

// serveExec bridges kubectl exec (WebSocket, v5.channel.k8s.io or v4) to an exec
// stream on the pod's node.
func (m *Manager) serveExec(w http.ResponseWriter, r *http.Request, req apiserver.SubresourceRequest) {
	q := r.URL.Query()
	t, err := m.resolve(r, req, q.Get("container"))
	if err != nil {
		apiserver.WriteStatus(w, err)
		return
	}
	h := nodeapi.ExecHeader{
		Namespace: req.Namespace, Pod: req.Name, UID: t.pod.GetUID(), Container: t.container,
		Command: q["command"], Stdin: isTrue(q.Get("stdin")), Stdout: isTrue(q.Get("stdout")),
		Stderr: isTrue(q.Get("stderr")), TTY: isTrue(q.Get("tty")),
	}
	if len(h.Command) == 0 {
		apiserver.WriteStatus(w, apierrors.NewBadRequest("you must specify at least 1 command"))
		return
	}
	if !h.Stdin && !h.Stdout && !h.Stderr {
		apiserver.WriteStatus(w, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr"))
		return
	}
	if h.TTY {
		h.Stderr = false // a terminal merges stderr into stdout
	}
	// Before the protocol check: kubectl falls back from WebSocket to SPDY on any
	// failed upgrade, and the error of the fallback is the one it shows.
	if !m.srv.Connected(t.node) {
		apiserver.WriteStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q of pod %s is not connected", t.node, t.pod.GetName())))
		return
	}
	proto := pickProtocol(r)
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || proto == "" {
		apiserver.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("exec needs a WebSocket upgrade with subprotocol %s or %s; SPDY is not served", protocolV5, protocolV4)))
		return
	}
	ctx, cancel := m.streamCtx(r)
	defer cancel()
	st, err := m.open(ctx, t, nodeapi.StreamExec, h)
	if err != nil {
		apiserver.WriteStatus(w, err)
		return
	}
	defer st.Close()
	ws := websocket.Server{
		Handshake: func(c *websocket.Config, _ *http.Request) error {
			c.Protocol = []string{proto}
			return nil
		},
		Handler: func(conn *websocket.Conn) {
			conn.PayloadType = websocket.BinaryFrame
			conn.MaxPayloadBytes = nodeapi.MaxMessage
			bridgeExec(ctx, conn, st, proto == protocolV5)
		},
	}
	ws.ServeHTTP(hijackable{w}, r)
}

func pickProtocol(r *http.Request) string {
	var offered []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			offered = append(offered, strings.TrimSpace(p))
		}
	}
	for _, p := range []string{protocolV5, protocolV4} {
		if slices.Contains(offered, p) {
			return p
		}
	}
	return ""
}

// hijackable reaches the connection through wrapping ResponseWriters (x/net/websocket
// asserts http.Hijacker on the writer it is given).
type hijackable struct{ http.ResponseWriter }

func (h hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// bridgeExec copies WebSocket messages (first byte: the channel) to exec messages on
// the node stream and back, until the node sends the final status.
func bridgeExec(ctx context.Context, ws *websocket.Conn, st io.ReadWriteCloser, v5 bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ws.Close(); st.Close() })
	defer stop()
	var wmu sync.Mutex
	// Client to node.
	go func() {
		defer cancel()
		for {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if len(msg) == 0 {
				continue
			}
			ch, data := msg[0], msg[1:]
			var err error
			switch {
			case ch == nodeapi.ChanStdin && len(data) > 0:
				wmu.Lock()
				err = nodeapi.WriteMessage(st, nodeapi.ChanStdin, data)
				wmu.Unlock()
			case ch == nodeapi.ChanResize:
				wmu.Lock()
				err = nodeapi.WriteMessage(st, nodeapi.ChanResize, data)
				wmu.Unlock()
			case ch == nodeapi.ChanClose && v5 && len(data) == 1 && data[0] == nodeapi.ChanStdin:
				wmu.Lock()
				err = nodeapi.WriteMessage(st, nodeapi.ChanClose, data)
				wmu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	// Node to client.
	br := bufio.NewReader(st)
	for {
		ch, data, err := nodeapi.ReadMessage(br)
		if err != nil {
			if ctx.Err() == nil {
				raw, _ := json.Marshal(nodeapi.ErrorStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, fmt.Sprintf("exec stream from node ended: %v", err)))
				_ = websocket.Message.Send(ws, append([]byte{nodeapi.ChanError}, raw...))
			}
			ws.Close()
			return
		}
		switch ch {
		case nodeapi.ChanStdout, nodeapi.ChanStderr:
			if websocket.Message.Send(ws, append([]byte{ch}, data...)) != nil {
				return
			}
		case nodeapi.ChanError:
			_ = websocket.Message.Send(ws, append([]byte{ch}, data...))
			ws.Close()
			return
		}
	}
}
