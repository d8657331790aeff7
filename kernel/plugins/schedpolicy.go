package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/scheduler"
	"weft.dev/weft/sdk"
)

// A plugin's scheduler policy, as the kernel's scheduler uses it. A feeder keeps the
// plugin's snapshot of nodes and pods current, incrementally, so the guest never gets
// every node again for each pod; Schedule sends only the keys of the pods to place, and
// the whole filter and score loop runs in the guest.

// feedPaths turns the fields a scheduler guest reads (sdk.SchedulerFeedFields) into
// projection paths: the rest of a node or pod never crosses.
func feedPaths(k sdk.GVK) [][]string {
	var out [][]string
	for _, f := range sdk.SchedulerFeedFields {
		if f.Kind == k {
			for _, p := range f.Paths {
				out = append(out, strings.Split(strings.TrimPrefix(p, "."), "."))
			}
		}
	}
	return out
}

// policyStandbyAfter is how long a scheduler policy goes unasked before its feed is
// held back and coalesced.
const policyStandbyAfter = 10 * time.Second

// trimForPolicy leaves out of a scheduler policy's feed what changes without
// concerning placement, so that such a change is not fed at all: the resourceVersion,
// and a pod's phase until it is terminal (Succeeded or Failed, which frees its
// resources). A pod's start then crosses no more.
func trimForPolicy(out map[string]any) {
	if m, ok := out["metadata"].(map[string]any); ok {
		delete(m, "resourceVersion")
	}
	st, _ := out["status"].(map[string]any)
	if p, ok := st["phase"]; ok && p != "Succeeded" && p != "Failed" {
		// A copy: status may be the watched object's own map.
		rest := make(map[string]any, len(st))
		for k, v := range st {
			if k != "phase" {
				rest[k] = v
			}
		}
		if len(rest) == 0 {
			delete(out, "status")
		} else {
			out["status"] = rest
		}
	}
}

type schedPolicy struct {
	*feeder
	pods *watched

	mu     sync.Mutex
	forget []string // failed bindings, sent with the next call
}

var _ scheduler.Policy = (*schedPolicy)(nil)

// startSchedPolicy starts feeding a scheduler plugin. onEvent hears of changes that
// may let unschedulable pods fit (nodes, deleted or finished pods), once the plugin
// has seen them.
func startSchedPolicy(ctx context.Context, svc *objects.Service, p *pluginhost.Plugin, log *slog.Logger, onEvent func()) (*schedPolicy, error) {
	sp := &schedPolicy{feeder: newFeeder(svc, p, log)}
	// A policy no profile asks is a standby: fed in coalesced batches, so that a
	// loaded cluster does not pay for it event by event, and caught up before it is
	// asked (a swap or a new shadow).
	sp.standbyAfter = policyStandbyAfter
	snap := svc.Registry().Snapshot()
	for _, k := range []sdk.GVK{sdk.NodeKind, sdk.PodKind} {
		e, ok := snap.LookupKind(schema.GroupVersionKind{Version: k.Version, Kind: k.Kind})
		if !ok {
			return nil, fmt.Errorf("scheduler policy: kind %s is not served", k.Kind)
		}
		for _, verb := range []string{"list", "watch"} {
			if !p.Permits(verb, "", e.Kind.Resource, "") {
				return nil, fmt.Errorf("%w: a scheduler policy reads %s but it was not granted %s on them in every namespace", errNotGranted, e.Kind.Resource, verb)
			}
		}
		w := &watched{entry: e, gvk: k, paths: feedPaths(k), trim: trimForPolicy}
		sp.watched = append(sp.watched, w)
		if k == sdk.PodKind {
			sp.pods = w
		}
	}
	sp.onFed = func(w *watched, objs []*unstructured.Unstructured) {
		if onEvent == nil {
			return
		}
		if w.gvk == sdk.NodeKind && len(objs) > 0 {
			onEvent()
			return
		}
		for _, o := range objs {
			phase, _, _ := unstructured.NestedString(o.Object, "status", "phase")
			if o.GetDeletionTimestamp() != nil || phase == "Succeeded" || phase == "Failed" {
				onEvent()
				return
			}
		}
	}
	if _, err := sp.start(ctx); err != nil {
		sp.stop()
		return nil, fmt.Errorf("scheduler policy: %w", err)
	}
	return sp, nil
}

// Schedule implements scheduler.Policy.
func (sp *schedPolicy) Schedule(ctx context.Context, pods []*unstructured.Unstructured) ([]scheduler.Decision, error) {
	return sp.call(ctx, pods, false)
}

// Shadow implements scheduler.Policy.
func (sp *schedPolicy) Shadow(ctx context.Context, pods []*unstructured.Unstructured) ([]scheduler.Decision, error) {
	return sp.call(ctx, pods, true)
}

// Forget implements scheduler.Policy: the keys go with the next call.
func (sp *schedPolicy) Forget(_ context.Context, keys []string) error {
	sp.mu.Lock()
	sp.forget = append(sp.forget, keys...)
	sp.mu.Unlock()
	return nil
}

func (sp *schedPolicy) call(ctx context.Context, pods []*unstructured.Unstructured, dryRun bool) ([]scheduler.Decision, error) {
	// The guest must have been fed the pods it is asked about.
	var newest int64
	req := sdk.ScheduleRequest{DryRun: dryRun, Pods: make([]sdk.SchedulePod, len(pods))}
	for i, p := range pods {
		req.Pods[i].Key = p.GetNamespace() + "/" + p.GetName()
		if rv, err := strconv.ParseInt(p.GetResourceVersion(), 10, 64); err == nil {
			newest = max(newest, rv)
		}
	}
	sp.awaitRevisions(ctx, map[schema.GroupVersionKind]int64{sp.pods.entry.Kind.GVK(): newest})
	sp.mu.Lock()
	req.Forget, sp.forget = sp.forget, nil
	sp.mu.Unlock()
	sp.feeder.mu.Lock()
	out, err := sp.callLocked(ctx, "schedule", req.MarshalWire())
	sp.feeder.mu.Unlock()
	if err != nil {
		sp.mu.Lock()
		sp.forget = append(req.Forget, sp.forget...)
		sp.mu.Unlock()
		return nil, err
	}
	ds, err := sdk.DecodeDecisions(out)
	if err != nil {
		return nil, fmt.Errorf("%w: schedule: %v", pluginhost.ErrGuest, err)
	}
	if len(ds) != len(pods) {
		return nil, fmt.Errorf("%w: schedule: %d decisions for %d pods", pluginhost.ErrGuest, len(ds), len(pods))
	}
	res := make([]scheduler.Decision, len(ds))
	for i, d := range ds {
		res[i] = scheduler.Decision{Key: req.Pods[i].Key, Node: d.Node, Message: d.Message, Err: d.Error}
	}
	return res, nil
}
