package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"

	"weft.dev/weft/node/image"
)

// Labels the runtime keeps on each container so that a restarted agent knows what it
// needs from the containerd record alone.
const (
	labelLogPath   = "weft.dev/runtime.log-path"
	labelStartedAt = "weft.dev/runtime.started-at"
	labelShimGroup = "weft.dev/runtime.shim-group"
)

// runcRuntime is the shim every container uses; runc v2 is the one a 1.6 daemon and a
// 1.7 client agree on.
const runcRuntime = "io.containerd.runc.v2"

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
	// An image in the store may lack layers in this snapshotter (imported by another
	// tool, or unpacked for another one); the snapshot below needs them.
	if ok, err := img.IsUnpacked(ctx, r.opts.Snapshotter); err != nil || !ok {
		if err := img.Unpack(ctx, r.opts.Snapshotter); err != nil {
			return fmt.Errorf("container %s: unpack %s: %w", spec.ID, ref, err)
		}
	}
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	if spec.LogPath != "" {
		labels[labelLogPath] = spec.LogPath
	}
	if spec.ShimGroup != "" {
		labels[labelShimGroup] = spec.ShimGroup
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
		// The driver creates the file too, but an error there would only show in the
		// shim's log; here it reaches the caller.
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("start container %s: log dir: %w", id, err)
		}
		creator = cio.BinaryIO(r.opts.LogDriver, map[string]string{LogDriverArg: p})
	}
	task, err := c.NewTask(ctx, creator)
	if err != nil && labels[labelShimGroup] != "" && ctx.Err() == nil {
		// A grouped shim whose last container was just deleted exits even if this
		// container has already been handed its address; the next try starts a new one.
		task, err = c.NewTask(ctx, creator)
	}
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
// process in the container. A container that is not running is already stopped. If
// ctx ends first, Stop returns its error and sends no SIGKILL: the caller gave up, and
// Delete kills what remains.
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
