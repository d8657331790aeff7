package runtime

import (
	"context"
	"fmt"
	"strconv"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/events"
	"github.com/containerd/typeurl/v2"
)

// Exit reports that a container's main process ended.
type Exit struct {
	ID       string
	Pid      uint32
	ExitCode uint32
	ExitedAt time.Time
}

const (
	exitTopic = "/tasks/exit"
	// probeTopic carries an event this package publishes to itself: containerd gives
	// no signal that a subscription is live, and an exit published before that would
	// be lost.
	probeTopic = "/weft/runtime/subscribed"
)

// Exits streams the exits of this runtime's containers (exec processes are left
// out) until ctx ends, so the pod manager learns of crashes without polling. It
// returns once the subscription is live: no exit after the call is missed. Exits
// from before are not replayed; after a restart, subscribe and then reconcile with
// List. The error channel carries at most one error; both channels close at the end.
func (r *Runtime) Exits(ctx context.Context) (<-chan Exit, <-chan error, error) {
	ctx = r.ctx(ctx)
	ns := strconv.Quote(r.opts.Namespace)
	envs, errs := r.client.Subscribe(ctx,
		`topic=="`+exitTopic+`",namespace==`+ns,
		`topic=="`+probeTopic+`",namespace==`+ns)

	probe := &apievents.TaskExit{ID: "probe-" + randomHex(8)}
	var early []Exit
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for ready := false; !ready; {
		if err := r.client.EventService().Publish(ctx, probeTopic, probe); err != nil {
			return nil, nil, fmt.Errorf("containerd events: %w", err)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case err := <-errs:
				return nil, nil, fmt.Errorf("containerd events: %w", err)
			case env := <-envs:
				if env.Topic == probeTopic {
					if e, ok := decodeExit(env); ok && e.ID == probe.ID {
						ready = true
						break wait
					}
					continue
				}
				if x, ok := containerExit(env); ok {
					early = append(early, x)
				}
			case <-tick.C:
				break wait // publish again: the first may have gone before the subscription
			}
		}
	}

	out := make(chan Exit)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		defer close(errc)
		send := func(x Exit) bool {
			select {
			case out <- x:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, x := range early {
			if !send(x) {
				return
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					errc <- fmt.Errorf("containerd events: %w", err)
				}
				return
			case env := <-envs:
				if x, ok := containerExit(env); ok && !send(x) {
					return
				}
			}
		}
	}()
	return out, errc, nil
}

func decodeExit(env *events.Envelope) (*apievents.TaskExit, bool) {
	if env == nil || env.Event == nil {
		return nil, false
	}
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		return nil, false
	}
	e, ok := v.(*apievents.TaskExit)
	return e, ok
}

func containerExit(env *events.Envelope) (Exit, bool) {
	if env == nil || env.Topic != exitTopic {
		return Exit{}, false
	}
	e, ok := decodeExit(env)
	if !ok || e.ID != e.ContainerID {
		return Exit{}, false // an exec'd process, not the container
	}
	x := Exit{ID: e.ContainerID, Pid: e.Pid, ExitCode: e.ExitStatus}
	if e.ExitedAt != nil {
		x.ExitedAt = e.ExitedAt.AsTime()
	}
	return x, true
}
