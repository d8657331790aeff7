package nodes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"

	"weft.dev/weft/kernel/apiserver"
	"weft.dev/weft/nodelink/nodeapi"
)

var podPortForwardOptionsGVK = metav1.GroupVersionKind{Version: "v1", Kind: "PodPortForwardOptions"}

// Port-forward protocols: SPDY/3.1 with portforward.k8s.io, either after a plain
// "Upgrade: SPDY/3.1" or inside a WebSocket whose subprotocol says so (kubectl 1.31+
// tries the WebSocket first and falls back to SPDY only when that upgrade fails).
const (
	portForwardProtocolV1 = "portforward.k8s.io"
	portForwardTunnelV1   = "SPDY/3.1+" + portForwardProtocolV1
)

// Stream headers of the portforward.k8s.io protocol.
const (
	pfHeaderStreamType = "streamType"
	pfHeaderPort       = "port"
	pfHeaderRequestID  = "requestID"
	pfStreamTypeError  = "error"
	pfStreamTypeData   = "data"
)

// kubelet's defaults: the second stream of a pair must come within
// pfPairTimeout, and a connection with no stream activity ends after pfIdleTimeout.
const (
	pfPairTimeout = 30 * time.Second
	pfIdleTimeout = 4 * time.Hour
)

// servePortForward bridges kubectl port-forward to port-forward streams on the pod's
// node: the SPDY connection ends here and every (error, data) stream pair becomes one
// node stream, so nodelink carries plain bytes and the node needs no SPDY.
func (m *Manager) servePortForward(w http.ResponseWriter, r *http.Request, req apiserver.SubresourceRequest) {
	// Every check that can fail runs before the upgrade, so the client gets a Status
	// instead of a broken tunnel. kubectl shows the error of its SPDY fallback when
	// the WebSocket upgrade fails, and that fallback makes the same checks.
	p, err := m.objects.Get(r.Context(), req.Kind, req.Namespace, req.Name, "")
	if err != nil {
		apiserver.WriteStatus(w, err)
		return
	}
	node, _, _ := unstructured.NestedString(p.Object, "spec", "nodeName")
	if node == "" {
		apiserver.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", req.Name)))
		return
	}
	for _, v := range r.URL.Query()["ports"] {
		if _, err := parsePort(v); err != nil {
			apiserver.WriteStatus(w, apierrors.NewBadRequest(err.Error()))
			return
		}
	}
	if !m.srv.Connected(node) {
		apiserver.WriteStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("node %q of pod %s is not connected", node, req.Name)))
		return
	}
	ctx, cancel := m.streamCtx(r)
	defer cancel()
	f := &forwarder{
		m: m, ctx: ctx, t: &target{pod: p, node: node},
		streams: make(chan httpstream.Stream, 8),
		pairs:   map[string]*streamPair{},
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		if !slices.Contains(offeredProtocols(r), portForwardTunnelV1) {
			apiserver.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("port-forward over WebSocket needs subprotocol %s", portForwardTunnelV1)))
			return
		}
		ws := websocket.Server{
			Handshake: func(c *websocket.Config, _ *http.Request) error {
				c.Protocol = []string{portForwardTunnelV1}
				return nil
			},
			Handler: func(ws *websocket.Conn) {
				// The tunnel is the SPDY byte stream in binary messages, as client-go's
				// TunnelingConnection reads and writes it.
				ws.PayloadType = websocket.BinaryFrame
				conn, err := spdy.NewServerConnection(ws, f.newStream)
				if err != nil {
					return
				}
				f.run(conn)
			},
		}
		ws.ServeHTTP(hijackable{w}, r)
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), spdy.HeaderSpdy31) || !httpstream.IsUpgradeRequest(r) {
		apiserver.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("port-forward needs an upgrade to %s, or a WebSocket with subprotocol %s", spdy.HeaderSpdy31, portForwardTunnelV1)))
		return
	}
	if !slices.Contains(headerValues(r, httpstream.HeaderProtocolVersion), portForwardProtocolV1) {
		apiserver.WriteStatus(w, apierrors.NewBadRequest(fmt.Sprintf("port-forward needs %s %s", httpstream.HeaderProtocolVersion, portForwardProtocolV1)))
		return
	}
	if _, err := httpstream.Handshake(r, w, []string{portForwardProtocolV1}); err != nil {
		return // answered; cannot happen after the check above
	}
	conn := spdy.NewResponseUpgrader().UpgradeResponse(hijackable{w}, r, f.newStream)
	if conn == nil {
		return // answered
	}
	f.run(conn)
}

func parsePort(s string) (int32, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q: must be a number between 1 and 65535", s)
	}
	return int32(n), nil
}

func offeredProtocols(r *http.Request) []string {
	return headerValues(r, "Sec-WebSocket-Protocol")
}

func headerValues(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.Header.Values(name) {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// forwarder serves one upgraded port-forward connection, as kubelet's
// httpStreamHandler does.
type forwarder struct {
	m       *Manager
	ctx     context.Context
	t       *target
	conn    httpstream.Connection
	streams chan httpstream.Stream
	wg      sync.WaitGroup

	mu    sync.Mutex
	pairs map[string]*streamPair
}

// newStream accepts a stream whose headers are valid; it runs on the connection's
// reader, so it only hands the stream on.
func (f *forwarder) newStream(s httpstream.Stream, _ <-chan struct{}) error {
	h := s.Headers()
	port := h.Get(pfHeaderPort)
	if port == "" {
		return fmt.Errorf("%q header is required", pfHeaderPort)
	}
	if _, err := parsePort(port); err != nil {
		return err
	}
	switch t := h.Get(pfHeaderStreamType); t {
	case pfStreamTypeError, pfStreamTypeData:
	case "":
		return fmt.Errorf("%q header is required", pfHeaderStreamType)
	default:
		return fmt.Errorf("invalid stream type %q", t)
	}
	select {
	case f.streams <- s:
		return nil
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}

// run pairs streams by request ID and forwards each complete pair, until the client
// closes the connection or the request ends.
func (f *forwarder) run(conn httpstream.Connection) {
	f.conn = conn
	conn.SetIdleTimeout(pfIdleTimeout)
	defer f.wg.Wait()
	defer conn.Close()
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-f.ctx.Done():
			return
		case s := <-f.streams:
			id := requestID(s)
			f.mu.Lock()
			p, ok := f.pairs[id]
			if !ok {
				p = &streamPair{id: id, complete: make(chan struct{})}
				f.pairs[id] = p
			}
			f.mu.Unlock()
			if !ok {
				f.wg.Go(func() { f.monitor(p) })
			}
			complete, err := p.add(s)
			switch {
			case err != nil:
				p.printError(fmt.Sprintf("error processing stream for request %s: %v", id, err))
				_ = s.Reset()
			case complete:
				f.wg.Go(func() { f.forward(p) })
			}
		}
	}
}

// requestID is the requestID header, or for clients before it the error stream's ID
// (data streams follow their error stream, two IDs on), as kubelet derives it.
func requestID(s httpstream.Stream) string {
	if id := s.Headers().Get(pfHeaderRequestID); id != "" {
		return id
	}
	if s.Headers().Get(pfHeaderStreamType) == pfStreamTypeData {
		return strconv.Itoa(int(s.Identifier()) - 2)
	}
	return strconv.Itoa(int(s.Identifier()))
}

// monitor drops a pair whose second stream does not come in time.
func (f *forwarder) monitor(p *streamPair) {
	timer := time.NewTimer(pfPairTimeout)
	defer timer.Stop()
	select {
	case <-p.complete:
		return
	case <-f.ctx.Done():
	case <-timer.C:
		p.printError(fmt.Sprintf("timed out waiting for streams of request %s", p.id))
	}
	f.remove(p)
}

func (f *forwarder) remove(p *streamPair) {
	f.mu.Lock()
	delete(f.pairs, p.id)
	f.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	var ss []httpstream.Stream
	for _, s := range []httpstream.Stream{p.data, p.err} {
		if s != nil {
			ss = append(ss, s)
		}
	}
	f.conn.RemoveStreams(ss...)
}

// forward carries one connection: a node stream to the port, with errors on the
// pair's error stream as kubelet writes them.
func (f *forwarder) forward(p *streamPair) {
	defer f.remove(p)
	defer p.err.Close()
	defer p.data.Close()
	port, _ := parsePort(p.data.Headers().Get(pfHeaderPort))
	if err := f.forwardPort(port, p.data); err != nil {
		_, _ = fmt.Fprintf(p.err, "error forwarding port %d to pod %s/%s, uid %v: %v", port, f.t.pod.GetNamespace(), f.t.pod.GetName(), f.t.pod.GetUID(), err)
	}
}

func (f *forwarder) forwardPort(port int32, data httpstream.Stream) error {
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	h := nodeapi.PortForwardHeader{Namespace: f.t.pod.GetNamespace(), Pod: f.t.pod.GetName(), UID: f.t.pod.GetUID(), Port: port}
	st, err := f.m.open(ctx, f.t, nodeapi.StreamPortForward, h)
	if err != nil {
		return err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	br := bufio.NewReader(st)
	res, err := nodeapi.ReadResult(br)
	if err != nil {
		return fmt.Errorf("node %q: %w", f.t.node, err)
	}
	if res.Status == metav1.StatusFailure {
		return errors.New(res.Message)
	}
	// Client to pod: its end is the client's half-close, passed on as FIN. A reset
	// data stream (kubectl resets it once the pod's side has ended) ends it too.
	go func() {
		_, _ = io.Copy(st, data)
		if cw, ok := st.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	// Pod to client: its end is the end of the connection for kubectl.
	src := &errReader{r: br}
	_, _ = io.Copy(data, src)
	if src.err != nil && ctx.Err() == nil {
		return fmt.Errorf("connection from node %q ended: %w", f.t.node, src.err)
	}
	return nil
}

// errReader remembers a read error other than EOF, to tell a broken node stream from
// a client that went away.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// streamPair is the error and data stream of one forwarded connection.
type streamPair struct {
	id       string
	complete chan struct{}

	mu   sync.Mutex
	data httpstream.Stream
	err  httpstream.Stream
}

// add adds a stream and reports whether the pair is now complete.
func (p *streamPair) add(s httpstream.Stream) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s.Headers().Get(pfHeaderStreamType) {
	case pfStreamTypeError:
		if p.err != nil {
			return false, errors.New("error stream already assigned")
		}
		p.err = s
	case pfStreamTypeData:
		if p.data != nil {
			return false, errors.New("data stream already assigned")
		}
		p.data = s
	}
	if p.err != nil && p.data != nil {
		close(p.complete)
		return true, nil
	}
	return false, nil
}

func (p *streamPair) printError(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		_, _ = fmt.Fprint(p.err, msg)
	}
}
