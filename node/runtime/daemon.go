package runtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
)

// Default binaries; Debian installs runc under /usr/sbin, which the shim's PATH lookup
// does not always see, so the runtime options name it explicitly.
const (
	DefaultContainerdBinary = "/usr/bin/containerd"
	DefaultRuncBinary       = "/usr/sbin/runc"
)

// Config describes a private containerd.
type Config struct {
	// DataDir holds everything the daemon writes: config, root, state, socket, pid file.
	DataDir string
	// Logger receives containerd's own log lines; nil discards them.
	Logger *slog.Logger
	// Binary is the containerd executable; empty means DefaultContainerdBinary.
	Binary string
	// StartTimeout bounds how long StartContainerd waits for the socket; default 20s.
	StartTimeout time.Duration
}

// Daemon is a containerd process this package started.
type Daemon struct {
	cfg    Config
	paths  daemonPaths
	cmd    *exec.Cmd
	done   chan struct{}
	client *containerd.Client
	logs   chan struct{}
}

// StartContainerd writes a config under cfg.DataDir and starts containerd with it,
// returning once the daemon answers on its socket. A containerd left running by a
// previous agent with the same data dir (recognised by pid file and command line) is
// stopped first; running containers survive that, their shims are separate processes.
func StartContainerd(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: empty data dir", ErrDaemon)
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDaemon, err)
	}
	cfg.DataDir = abs
	if cfg.Binary == "" {
		cfg.Binary = DefaultContainerdBinary
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := pathsFor(cfg.DataDir)
	for _, dir := range []string{cfg.DataDir, p.root, p.state, filepath.Dir(p.socket), p.fifo} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDaemon, err)
		}
	}
	if err := stopStale(ctx, p); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.config, []byte(renderConfig(p)), 0o644); err != nil {
		return nil, fmt.Errorf("%w: write config: %v", ErrDaemon, err)
	}
	// A socket left by a killed daemon would make containerd refuse to listen.
	_ = os.Remove(p.socket)
	_ = os.Remove(p.socket + ".ttrpc")

	cmd := exec.Command(cfg.Binary, "--config", p.config)
	// Own process group: a Ctrl-C on the agent's terminal must not reach containerd
	// directly; Stop decides when it goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDaemon, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start %s: %v", ErrDaemon, cfg.Binary, err)
	}
	d := &Daemon{cfg: cfg, paths: p, cmd: cmd, done: make(chan struct{}), logs: make(chan struct{})}
	go d.pipeLogs(stderr)
	go func() {
		// Wait after the log pipe is drained, as os/exec requires for StderrPipe.
		<-d.logs
		_ = cmd.Wait()
		close(d.done)
	}()
	if err := os.WriteFile(p.pid, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = d.Stop(ctx)
		return nil, fmt.Errorf("%w: write pid file: %v", ErrDaemon, err)
	}

	client, err := d.waitReady(ctx)
	if err != nil {
		_ = d.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	d.client = client
	return d, nil
}

func (d *Daemon) waitReady(ctx context.Context) (*containerd.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(d.paths.socket); err == nil {
			c, err := Connect(ctx, d.paths.socket)
			if err == nil {
				return c, nil
			}
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("%w: containerd exited during startup (see its log)", ErrDaemon)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: socket %s did not answer: %v", ErrDaemon, d.paths.socket, ctx.Err())
		case <-tick.C:
		}
	}
}

// Connect dials an existing containerd and checks that it answers.
func Connect(ctx context.Context, socket string) (*containerd.Client, error) {
	c, err := containerd.New(socket, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("%w: connect %s: %v", ErrDaemon, socket, err)
	}
	if _, err := c.Version(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%w: %s does not answer: %v", ErrDaemon, socket, err)
	}
	return c, nil
}

func (d *Daemon) pipeLogs(r io.Reader) {
	defer close(d.logs)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		d.cfg.Logger.Log(context.Background(), logLevel(line), line, "component", "containerd")
	}
}

// logLevel maps containerd's logrus level field onto slog, so that a logger set to
// warnings shows containerd's warnings and nothing else.
func logLevel(line string) slog.Level {
	_, rest, ok := strings.Cut(line, "level=")
	if !ok {
		return slog.LevelInfo
	}
	level, _, _ := strings.Cut(rest, " ")
	switch level {
	case "debug", "trace":
		return slog.LevelDebug
	case "warning", "warn":
		return slog.LevelWarn
	case "error", "fatal", "panic":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Client is connected to the daemon; Stop closes it.
func (d *Daemon) Client() *containerd.Client { return d.client }

// Socket is the daemon's gRPC address.
func (d *Daemon) Socket() string { return d.paths.socket }

// RuncRoot is where runc keeps container state for this daemon, apart from the
// system's /run/containerd/runc.
func (d *Daemon) RuncRoot() string { return d.paths.runcRoot }

// FIFODir is a directory for exec stdio FIFOs.
func (d *Daemon) FIFODir() string { return d.paths.fifo }

// Pid is containerd's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Done is closed when the containerd process has exited.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Stop closes the client and stops containerd: SIGTERM, then SIGKILL if it has not
// exited when ctx ends or after 10 s. Containers keep running.
func (d *Daemon) Stop(ctx context.Context) error {
	if d.client != nil {
		_ = d.client.Close()
	}
	err := terminate(ctx, d.cmd.Process.Pid, d.done)
	if err == nil {
		_ = os.Remove(d.paths.pid)
		_ = os.Remove(d.paths.socket)
		_ = os.Remove(d.paths.socket + ".ttrpc")
		if dir := filepath.Dir(d.paths.socket); dir != d.cfg.DataDir {
			// The /run/weft fallback: removed only if empty, other agents may share it.
			_ = os.Remove(dir)
			_ = os.Remove(filepath.Dir(dir))
		}
	}
	return err
}

// SocketPath is where a private containerd started with this data dir listens, for
// tools that connect to a running node's daemon (weft image import).
func SocketPath(dataDir string) string { return pathsFor(dataDir).socket }
