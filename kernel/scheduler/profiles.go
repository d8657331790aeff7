package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
)

// ProfileGVK is the SchedulerProfile kind: which policy plugin decides for the pods
// naming a scheduler (spec.schedulerName), and which candidates shadow it.
var ProfileGVK = schema.GroupVersionKind{Group: "weft.dev", Version: "v1alpha1", Kind: "SchedulerProfile"}

// DefaultProfile is the profile pods get when they name none.
const DefaultProfile = "default-scheduler"

const profileSchema = `{
  "type": "object",
  "description": "SchedulerProfile binds a scheduler name (a pod's spec.schedulerName) to the scheduler policy plugin that places its pods, and to candidate policies that decide alongside it without binding (shadows). Changing spec.policy swaps the policy at once.",
  "properties": {
    "spec": {
      "type": "object",
      "required": ["policy"],
      "properties": {
        "policy": {"type": "string", "minLength": 1, "description": "Name of the Plugin whose scheduler policy places this profile's pods."},
        "shadows": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set",
          "description": "Plugins whose scheduler policies see every pod of this profile and decide, but never bind; their agreement with the policy is counted."}
      }
    },
    "status": {
      "type": "object",
      "properties": {
        "policy": {"type": "string", "description": "The plugin deciding now."},
        "ready": {"type": "boolean", "description": "Whether that plugin runs a scheduler policy."},
        "attempts": {"type": "integer"},
        "bound": {"type": "integer"},
        "unschedulable": {"type": "integer"},
        "shadows": {"type": "array", "items": {"type": "object", "properties": {
          "plugin": {"type": "string"},
          "agreed": {"type": "integer"},
          "disagreed": {"type": "integer"},
          "agreement": {"type": "number", "description": "agreed / (agreed + disagreed)"}}}},
        "observedGeneration": {"type": "integer"},
        "decidingSince": {"type": "string", "format": "date-time",
          "description": "When the policy deciding now made its first decision, in microseconds: where a swap ends."}
      }
    }
  }
}`

// ProfileKind returns the SchedulerProfile kind.
func ProfileKind() registry.Kind {
	s := &spec.Schema{}
	if err := json.Unmarshal([]byte(profileSchema), s); err != nil {
		panic(err) // a constant; covered by tests
	}
	return registry.Kind{
		Group: ProfileGVK.Group, Version: ProfileGVK.Version, Kind: ProfileGVK.Kind, Resource: "schedulerprofiles",
		ShortNames: []string{"sp"}, Schema: s, Status: true, Owner: "kernel",
		Columns: []registry.Column{
			{Name: "Policy", Type: "string", JSONPath: ".spec.policy"},
			{Name: "Ready", Type: "boolean", JSONPath: ".status.ready"},
			{Name: "Bound", Type: "integer", JSONPath: ".status.bound"},
			{Name: "Unschedulable", Type: "integer", JSONPath: ".status.unschedulable"},
			{Name: "Shadows", Type: "string", JSONPath: ".spec.shadows", Priority: 1},
		},
	}
}

// PolicySource gives the scheduler policy of a running plugin, if it has one.
type PolicySource interface {
	Policy(plugin string) (Policy, bool)
}

// ProfileManager follows SchedulerProfile objects and implements Profiles over the
// policies of running plugins, looked up on every batch: upgrading or swapping a
// policy takes effect with the next batch.
type ProfileManager struct {
	svc     *objects.Service
	source  PolicySource
	log     *slog.Logger
	mu      sync.Mutex
	byName  map[string]*profile
	counter func(profile, shadow string, agreed, disagreed int)
	// onChange hears of a profile added or given another policy: its waiting pods
	// should be tried now, not when their backoff or the unschedulable flush ends.
	onChange func()
}

// OnChange sets what hears of a profile added or given another policy. Call it
// before Run.
func (m *ProfileManager) OnChange(f func()) { m.onChange = f }

type profile struct {
	policy  string
	shadows []string
	// agreement per shadow plugin, since it became a shadow of this profile.
	agreed, disagreed map[string]int64
	generation        int64
}

// NewProfileManager returns a ProfileManager. counter, if set, also hears of shadow
// agreement (for metrics).
func NewProfileManager(svc *objects.Service, source PolicySource, log *slog.Logger, counter func(profile, shadow string, agreed, disagreed int)) *ProfileManager {
	if log == nil {
		log = slog.Default()
	}
	return &ProfileManager{svc: svc, source: source, log: log.With("component", "scheduler-profiles"), byName: map[string]*profile{}, counter: counter}
}

// Active implements Profiles.
func (m *ProfileManager) Active(name string) (Policy, bool) {
	m.mu.Lock()
	p := m.byName[name]
	var policy string
	if p != nil {
		policy = p.policy // written under mu by apply
	}
	m.mu.Unlock()
	if p == nil {
		return nil, false
	}
	return m.source.Policy(policy)
}

// Shadows implements Profiles.
func (m *ProfileManager) Shadows(name string) []Shadow {
	m.mu.Lock()
	p := m.byName[name]
	var names []string
	if p != nil {
		names = append(names, p.shadows...)
	}
	m.mu.Unlock()
	var out []Shadow
	for _, n := range names {
		pol, ok := m.source.Policy(n)
		if !ok {
			continue
		}
		out = append(out, Shadow{Name: n, Policy: pol, Record: func(a, d int) {
			m.mu.Lock()
			if p := m.byName[name]; p != nil {
				p.agreed[n] += int64(a)
				p.disagreed[n] += int64(d)
			}
			m.mu.Unlock()
			if m.counter != nil {
				m.counter(name, n, a, d)
			}
		}})
	}
	return out
}

// ShadowCounts reports, for a plugin, its agreement as a shadow in each profile.
func (m *ProfileManager) ShadowCounts(plugin string) map[string][2]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][2]int64{}
	for name, p := range m.byName {
		for _, s := range p.shadows {
			if s == plugin {
				out[name] = [2]int64{p.agreed[s], p.disagreed[s]}
			}
		}
	}
	return out
}

// EnsureDefault creates the default profile, deciding with policy, unless a profile of
// that name exists.
func (m *ProfileManager) EnsureDefault(ctx context.Context, policy string) error {
	e, ok := m.svc.Registry().Snapshot().LookupKind(ProfileGVK)
	if !ok {
		return errors.New("scheduler: the SchedulerProfile kind is not registered")
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": ProfileGVK.GroupVersion().String(), "kind": ProfileGVK.Kind,
		"metadata": map[string]any{"name": DefaultProfile},
		"spec":     map[string]any{"policy": policy},
	}}
	_, err := m.svc.Create(ctx, e, "", obj, objects.WriteOptions{FieldManager: "weft"})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Run follows SchedulerProfile objects until ctx ends, and writes their status every
// interval.
func (m *ProfileManager) Run(ctx context.Context, stats func(profile string) Stats, interval time.Duration) error {
	ctx = objects.WithUser(ctx, objects.User{Name: "system:kube-scheduler", Groups: []string{"system:masters"}, Agent: "weft-scheduler"})
	e, ok := m.svc.Registry().Snapshot().LookupKind(ProfileGVK)
	if !ok {
		return errors.New("scheduler: the SchedulerProfile kind is not registered")
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for ctx.Err() == nil {
		w, err := m.svc.Watch(ctx, e, "", objects.WatchOptions{})
		if err != nil {
			m.log.Warn("watch profiles", "err", err)
			time.Sleep(time.Second)
			continue
		}
	events:
		for {
			select {
			case <-ctx.Done():
				break events
			case <-tick.C:
				m.writeStatus(ctx, e, stats)
			case ev, ok := <-w.ResultChan():
				if !ok {
					break events
				}
				obj, isObj := ev.Object.(*unstructured.Unstructured)
				if !isObj || ev.Type == watch.Bookmark {
					continue
				}
				if m.apply(ev.Type, obj) {
					// A new spec shows in the status at once, not at the next tick.
					m.writeStatus(ctx, e, stats)
				}
			}
		}
		w.Stop()
	}
	return nil
}

// apply records a profile's change, and reports whether its spec is new (a status
// write, which changes no generation, is not).
func (m *ProfileManager) apply(t watch.EventType, obj *unstructured.Unstructured) bool {
	policyChanged, specChanged := m.record(t, obj)
	if policyChanged && m.onChange != nil {
		m.onChange()
	}
	return specChanged
}

// record records a profile's change, and reports whether its policy changed and
// whether its spec did.
func (m *ProfileManager) record(t watch.EventType, obj *unstructured.Unstructured) (policyChanged, specChanged bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name := obj.GetName()
	if t == watch.Deleted {
		delete(m.byName, name)
		return false, false
	}
	policy, _, _ := unstructured.NestedString(obj.Object, "spec", "policy")
	shadows, _, _ := unstructured.NestedStringSlice(obj.Object, "spec", "shadows")
	p := m.byName[name]
	if p == nil {
		p = &profile{agreed: map[string]int64{}, disagreed: map[string]int64{}, generation: -1}
		m.byName[name] = p
	}
	if p.policy != policy && p.policy != "" {
		m.log.Info("scheduler policy swapped", "profile", name, "from", p.policy, "to", policy)
	}
	policyChanged, specChanged = p.policy != policy, p.generation != obj.GetGeneration()
	p.policy, p.shadows, p.generation = policy, shadows, obj.GetGeneration()
	return policyChanged, specChanged
}

// writeStatus records each profile's deciding policy, counters and shadow agreement.
func (m *ProfileManager) writeStatus(ctx context.Context, e *registry.Entry, stats func(string) Stats) {
	m.mu.Lock()
	type snap struct {
		name, policy string
		shadows      []any
		generation   int64
	}
	var all []snap
	for name, p := range m.byName {
		s := snap{name: name, policy: p.policy, generation: p.generation}
		for _, sh := range p.shadows {
			a, d := p.agreed[sh], p.disagreed[sh]
			entry := map[string]any{"plugin": sh, "agreed": a, "disagreed": d}
			if a+d > 0 {
				entry["agreement"] = float64(a) / float64(a+d)
			}
			s.shadows = append(s.shadows, entry)
		}
		all = append(all, s)
	}
	m.mu.Unlock()
	for _, s := range all {
		_, ready := m.source.Policy(s.policy)
		_, err := m.svc.Mutate(ctx, e, "", s.name, objects.SubStatus, func(cur *unstructured.Unstructured) error {
			st := stats(s.name)
			status := map[string]any{"policy": s.policy, "ready": ready, "observedGeneration": s.generation,
				"attempts": st.Attempts, "bound": st.Bound, "unschedulable": st.Unschedulable}
			if len(s.shadows) > 0 {
				status["shadows"] = s.shadows
			}
			if !st.DecidingSince.IsZero() {
				status["decidingSince"] = st.DecidingSince.UTC().Format(metav1.RFC3339Micro)
			}
			cur.Object["status"] = status
			return nil
		}, objects.WriteOptions{FieldManager: "weft-scheduler"})
		if err != nil && !apierrors.IsNotFound(err) {
			m.log.Warn("profile status", "profile", s.name, "err", err)
		}
	}
}
