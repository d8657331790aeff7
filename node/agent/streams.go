package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"weft.dev/weft/node/runtime"
	"weft.dev/weft/nodelink/nodeapi"
)

// logsResultDelay: a follow with nothing to say yet still answers this soon, so the
// client's request completes its headers.
const logsResultDelay = 300 * time.Millisecond

// checkTarget finds the pod and container a kernel-opened stream names in the cache.
func (a *Agent) checkTarget(namespace, name, container string) *metav1.Status {
	p, ok := a.cache.pod(namespace, name)
	if !ok {
		return nodeapi.ErrorStatus(http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("pod %s/%s is not on node %s", namespace, name, a.cfg.Node))
	}
	if !hasContainer(p, container) {
		return nodeapi.ErrorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("container %s is not valid for pod %s", container, name))
	}
	return nil
}

func hasContainer(p *corev1.Pod, name string) bool {
	f := func(c corev1.Container) bool { return c.Name == name }
	return slices.ContainsFunc(p.Spec.Containers, f) || slices.ContainsFunc(p.Spec.InitContainers, f) ||
		slices.ContainsFunc(p.Spec.EphemeralContainers, func(c corev1.EphemeralContainer) bool { return c.Name == name })
}

// statusFor maps a pod manager error onto the Status the client sees.
func statusFor(err error, what string) *metav1.Status {
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		return nodeapi.ErrorStatus(http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("%s: %v", what, err))
	case errors.Is(err, runtime.ErrNotRunning):
		return nodeapi.ErrorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("%s: %v", what, err))
	}
	return nodeapi.ErrorStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, fmt.Sprintf("%s: %v", what, err))
}

// resultWriter sends the logs stream's success result before the first bytes of the
// log, or after logsResultDelay, whichever comes first.
type resultWriter struct {
	mu      sync.Mutex
	w       io.Writer
	started bool
	err     error
}

func (r *resultWriter) start() error {
	if !r.started {
		r.started = true
		r.err = nodeapi.WriteResult(r.w, nil)
	}
	return r.err
}

func (r *resultWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.start(); err != nil {
		return 0, err
	}
	return r.w.Write(p)
}

func (a *Agent) serveLogs(ctx context.Context, header []byte, st io.ReadWriteCloser) error {
	var h nodeapi.LogsHeader
	if err := json.Unmarshal(header, &h); err != nil {
		return nodeapi.WriteResult(st, nodeapi.ErrorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad logs header: "+err.Error()))
	}
	if s := a.checkTarget(h.Namespace, h.Pod, h.Container); s != nil {
		return nodeapi.WriteResult(st, s)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The kernel closes the stream when its client goes away.
	go func() { _, _ = io.Copy(io.Discard, st); cancel() }()
	opts := runtime.LogOptions{Tail: -1, Timestamps: h.Timestamps, Follow: h.Follow}
	if h.TailLines != nil {
		opts.Tail = int(*h.TailLines)
	}
	if h.Since != nil {
		opts.Since = *h.Since
	}
	rw := &resultWriter{w: st}
	timer := time.AfterFunc(logsResultDelay, func() {
		rw.mu.Lock()
		_ = rw.start()
		rw.mu.Unlock()
	})
	err := a.pods.Logs(ctx, h.Namespace, h.Pod, h.Container, h.Previous, opts, rw, rw)
	timer.Stop()
	rw.mu.Lock()
	defer rw.mu.Unlock()
	switch {
	case err != nil && !rw.started:
		rw.started = true
		return nodeapi.WriteResult(st, statusFor(err, fmt.Sprintf("logs of container %s in pod %s/%s", h.Container, h.Namespace, h.Pod)))
	case err != nil && ctx.Err() == nil:
		return err // the kernel sees the stream reset and ends the response
	}
	return rw.start()
}

// muxWriter writes one exec channel.
type muxWriter struct {
	mu *sync.Mutex
	w  io.Writer
	ch byte
}

func (m muxWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for off := 0; off < len(p); off += nodeapi.MaxMessage {
		end := min(off+nodeapi.MaxMessage, len(p))
		if err := nodeapi.WriteMessage(m.w, m.ch, p[off:end]); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

func (a *Agent) serveExec(ctx context.Context, header []byte, st io.ReadWriteCloser) error {
	var mu sync.Mutex
	sendStatus := func(s *metav1.Status) error {
		raw, err := json.Marshal(s)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		return nodeapi.WriteMessage(st, nodeapi.ChanError, raw)
	}
	var h nodeapi.ExecHeader
	if err := json.Unmarshal(header, &h); err != nil {
		return sendStatus(nodeapi.ErrorStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad exec header: "+err.Error()))
	}
	if s := a.checkTarget(h.Namespace, h.Pod, h.Container); s != nil {
		return sendStatus(s)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stdinR *io.PipeReader
	var stdinW *io.PipeWriter
	if h.Stdin {
		stdinR, stdinW = io.Pipe()
	}
	resize := make(chan runtime.TermSize, 4)
	// Kernel to node: stdin, resize, close of stdin. The end of the stream means the
	// client went away: the command is cancelled.
	go func() {
		defer cancel()
		defer func() {
			if stdinW != nil {
				stdinW.Close()
			}
		}()
		br := bufio.NewReader(st)
		for {
			ch, data, err := nodeapi.ReadMessage(br)
			if err != nil {
				return
			}
			switch ch {
			case nodeapi.ChanStdin:
				if stdinW != nil {
					if _, err := stdinW.Write(data); err != nil {
						stdinW = nil // the process stopped reading
					}
				}
			case nodeapi.ChanClose:
				if stdinW != nil {
					stdinW.Close()
					stdinW = nil
				}
			case nodeapi.ChanResize:
				var sz struct{ Width, Height uint16 }
				if json.Unmarshal(data, &sz) == nil && h.TTY {
					select {
					case resize <- runtime.TermSize{Width: uint32(sz.Width), Height: uint32(sz.Height)}:
					default:
					}
				}
			}
		}
	}()
	opts := runtime.ExecOptions{Cmd: h.Command, TTY: h.TTY}
	if stdinR != nil {
		opts.Stdin = stdinR
	}
	if h.Stdout {
		opts.Stdout = muxWriter{&mu, st, nodeapi.ChanStdout}
	}
	if h.Stderr && !h.TTY {
		opts.Stderr = muxWriter{&mu, st, nodeapi.ChanStderr}
	}
	if h.TTY {
		opts.Resize = resize
	}
	code, err := a.pods.Exec(ctx, h.Namespace, h.Pod, h.Container, opts)
	if stdinR != nil {
		stdinR.Close()
	}
	if err != nil {
		return sendStatus(statusFor(err, fmt.Sprintf("exec in container %s of pod %s/%s", h.Container, h.Namespace, h.Pod)))
	}
	return sendStatus(nodeapi.ExitStatus(code))
}
