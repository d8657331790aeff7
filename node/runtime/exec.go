package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
)

// ExecOptions describe a process to run inside a running container.
type ExecOptions struct {
	Cmd    []string
	Env    []string // KEY=value, over the container's environment
	TTY    bool
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer // nil: discarded
	Stderr io.Writer // nil: discarded; unused with TTY, which merges into Stdout
	// Resize, when given with TTY, carries terminal size changes until closed.
	Resize <-chan TermSize
}

// ioDrainTimeout bounds how long Exec waits for output after the process exited.
const ioDrainTimeout = 2 * time.Second

// TermSize is a terminal's size in characters.
type TermSize struct{ Width, Height uint32 }

// Exec runs a process in the container and returns its exit code once it has exited
// and its output has been copied. Cancelling ctx kills the process.
func (r *Runtime) Exec(ctx context.Context, id string, opts ExecOptions) (int, error) {
	if len(opts.Cmd) == 0 {
		return -1, fmt.Errorf("%w: exec in %s: empty command", ErrInvalidSpec, id)
	}
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("container %s: %w", id, wrapNotFound(err))
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, notRunning(err))
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: spec: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = opts.Cmd
	pspec.Terminal = opts.TTY
	pspec.Env = append(append([]string{}, pspec.Env...), opts.Env...)

	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// When stdin ends the process must see EOF, which takes a CloseIO call on the
	// process; the copy goroutine lives in cio, so it reports EOF on a channel.
	var stdin io.Reader
	stdinDone := make(chan struct{})
	if opts.Stdin != nil {
		stdin = &eofNotifier{r: opts.Stdin, done: stdinDone}
	}
	ioOpts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr)}
	if opts.TTY {
		ioOpts = append(ioOpts, cio.WithTerminal)
	}
	if r.opts.FIFODir != "" {
		ioOpts = append(ioOpts, cio.WithFIFODir(r.opts.FIFODir))
	}

	execID := "exec-" + randomHex(8)
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(ioOpts...))
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, notRunning(err))
	}
	// The process record outlives ctx cancellation; clean up with a fresh context.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = proc.Delete(dctx, containerd.WithProcessKill)
	}()
	exited, err := proc.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: wait: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec in %s: start: %w", id, err)
	}
	if opts.Stdin != nil {
		go func() {
			select {
			case <-stdinDone:
				_ = proc.CloseIO(ctx, containerd.WithStdinCloser)
			case <-ctx.Done():
			}
		}()
	}
	if opts.TTY && opts.Resize != nil {
		go func() {
			for sz := range opts.Resize {
				if err := proc.Resize(ctx, sz.Width, sz.Height); err != nil {
					return
				}
			}
		}()
	}
	select {
	case st := <-exited:
		// Output is complete only once the FIFOs are drained. A background child that
		// inherited stdout would hold them open for ever, so the drain is bounded.
		drained := make(chan struct{})
		go func() { proc.IO().Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(ioDrainTimeout):
		case <-ctx.Done():
		}
		code, _, err := st.Result()
		if err != nil {
			return -1, fmt.Errorf("exec in %s: %w", id, err)
		}
		return int(code), nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func notRunning(err error) error {
	if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
		return fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	return err
}

type eofNotifier struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
