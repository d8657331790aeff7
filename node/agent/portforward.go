package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"weft.dev/weft/nodelink/nodeapi"
)

// servePortForward serves one forwarded connection: the kernel terminates kubectl's
// SPDY stream pairs and opens one of these streams per data stream.
func (a *Agent) servePortForward(ctx context.Context, header []byte, st io.ReadWriteCloser) error {
	var h nodeapi.PortForwardHeader
	if err := json.Unmarshal(header, &h); err != nil {
		return nodeapi.WriteResult(st, nodeapi.ErrorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad port-forward header: "+err.Error()))
	}
	p, ok := a.cache.pod(h.Namespace, h.Pod)
	if !ok || h.UID != "" && p.UID != h.UID {
		return nodeapi.WriteResult(st, nodeapi.ErrorStatus(http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("pod %s/%s is not on node %s", h.Namespace, h.Pod, a.cfg.Node)))
	}
	if h.Port < 1 || h.Port > 65535 {
		return nodeapi.WriteResult(st, nodeapi.ErrorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("port %d is out of range", h.Port)))
	}
	ps := &pfStream{st: st}
	err := a.pods.PortForward(ctx, h.Namespace, h.Pod, p.UID, h.Port, ps)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	switch {
	case err != nil && !ps.started:
		ps.started = true
		return nodeapi.WriteResult(st, statusFor(err, fmt.Sprintf("port-forward to port %d of pod %s/%s", h.Port, h.Namespace, h.Pod)))
	case err != nil && ctx.Err() == nil:
		return err // the kernel sees the stream reset, as a reset TCP connection
	}
	return ps.start()
}

// pfStream is the stream as the pod manager sees it: its first Read or Write sends
// the success result, since the manager touches it only once it is connected.
type pfStream struct {
	mu      sync.Mutex
	st      io.ReadWriteCloser
	started bool
	err     error
}

// start sends the success result once; mu is held.
func (s *pfStream) start() error {
	if !s.started {
		s.started = true
		s.err = nodeapi.WriteResult(s.st, nil)
	}
	return s.err
}

func (s *pfStream) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start()
}

func (s *pfStream) Read(p []byte) (int, error) {
	if err := s.begin(); err != nil {
		return 0, err
	}
	return s.st.Read(p)
}

// Write holds no lock while writing: after the result, writes go straight through
// and the manager may read and write at once.
func (s *pfStream) Write(p []byte) (int, error) {
	if err := s.begin(); err != nil {
		return 0, err
	}
	return s.st.Write(p)
}

// CloseWrite ends the direction to the kernel (the pod closed its side).
func (s *pfStream) CloseWrite() error {
	if err := s.begin(); err != nil {
		return err
	}
	if cw, ok := s.st.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (s *pfStream) Close() error {
	if err := s.begin(); err != nil {
		return err
	}
	return s.st.Close()
}
