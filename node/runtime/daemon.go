package runtime

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// maxSocketPath leaves room under the 108-byte sun_path limit for the ".ttrpc" suffix
// containerd appends for its ttrpc socket.
const maxSocketPath = 100

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

type daemonPaths struct {
	config, root, state, socket, pid, runcRoot, fifo string
}

func pathsFor(dataDir string) daemonPaths {
	p := daemonPaths{
		config:   filepath.Join(dataDir, "containerd.toml"),
		root:     filepath.Join(dataDir, "root"),
		state:    filepath.Join(dataDir, "state"),
		socket:   filepath.Join(dataDir, "containerd.sock"),
		pid:      filepath.Join(dataDir, "containerd.pid"),
		runcRoot: filepath.Join(dataDir, "state", "runc"),
		fifo:     filepath.Join(dataDir, "state", "fifo"),
	}
	if len(p.socket) > maxSocketPath {
		// A deep data dir (t.TempDir, long node names) would overflow sun_path. The
		// fallback is derived from the data dir so that a restarted agent finds the same
		// address, which the shims of running containers remember.
		sum := sha256.Sum256([]byte(dataDir))
		p.socket = filepath.Join("/run/weft", hex.EncodeToString(sum[:8]), "containerd.sock")
	}
	return p
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
	cmd.Stdout = nil
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
		d.cfg.Logger.Info(sc.Text(), "component", "containerd")
	}
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

// terminate signals only the one pid it is given; done must close when it has exited.
func terminate(ctx context.Context, pid int, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%w: SIGTERM %d: %v", ErrDaemon, pid, err)
	}
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	case <-grace.C:
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%w: SIGKILL %d: %v", ErrDaemon, pid, err)
	}
	<-done
	return nil
}

// stopStale stops a containerd that an earlier agent started with this data dir and
// did not stop (the agent was killed). It checks the command line so that a recycled
// pid belonging to someone else is left alone.
func stopStale(ctx context.Context, p daemonPaths) error {
	b, err := os.ReadFile(p.pid)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), p.config) {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for syscall.Kill(pid, 0) == nil {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && isZombie(st) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return terminate(ctx, pid, done)
}

func isZombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}

// renderConfig writes a containerd 1.6 (config version 2) file. CRI and the
// snapshotters we never use are disabled: startup is faster and nothing can clash with
// a system containerd's CRI or ports. Debug and metrics listeners stay off. The v1
// linux runtime must stay: 1.6's tasks service refuses to load without it.
func renderConfig(p daemonPaths) string {
	disabled := []string{
		"io.containerd.grpc.v1.cri",
		"io.containerd.snapshotter.v1.aufs",
		"io.containerd.snapshotter.v1.btrfs",
		"io.containerd.snapshotter.v1.devmapper",
		"io.containerd.snapshotter.v1.zfs",
		"io.containerd.tracing.processor.v1.otlp",
		"io.containerd.internal.v1.tracing",
	}
	q := make([]string, len(disabled))
	for i, s := range disabled {
		q[i] = strconv.Quote(s)
	}
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, p.root, p.state, strings.Join(q, ", "), p.socket, p.socket+".ttrpc", filepath.Join(p.root, "opt"))
}
