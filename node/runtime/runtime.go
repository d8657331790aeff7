package runtime

import (
	"context"
	"fmt"
	"os"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"weft.dev/weft/node/image"
)

// DefaultNamespace is the containerd namespace of a node agent that was given none.
const DefaultNamespace = "weft"

// Options configure a Runtime.
type Options struct {
	// Namespace is the containerd namespace holding this agent's containers and
	// images; one per node agent, so agents sharing a containerd never see each other.
	Namespace string
	// Snapshotter for container root filesystems; empty picks overlayfs or native.
	Snapshotter string
	// RuncBinary is the runc the shim runs; empty means DefaultRuncBinary.
	RuncBinary string
	// RuncRoot is runc's state directory; empty leaves runc's default. A private
	// daemon passes Daemon.RuncRoot so nothing lands in the system's runc state.
	RuncRoot string
	// FIFODir holds exec stdio FIFOs; empty leaves containerd's default.
	FIFODir string
	// LogDriver is the executable the shim runs as log driver (see LogDriverArg);
	// empty means this process's own executable.
	LogDriver string
}

// Runtime runs containers in one containerd namespace.
type Runtime struct {
	client *containerd.Client
	opts   Options
}

// New prepares a Runtime on client, resolving defaults that need the daemon.
func New(ctx context.Context, client *containerd.Client, opts Options) (*Runtime, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.RuncBinary == "" {
		opts.RuncBinary = DefaultRuncBinary
	}
	if opts.LogDriver == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find log driver executable: %w", err)
		}
		opts.LogDriver = exe
	}
	if opts.Snapshotter == "" {
		sn, err := image.Snapshotter(ctx, client)
		if err != nil {
			return nil, err
		}
		opts.Snapshotter = sn
	}
	return &Runtime{client: client, opts: opts}, nil
}

// ForDaemon is New with the private daemon's runc root and FIFO dir filled in.
func ForDaemon(ctx context.Context, d *Daemon, opts Options) (*Runtime, error) {
	if opts.RuncRoot == "" {
		opts.RuncRoot = d.RuncRoot()
	}
	if opts.FIFODir == "" {
		opts.FIFODir = d.FIFODir()
	}
	return New(ctx, d.Client(), opts)
}

// Namespace is the containerd namespace this runtime works in.
func (r *Runtime) Namespace() string { return r.opts.Namespace }

// Snapshotter is the snapshotter images must be unpacked into for this runtime.
func (r *Runtime) Snapshotter() string { return r.opts.Snapshotter }

// Client is the containerd client, for image operations.
func (r *Runtime) Client() *containerd.Client { return r.client }

func (r *Runtime) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.opts.Namespace)
}
