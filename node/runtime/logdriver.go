package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/runtime/v2/logging"
)

// LogDriverArg is the first argument with which a containerd shim runs the agent's
// own binary as a log driver: `<binary> weft-log-driver <log path>`. The shim hands
// the driver the container's stdout and stderr, and the driver lives as long as the
// container, so logs keep flowing while the agent or containerd restart. Any binary
// that embeds this package must call RunLogDriverIfRequested first thing in main (the
// tests do so in TestMain).
const LogDriverArg = "weft-log-driver"

// RunLogDriverIfRequested turns the process into a log driver, and never returns,
// when its arguments say the shim started it as one; otherwise it does nothing.
func RunLogDriverIfRequested() {
	if len(os.Args) != 3 || os.Args[1] != LogDriverArg {
		return
	}
	path := os.Args[2]
	logging.Run(func(ctx context.Context, cfg *logging.Config, ready func() error) error {
		return runLogDriver(ctx, path, cfg.Stdout, cfg.Stderr, ready)
	})
}

// drainGrace bounds how long the driver keeps copying after the shim asks it to stop;
// the shim signals when the container's IO is closed, and what is still in the pipes
// belongs in the log.
const drainGrace = 2 * time.Second

func runLogDriver(ctx context.Context, path string, stdout, stderr io.Reader, ready func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := ready(); err != nil {
		return fmt.Errorf("signal ready: %w", err)
	}
	lw := &logWriter{w: f, now: time.Now}
	var wg sync.WaitGroup
	for stream, r := range map[string]io.Reader{StreamStdout: stdout, StreamStderr: stderr} {
		if r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = lw.copyStream(stream, r)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(drainGrace):
		}
	}
	return nil
}
