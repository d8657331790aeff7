package runtime

import (
	"context"
	"errors"
	"fmt"

	cgroup1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/typeurl/v2"
)

var errNoOOMCounter = errors.New("the shim reports no OOM kill counter")

// OOMKills reports how many processes the kernel's OOM killer has killed in the
// container's cgroup. It asks the shim, whose cgroup outlives the task's exit until
// Delete, so it answers for an exited container too. The shim's TaskOOM event says
// the same, but it travels apart from the exit and can trail it by seconds on a busy
// machine; the counter is there the moment the process is gone.
func (r *Runtime) OOMKills(ctx context.Context, id string) (uint64, error) {
	ctx = r.ctx(ctx)
	t, err := r.task(ctx, id)
	if err != nil {
		return 0, err
	}
	m, err := t.Metrics(ctx)
	if err != nil {
		return 0, fmt.Errorf("metrics %s: %w", id, wrapNotFound(err))
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return 0, fmt.Errorf("metrics %s: %w", id, err)
	}
	// A shim built without the counter leaves its message out; that is no answer,
	// not zero.
	switch s := v.(type) {
	case *cgroup1.Metrics:
		if c := s.GetMemoryOomControl(); c != nil {
			return c.GetOomKill(), nil
		}
	case *cgroup2.Metrics:
		if e := s.GetMemoryEvents(); e != nil {
			return e.GetOomKill(), nil
		}
	default:
		return 0, fmt.Errorf("metrics %s: unknown type %T", id, v)
	}
	return 0, fmt.Errorf("metrics %s: %w", id, errNoOOMCounter)
}
