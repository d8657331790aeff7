package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
)

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
