package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"weft.dev/weft/node/image"
)

// Labels the runtime keeps on each container so that a restarted agent knows what it
// needs from the containerd record alone.
const (
	labelLogPath   = "weft.dev/runtime.log-path"
	labelStartedAt = "weft.dev/runtime.started-at"
)

// runcRuntime is the shim every container uses; runc v2 is the one a 1.6 daemon and a
// 1.7 client agree on.
const runcRuntime = "io.containerd.runc.v2"

// Spec is what the pod manager asks for. Command and Args follow Kubernetes: Command
// replaces the image's entrypoint, Args its cmd; Args alone keep the entrypoint.
type Spec struct {
	ID         string
	Image      string // a reference already present and unpacked, see node/image
	Command    []string
	Args       []string
	Env        []string // KEY=value, over the image's environment
	WorkingDir string
	Hostname   string
	// NetNSPath joins an existing network namespace (the pod's). Empty gives the
	// container a new one of its own, unless HostNetwork is set.
	NetNSPath   string
	HostNetwork bool
	Mounts      []Mount
	Limits      Limits
	// LogPath receives stdout and stderr in CRI format; empty discards output.
	LogPath string
	Labels  map[string]string
}

// Mount is a bind mount from the node into the container.
type Mount struct {
	Source      string
	Destination string
	ReadOnly    bool
}

// Limits become the container's cgroup settings; zero values mean unlimited.
type Limits struct {
	CPUShares   uint64
	CPUQuota    int64 // microseconds per CPUPeriod
	CPUPeriod   uint64
	MemoryLimit int64 // bytes
}

// State is a container's coarse lifecycle state.
type State string

// Container states.
const (
	StateCreated State = "created" // record exists, never started or task gone
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// Status is a container's state as the pod manager reports it.
type Status struct {
	ID         string
	Image      string
	State      State
	Pid        uint32
	ExitCode   uint32
	StartedAt  time.Time
	FinishedAt time.Time
	LogPath    string
	Labels     map[string]string
}

func (s Spec) validate() error {
	switch {
	case s.ID == "":
		return fmt.Errorf("%w: empty id", ErrInvalidSpec)
	case s.Image == "":
		return fmt.Errorf("%w: %s: empty image", ErrInvalidSpec, s.ID)
	case s.LogPath != "" && !filepath.IsAbs(s.LogPath):
		return fmt.Errorf("%w: %s: log path %q is not absolute", ErrInvalidSpec, s.ID, s.LogPath)
	case s.NetNSPath != "" && s.HostNetwork:
		return fmt.Errorf("%w: %s: both a netns path and host network", ErrInvalidSpec, s.ID)
	}
	for k := range s.Labels {
		if strings.HasPrefix(k, "weft.dev/runtime.") {
			return fmt.Errorf("%w: %s: label %q is reserved", ErrInvalidSpec, s.ID, k)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("%w: %s: mount %s:%s must use absolute paths", ErrInvalidSpec, s.ID, m.Source, m.Destination)
		}
	}
	return nil
}

// CreateContainer creates the container record, its root filesystem snapshot and its
// OCI spec. It does not start anything.
func (r *Runtime) CreateContainer(ctx context.Context, spec Spec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	ctx = r.ctx(ctx)
	ref, err := image.Normalize(spec.Image)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSpec, err)
	}
	img, err := r.client.GetImage(ctx, ref)
	if err != nil {
		return fmt.Errorf("container %s: image %s: %w", spec.ID, ref, wrapNotFound(err))
	}
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	if spec.LogPath != "" {
		labels[labelLogPath] = spec.LogPath
	}
	_, err = r.client.NewContainer(ctx, spec.ID,
		containerd.WithSnapshotter(r.opts.Snapshotter),
		containerd.WithNewSnapshot(spec.ID, img),
		containerd.WithImage(img),
		containerd.WithRuntime(runcRuntime, &runcoptions.Options{BinaryName: r.opts.RuncBinary, Root: r.opts.RuncRoot}),
		containerd.WithNewSpec(specOpts(img, spec)...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return fmt.Errorf("create container %s: %w", spec.ID, err)
	}
	return nil
}

func specOpts(img containerd.Image, spec Spec) []oci.SpecOpts {
	opts := []oci.SpecOpts{oci.WithImageConfig(img)}
	switch {
	case len(spec.Command) > 0:
		opts = append(opts, oci.WithProcessArgs(append(append([]string{}, spec.Command...), spec.Args...)...))
	case len(spec.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(img, spec.Args))
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.WorkingDir))
	}
	if spec.Hostname != "" {
		opts = append(opts, oci.WithHostname(spec.Hostname))
	}
	switch {
	case spec.HostNetwork:
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	case spec.NetNSPath != "":
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: spec.NetNSPath}))
	}
	if len(spec.Mounts) > 0 {
		mounts := make([]specs.Mount, 0, len(spec.Mounts))
		for _, m := range spec.Mounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			mounts = append(mounts, specs.Mount{
				Destination: m.Destination,
				Type:        "bind",
				Source:      m.Source,
				Options:     []string{"rbind", "rprivate", mode},
			})
		}
		opts = append(opts, oci.WithMounts(mounts))
	}
	l := spec.Limits
	if l.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(l.CPUShares))
	}
	if l.CPUQuota > 0 {
		period := l.CPUPeriod
		if period == 0 {
			period = 100000
		}
		opts = append(opts, oci.WithCPUCFS(l.CPUQuota, period))
	}
	if l.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(l.MemoryLimit)))
	}
	return opts
}

// Start runs the container's process. A container whose earlier task has exited is
// started afresh; a running one is an error.
func (r *Runtime) Start(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, wrapNotFound(err))
	}
	if old, err := c.Task(ctx, nil); err == nil {
		st, err := old.Status(ctx)
		if err == nil && st.Status != containerd.Stopped {
			return fmt.Errorf("start container %s: task is %s", id, st.Status)
		}
		if _, err := old.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("start container %s: delete old task: %w", id, err)
		}
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	creator := cio.NullIO
	if p := labels[labelLogPath]; p != "" {
		creator = cio.BinaryIO(r.opts.LogDriver, map[string]string{LogDriverArg: p})
	}
	task, err := c.NewTask(ctx, creator)
	if err != nil {
		return fmt.Errorf("create task %s: %w", id, err)
	}
	// Taken before Start so that it can never be later than the exit time.
	startedAt := time.Now().UTC()
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		return fmt.Errorf("start task %s: %w", id, err)
	}
	// containerd 1.6 reports no start time; the label is what Status can tell after
	// a restart of the agent.
	_, _ = c.SetLabels(ctx, map[string]string{labelStartedAt: startedAt.Format(time.RFC3339Nano)})
	return nil
}

// Stop sends SIGTERM, waits up to grace for the process to exit, then SIGKILLs every
// process in the container. A container that is not running is already stopped.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ctx(ctx)
	task, err := r.task(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// Wait before Kill, so the exit cannot slip between the two.
	exited, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("wait %s: %w", id, err)
	}
	if st, err := task.Status(ctx); err == nil && st.Status == containerd.Stopped {
		return nil
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("SIGTERM %s: %w", id, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("SIGKILL %s: %w", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status reports the container's state; ErrNotFound when there is no such container.
func (r *Runtime) Status(ctx context.Context, id string) (Status, error) {
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return Status{}, fmt.Errorf("container %s: %w", id, wrapNotFound(err))
	}
	return r.status(ctx, c)
}

func (r *Runtime) status(ctx context.Context, c containerd.Container) (Status, error) {
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return Status{}, fmt.Errorf("container %s: %w", c.ID(), wrapNotFound(err))
	}
	s := Status{ID: c.ID(), Image: info.Image, State: StateCreated, LogPath: info.Labels[labelLogPath], Labels: map[string]string{}}
	for k, v := range info.Labels {
		if !strings.HasPrefix(k, "weft.dev/runtime.") {
			s.Labels[k] = v
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, info.Labels[labelStartedAt]); err == nil {
		s.StartedAt = t
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("task %s: %w", c.ID(), err)
	}
	s.Pid = task.Pid()
	st, err := task.Status(ctx)
	if err != nil {
		return s, fmt.Errorf("task status %s: %w", c.ID(), err)
	}
	switch st.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		s.State = StateRunning
	case containerd.Created:
		s.State = StateCreated
	case containerd.Stopped:
		s.State = StateExited
		s.ExitCode = st.ExitStatus
		s.FinishedAt = st.ExitTime
	default:
		s.State = StateUnknown
	}
	return s, nil
}

// Delete kills whatever still runs and removes the task, the container record and
// its snapshot. Deleting a missing container is not an error.
func (r *Runtime) Delete(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task %s: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("task %s: %w", id, err)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return nil
}

// List returns the status of every container whose labels include all of selector
// (all containers for an empty selector). A restarted agent adopts its containers
// from this list.
func (r *Runtime) List(ctx context.Context, selector map[string]string) ([]Status, error) {
	ctx = r.ctx(ctx)
	var parts []string
	for k, v := range selector {
		parts = append(parts, "labels."+strconv.Quote(k)+"=="+strconv.Quote(v))
	}
	var filters []string
	if len(parts) > 0 {
		// Comma is AND within one filter; separate filters would be ORed.
		filters = []string{strings.Join(parts, ",")}
	}
	cs, err := r.client.Containers(ctx, filters...)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Status, 0, len(cs))
	for _, c := range cs {
		s, err := r.status(ctx, c)
		if errors.Is(err, ErrNotFound) {
			continue // deleted while we listed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (r *Runtime) task(ctx context.Context, id string) (containerd.Task, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, wrapNotFound(err))
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, wrapNotFound(err))
	}
	return t, nil
}

// wrapNotFound maps containerd's not-found onto ErrNotFound so callers need not
// import errdefs.
func wrapNotFound(err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}
