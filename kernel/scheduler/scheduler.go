package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
)

// Decision is a policy's answer for one pod: a node, or why none fits.
type Decision struct {
	Key  string // namespace/name
	Node string
	// Message explains an unschedulable pod, in kube-scheduler's words
	// ("0/5 nodes are available: 3 Insufficient cpu, ...").
	Message string
	// Err, when set, says the policy could not consider the pod at all (it has not
	// seen it yet); the pod is retried after a backoff rather than reported.
	Err string
}

// Policy places pods. A policy keeps its own view of nodes and pods; Schedule assumes
// the pods it places onto their nodes in that view, and Forget undoes assumptions the
// host did not carry out (a lost bind). Shadow decides as Schedule does but assumes
// nothing: a shadow policy's view must follow what the active policy binds.
type Policy interface {
	Schedule(ctx context.Context, pods []*unstructured.Unstructured) ([]Decision, error)
	Shadow(ctx context.Context, pods []*unstructured.Unstructured) ([]Decision, error)
	Forget(ctx context.Context, keys []string) error
}

// Profiles names, for a profile (a pod's spec.schedulerName), the policy that decides
// and the shadow policies that decide alongside without binding.
type Profiles interface {
	Active(profile string) (Policy, bool)
	Shadows(profile string) []Shadow
}

// Shadow is a candidate policy and where its agreement with the active one is counted.
type Shadow struct {
	Name   string
	Policy Policy
	Record func(agreed, disagreed int)
}

// Config assembles a Scheduler.
type Config struct {
	Objects  *objects.Service
	Profiles Profiles
	Logger   *slog.Logger
	Queue    QueueConfig
	// BatchSize bounds the pods in one policy call (default 64); BindParallelism the
	// binds in flight (default 64).
	BatchSize       int
	BindParallelism int
	// FieldManager names the scheduler in pods' managedFields and events.
	FieldManager string
}

// Scheduler watches unbound pods, asks each profile's active policy where they go,
// binds them, and reports those that fit nowhere.
type Scheduler struct {
	cfg   Config
	log   *slog.Logger
	queue *Queue

	mu    sync.Mutex
	stats map[string]*Stats // by profile
	// deciding is the policy that decided each profile's last batch.
	deciding map[string]Policy
	known    map[string]bool // profiles seen on pods, for logging an unknown one once
	events   *eventWriter
	// bindSem bounds the binds in flight; binding tracks the batches still binding.
	bindSem chan struct{}
	binding sync.WaitGroup
}

// Stats counts what the scheduler did.
type Stats struct {
	Attempts, Bound, Unschedulable, BindConflicts, Errors int64
	// DecidingSince is when the policy deciding now made its first decision.
	DecidingSince time.Time
}

// New returns a Scheduler.
func New(cfg Config) *Scheduler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 64
	}
	if cfg.BindParallelism == 0 {
		cfg.BindParallelism = 64
	}
	if cfg.FieldManager == "" {
		cfg.FieldManager = "weft-scheduler"
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger.With("component", "scheduler"), queue: NewQueue(cfg.Queue), known: map[string]bool{}, stats: map[string]*Stats{}, deciding: map[string]Policy{},
		events:  &eventWriter{svc: cfg.Objects, log: cfg.Logger.With("component", "scheduler"), component: cfg.FieldManager, ch: make(chan eventReq, 4096)},
		bindSem: make(chan struct{}, cfg.BindParallelism)}
}

// ClusterEvent tells the scheduler that something changed that may let unschedulable
// pods fit, as its policies see it: they are retried.
func (s *Scheduler) ClusterEvent() { s.queue.MoveAll() }

// Stats reports the scheduler's counters, over all profiles.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t Stats
	for _, st := range s.stats {
		t.Attempts += st.Attempts
		t.Bound += st.Bound
		t.Unschedulable += st.Unschedulable
		t.BindConflicts += st.BindConflicts
		t.Errors += st.Errors
	}
	return t
}

// ProfileStats reports the counters of one profile.
func (s *Scheduler) ProfileStats(profile string) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stats[profile]; st != nil {
		return *st
	}
	return Stats{}
}

func (s *Scheduler) count(profile string, f func(*Stats)) {
	s.mu.Lock()
	st := s.stats[profile]
	if st == nil {
		st = &Stats{}
		s.stats[profile] = st
	}
	f(st)
	s.mu.Unlock()
}

// Run schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx = objects.WithUser(ctx, objects.User{Name: "system:kube-scheduler", Groups: []string{"system:masters"}, Agent: s.cfg.FieldManager})
	snap := s.cfg.Objects.Registry().Snapshot()
	pods, ok := snap.LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	if !ok {
		return errors.New("scheduler: the Pod kind is not served")
	}
	var wg sync.WaitGroup
	wg.Add(2 + eventWriters)
	go func() { defer wg.Done(); s.watch(ctx, pods, s.onPod) }()
	for range eventWriters {
		go func() { defer wg.Done(); s.events.run(ctx) }()
	}
	go func() {
		defer wg.Done()
		if nodes, ok := snap.LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Node"}); ok {
			s.watch(ctx, nodes, func(watch.EventType, *unstructured.Unstructured) { s.queue.MoveAll() })
		}
	}()
	for ctx.Err() == nil {
		batch := s.queue.PopBatch(ctx, s.cfg.BatchSize)
		if len(batch) > 0 {
			s.schedule(ctx, pods, batch)
		}
	}
	s.binding.Wait()
	s.queue.Close()
	wg.Wait()
	return nil
}

// watch follows a kind from its current state, starting over when the watch ends.
func (s *Scheduler) watch(ctx context.Context, e *registry.Entry, on func(watch.EventType, *unstructured.Unstructured)) {
	for ctx.Err() == nil {
		w, err := s.cfg.Objects.Watch(ctx, e, "", objects.WatchOptions{Shared: true})
		if err != nil {
			s.log.Warn("watch", "kind", e.Kind.Kind, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for ev := range w.ResultChan() {
			if obj, ok := ev.Object.(*unstructured.Unstructured); ok && ev.Type != watch.Bookmark {
				on(ev.Type, obj)
			}
		}
		w.Stop()
	}
}

// onPod keeps the queue in step with pods: unbound, live pods wait; the rest do not,
// and a deleted pod may free room for others.
func (s *Scheduler) onPod(t watch.EventType, pod *unstructured.Unstructured) {
	key := pod.GetNamespace() + "/" + pod.GetName()
	node, _, _ := unstructured.NestedString(pod.Object, "spec", "nodeName")
	phase, _, _ := unstructured.NestedString(pod.Object, "status", "phase")
	done := phase == "Succeeded" || phase == "Failed"
	if t == watch.Deleted || node != "" || pod.GetDeletionTimestamp() != nil || done {
		s.queue.Delete(key)
		if t == watch.Deleted || done {
			s.queue.MoveAll()
		}
		return
	}
	profile, _, _ := unstructured.NestedString(pod.Object, "spec", "schedulerName")
	if profile == "" {
		profile = "default-scheduler"
	}
	if _, ok := s.cfg.Profiles.Active(profile); !ok {
		s.mu.Lock()
		first := !s.known[profile]
		s.known[profile] = true
		s.mu.Unlock()
		if first {
			s.log.Info("pods name a scheduler profile without an active policy; they wait", "profile", profile)
		}
	}
	prio, _, _ := unstructured.NestedInt64(pod.Object, "spec", "priority")
	s.queue.Add(QueuedPod{Key: key, UID: string(pod.GetUID()), Profile: profile, Priority: int32(prio), Created: pod.GetCreationTimestamp().Time, Obj: pod})
}

// schedule runs one batch: each profile's pods to its active policy (and shadows),
// then binds.
func (s *Scheduler) schedule(ctx context.Context, podsKind *registry.Entry, batch []QueuedPod) {
	byProfile := map[string][]QueuedPod{}
	var order []string
	for _, p := range batch {
		if _, ok := byProfile[p.Profile]; !ok {
			order = append(order, p.Profile)
		}
		byProfile[p.Profile] = append(byProfile[p.Profile], p)
	}
	for _, profile := range order {
		qps := byProfile[profile]
		policy, ok := s.cfg.Profiles.Active(profile)
		if !ok {
			for _, p := range qps {
				s.queue.Unschedulable(p.Key)
			}
			continue
		}
		objs := make([]*unstructured.Unstructured, len(qps))
		for i, p := range qps {
			objs[i] = p.Obj.(*unstructured.Unstructured)
		}
		s.count(profile, func(st *Stats) { st.Attempts += int64(len(qps)) })
		decisions, err := policy.Schedule(ctx, objs)
		if err == nil && len(decisions) != len(qps) {
			err = fmt.Errorf("policy answered %d pods of %d", len(decisions), len(qps))
		}
		if err != nil {
			s.log.Warn("scheduler policy failed; its pods are retried", "profile", profile, "err", err)
			s.count(profile, func(st *Stats) { st.Errors++ })
			for _, p := range qps {
				s.queue.Requeue(p.Key)
			}
			continue
		}
		decided := time.Now()
		s.count(profile, func(st *Stats) {
			if s.deciding[profile] != policy {
				s.deciding[profile], st.DecidingSince = policy, decided
			}
		})
		s.shadow(ctx, profile, objs, decisions)
		s.bind(ctx, podsKind, policy, qps, decisions)
	}
}

// shadow asks the profile's shadow policies about the same pods and counts where they
// agree with the active policy.
func (s *Scheduler) shadow(ctx context.Context, profile string, objs []*unstructured.Unstructured, active []Decision) {
	for _, sh := range s.cfg.Profiles.Shadows(profile) {
		theirs, err := sh.Policy.Shadow(ctx, objs)
		if err != nil || len(theirs) != len(active) {
			s.log.Warn("shadow policy failed", "profile", profile, "shadow", sh.Name, "err", err)
			continue
		}
		agreed, disagreed := 0, 0
		for i := range active {
			if active[i].Err != "" || theirs[i].Err != "" {
				continue
			}
			if theirs[i].Node == active[i].Node {
				agreed++
			} else {
				disagreed++
			}
		}
		if sh.Record != nil {
			sh.Record(agreed, disagreed)
		}
	}
}

// bind carries out a batch's decisions. As in kube-scheduler, binding runs apart from
// deciding: the next batch is decided while this one's binds are in flight, at most
// BindParallelism at a time, which holds the loop back when binding is slow. The
// queue keeps the pods of this batch until their bind ends, and the policy has
// assumed them, so the next batch neither sees them again nor overlooks them.
func (s *Scheduler) bind(ctx context.Context, podsKind *registry.Entry, policy Policy, qps []QueuedPod, decisions []Decision) {
	var wg sync.WaitGroup
	var lostMu sync.Mutex
	var lost []string
	for i, d := range decisions {
		p := qps[i]
		if d.Err != "" {
			s.log.Debug("policy could not consider pod; retried", "pod", p.Key, "err", d.Err)
			s.queue.Requeue(p.Key)
			continue
		}
		if d.Node == "" {
			s.count(p.Profile, func(st *Stats) { st.Unschedulable++ })
			s.queue.Unschedulable(p.Key)
			wg.Add(1)
			go func() { defer wg.Done(); s.reportUnschedulable(ctx, podsKind, p, d.Message) }()
			continue
		}
		wg.Add(1)
		s.bindSem <- struct{}{}
		go func() {
			defer func() { <-s.bindSem; wg.Done() }()
			ns, name := splitKey(p.Key)
			err := Bind(ctx, s.cfg.Objects, podsKind, Binding{Namespace: ns, Name: name, UID: types.UID(p.UID), Node: d.Node}, s.cfg.FieldManager)
			switch {
			case err == nil:
				s.count(p.Profile, func(st *Stats) { st.Bound++ })
				s.queue.Done(p.Key)
				s.events.write(ctx, p, "Normal", "Scheduled", fmt.Sprintf("Successfully assigned %s to %s", p.Key, d.Node))
			case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
				// Bound by someone else, changed or gone: never bound twice.
				s.count(p.Profile, func(st *Stats) { st.BindConflicts++ })
				s.queue.Done(p.Key)
				lostMu.Lock()
				lost = append(lost, p.Key)
				lostMu.Unlock()
			default:
				s.log.Warn("bind", "pod", p.Key, "node", d.Node, "err", err)
				s.count(p.Profile, func(st *Stats) { st.Errors++ })
				s.queue.Requeue(p.Key)
				lostMu.Lock()
				lost = append(lost, p.Key)
				lostMu.Unlock()
			}
		}()
	}
	s.binding.Add(1)
	go func() {
		defer s.binding.Done()
		wg.Wait()
		if len(lost) > 0 {
			if err := policy.Forget(ctx, lost); err != nil {
				s.log.Warn("policy forget", "err", err)
			}
		}
	}()
}

// reportUnschedulable sets PodScheduled=False with kube-scheduler's reason and message,
// and records a FailedScheduling event, as kube-scheduler does.
func (s *Scheduler) reportUnschedulable(ctx context.Context, podsKind *registry.Entry, p QueuedPod, message string) {
	if message == "" {
		message = "0/0 nodes are available"
	}
	ns, name := splitKey(p.Key)
	_, err := s.cfg.Objects.Mutate(ctx, podsKind, ns, name, objects.SubStatus, func(cur *unstructured.Unstructured) error {
		if string(cur.GetUID()) != p.UID {
			return apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, name, errors.New("pod replaced"))
		}
		return setCondition(cur, "PodScheduled", "False", "Unschedulable", message)
	}, objects.WriteOptions{FieldManager: s.cfg.FieldManager})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		s.log.Warn("report unschedulable", "pod", p.Key, "err", err)
	}
	s.events.write(ctx, p, "Warning", "FailedScheduling", message)
}

func splitKey(key string) (string, string) {
	if ns, name, ok := strings.Cut(key, "/"); ok {
		return ns, name
	}
	return "", key
}

// eventWriters is how many events are written at once. One at a time, a write waits
// for its own store commit, so events fell seconds behind binding under load;
// concurrent writes share commits.
const eventWriters = 16

// eventWriter records core/v1 Events about pods, as kube-scheduler does: in the
// background, dropping events rather than slowing scheduling when it falls behind (as
// kube's event broadcaster does).
type eventWriter struct {
	svc       *objects.Service
	log       *slog.Logger
	component string
	ch        chan eventReq
	mu        sync.Mutex
	dropped   int64
}

type eventReq struct {
	p                    QueuedPod
	typ, reason, message string
}

func (w *eventWriter) write(_ context.Context, p QueuedPod, typ, reason, message string) {
	select {
	case w.ch <- eventReq{p, typ, reason, message}:
	default:
		w.mu.Lock()
		w.dropped++
		n := w.dropped
		w.mu.Unlock()
		if n&(n-1) == 0 { // 1, 2, 4, ...: say so without flooding the log
			w.log.Warn("events dropped: writes are behind", "dropped", n)
		}
	}
}

func (w *eventWriter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-w.ch:
			w.create(ctx, r.p, r.typ, r.reason, r.message)
		}
	}
}

func (w *eventWriter) create(ctx context.Context, p QueuedPod, typ, reason, message string) {
	e, ok := w.svc.Registry().Snapshot().LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Event"})
	if !ok {
		return
	}
	ns, name := splitKey(p.Key)
	now := time.Now().UTC().Format(time.RFC3339)
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata":       map[string]any{"name": fmt.Sprintf("%s.%x", name, time.Now().UnixNano()), "namespace": ns},
		"involvedObject": map[string]any{"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": name, "uid": p.UID},
		"type":           typ, "reason": reason, "message": message,
		"source":             map[string]any{"component": "default-scheduler"},
		"reportingComponent": w.component,
		"firstTimestamp":     now, "lastTimestamp": now, "count": int64(1),
	}}
	if _, err := w.svc.Create(ctx, e, ns, ev, objects.WriteOptions{FieldManager: w.component}); err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
		w.log.Warn("event", "pod", p.Key, "reason", reason, "err", err)
	}
}
