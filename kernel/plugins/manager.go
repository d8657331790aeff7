package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"weft.dev/weft/kernel/admission"
	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/scheduler"
	"weft.dev/weft/sdk"
)

// ManagerConfig assembles a Manager.
type ManagerConfig struct {
	Objects   *objects.Service
	Engine    *pluginhost.Engine
	Modules   *ModuleStore
	Admission *admission.Pipeline
	Auditor   pluginhost.Auditor
	Logger    *slog.Logger
	// StatusInterval is how often running plugins' status is refreshed; default 5s.
	StatusInterval time.Duration
	// ClusterEvent, if set, hears of changes a scheduler policy has taken in that may
	// let unschedulable pods fit (the scheduler retries them).
	ClusterEvent func()
	// StatusExtra, if set, adds fields to a plugin's status (a shadow policy's
	// agreement, from the scheduler).
	StatusExtra func(plugin string, status map[string]any)
}

// Manager makes running plugins match Plugin objects. An upgrade is atomic: the new
// version is compiled, checked and instantiated before it replaces the old one; calls
// in flight finish on the old one; if the new one fails, the old one keeps serving.
type Manager struct {
	cfg    ManagerConfig
	log    *slog.Logger
	calls  *Calls
	events *recorder

	mu     sync.Mutex
	active map[string]*running
	// runCtx is Run's context, which controller runtimes live within.
	runCtx context.Context
	synced chan struct{}
}

// running is the version of a plugin that serves.
type running struct {
	plugin      *pluginhost.Plugin
	spec        pluginSpec
	controllers *controllerRuntime
	// policy is the plugin's scheduler policy, fed and ready, if it has one.
	policy *schedPolicy
	// swap is how long this version took to replace the one before, once loaded.
	swap time.Duration
}

// pluginSpec is the part of a Plugin object that decides what runs.
type pluginSpec struct {
	Module         string           `json:"module"`
	GrantRequested bool             `json:"grantRequested,omitempty"`
	Trusted        bool             `json:"trusted,omitempty"`
	Grants         []sdk.Permission `json:"grants,omitempty"`
	Limits         struct {
		MemoryMiB      int `json:"memoryMiB,omitempty"`
		TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
		Instances      int `json:"instances,omitempty"`
	} `json:"limits"`
	Config json.RawMessage `json:"config,omitempty"`
}

// NewManager returns a Manager.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 5 * time.Second
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "plugins"), active: map[string]*running{}, runCtx: context.Background(), synced: make(chan struct{})}
	m.calls = &Calls{Objects: cfg.Objects, Config: m.config}
	m.events = newRecorder(cfg.Objects, m.log)
	return m
}

// Plugin returns the running version of a plugin, if any.
func (m *Manager) Plugin(name string) (*pluginhost.Plugin, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.active[name]
	if !ok {
		return nil, false
	}
	return r.plugin, true
}

// Policy implements scheduler.PolicySource: the scheduler policy of a running plugin.
func (m *Manager) Policy(name string) (scheduler.Policy, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.active[name]
	if !ok || r.policy == nil {
		return nil, false
	}
	return r.policy, true
}

// LastSwap reports how long the running version of a plugin took to take over once
// it was compiled and instantiated: registering its kinds, handing its controllers
// over, and switching its admission hooks.
func (m *Manager) LastSwap(name string) (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.active[name]
	if !ok {
		return 0, false
	}
	return r.swap, true
}

func (m *Manager) config(name string) json.RawMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.active[name]; ok && len(r.spec.Config) > 0 {
		return r.spec.Config
	}
	return json.RawMessage("{}")
}

// Run follows Plugin objects until ctx ends, then unloads every plugin. The plugins
// that exist when it starts are loaded before Synced is closed, each after the
// plugins whose kinds it needs.
func (m *Manager) Run(ctx context.Context) error {
	defer m.unloadAll()
	ctx = objects.WithUser(ctx, objects.User{Name: "system:weft:plugin-manager", Groups: []string{"system:masters"}, Agent: "weft-plugins"})
	m.runCtx = ctx
	e, ok := m.cfg.Objects.Registry().Snapshot().LookupKind(GVK)
	if !ok {
		close(m.synced)
		return errors.New("plugins: the Plugin kind is not registered")
	}
	rv := m.initial(ctx, e)
	close(m.synced)
	tick := time.NewTicker(m.cfg.StatusInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		w, err := m.cfg.Objects.Watch(ctx, e, "", objects.WatchOptions{ResourceVersion: rv})
		if err != nil {
			m.log.Error("watch plugins", "err", err)
			rv = "" // start over from the current state
			time.Sleep(time.Second)
			continue
		}
		rv = m.follow(ctx, e, w, tick.C)
		w.Stop()
	}
	return nil
}

// Synced is closed once the plugins that existed when Run started are loaded.
func (m *Manager) Synced() <-chan struct{} { return m.synced }

// initial loads the plugins that exist, retrying those that fail while others
// succeed (a plugin may need kinds another defines), and returns the revision to
// watch from.
func (m *Manager) initial(ctx context.Context, e *registry.Entry) string {
	list, err := m.cfg.Objects.List(ctx, e, "", objects.ListOptions{})
	if err != nil {
		m.log.Error("list plugins", "err", err)
		return ""
	}
	pending := list.Items
	for len(pending) > 0 && ctx.Err() == nil {
		var failed []unstructured.Unstructured
		for i := range pending {
			if err := m.reconcile(ctx, e, &pending[i], false); err != nil {
				failed = append(failed, pending[i])
			}
		}
		if len(failed) == len(pending) {
			// No progress: these fail for good; now say so.
			for i := range failed {
				_ = m.reconcile(ctx, e, &failed[i], true)
			}
			break
		}
		pending = failed
	}
	return list.GetResourceVersion()
}

// follow applies a watch's events and returns the last revision it saw ("" after an
// error, to start over).
func (m *Manager) follow(ctx context.Context, e *registry.Entry, w watch.Interface, tick <-chan time.Time) string {
	rv := ""
	for {
		select {
		case <-ctx.Done():
			return rv
		case <-tick:
			m.refreshStatus(ctx, e)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			obj, isObj := ev.Object.(*unstructured.Unstructured)
			if !isObj {
				if ev.Type == watch.Error {
					return ""
				}
				continue
			}
			rv = obj.GetResourceVersion()
			switch ev.Type {
			case watch.Added, watch.Modified:
				_ = m.reconcile(ctx, e, obj, true)
			case watch.Deleted:
				m.unload(obj.GetName())
			}
		}
	}
}

// reconcile loads what a Plugin object asks for, unless it runs already. Unless report
// is set, a failure is only returned: the caller will try again (a plugin whose kinds
// come from another that is not loaded yet).
func (m *Manager) reconcile(ctx context.Context, e *registry.Entry, obj *unstructured.Unstructured, report bool) error {
	name := obj.GetName()
	var ps pluginSpec
	raw, _ := json.Marshal(obj.Object["spec"])
	if err := json.Unmarshal(raw, &ps); err != nil {
		m.setStatus(ctx, e, name, nil, "Failed", fmt.Sprintf("spec: %v", err))
		return err
	}
	m.mu.Lock()
	cur := m.active[name]
	m.mu.Unlock()
	if cur != nil && specEqual(cur.spec, ps) {
		return nil
	}
	if err := m.load(ctx, name, ps); err != nil {
		if !report {
			m.log.Debug("plugin not loaded yet", "plugin", name, "err", err)
			return err
		}
		m.log.Warn("plugin not loaded", "plugin", name, "module", ps.Module, "err", err)
		phase, reason := "Failed", "LoadFailed"
		if cur != nil {
			phase, reason = "Running", "UpgradeFailed" // the old version keeps serving
			err = fmt.Errorf("upgrade to %s failed, %s keeps serving: %w", ps.Module, cur.spec.Module, err)
		}
		m.events.event(name, "Warning", reason, err.Error())
		m.setStatus(ctx, e, name, nil, phase, err.Error())
		return err
	}
	m.setStatus(ctx, e, name, cur, "Running", "")
	if p, ok := m.Plugin(name); ok {
		msg := fmt.Sprintf("version %s (%s) is serving", p.Manifest.Version, p.Digest)
		if cur != nil {
			msg = fmt.Sprintf("version %s (%s) replaced %s", p.Manifest.Version, p.Digest, cur.plugin.Manifest.Version)
		}
		m.events.event(name, "Normal", "Running", msg)
	}
	return nil
}

func specEqual(a, b pluginSpec) bool {
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	return string(ra) == string(rb)
}

// load makes ps the running version of plugin name, or changes nothing.
func (m *Manager) load(ctx context.Context, name string, ps pluginSpec) error {
	wasm, err := m.cfg.Modules.Get(ps.Module)
	if err != nil {
		return err
	}
	limits := pluginhost.Limits{
		MemoryPages: uint32(ps.Limits.MemoryMiB) * 16,
		CallTimeout: time.Duration(ps.Limits.TimeoutSeconds) * time.Second,
		Instances:   ps.Limits.Instances,
	}
	p, err := m.cfg.Engine.Load(ctx, wasm, pluginhost.Options{Limits: limits, Grants: ps.Grants, Kernel: m.calls, Auditor: m.cfg.Auditor, Trusted: ps.Trusted, OnFailure: m.events.onFailure(name)})
	if err != nil {
		return err
	}
	if ps.GrantRequested {
		// The manifest is known only once the module is loaded, and no call but the
		// manifest's has run yet.
		p.SetGrants(p.Manifest.Permissions)
	}
	fail := func(err error) error {
		p.Close(context.Background())
		return err
	}
	if p.Manifest.Name != name {
		return fail(fmt.Errorf("the module is plugin %q, not %q", p.Manifest.Name, name))
	}
	for _, g := range p.Grants() {
		if !requested(p.Manifest.Permissions, g) {
			return fail(fmt.Errorf("grant of %v on %s is more than the plugin asks for", g.Verbs, g.Resource))
		}
	}
	kinds, err := KindsOf(p.Manifest)
	if err != nil {
		return fail(err)
	}
	hooks := admission.HooksOf(p.Manifest, p.Admit)
	// Swap: kinds and hooks of the new version, then the pointer; the old version
	// drains in the background.
	swapStart := time.Now()
	reg := m.cfg.Objects.Registry()
	if len(kinds) > 0 {
		if err := reg.Register(kinds...); err != nil {
			return fail(err)
		}
	}
	m.mu.Lock()
	old := m.active[name]
	m.mu.Unlock()
	// A scheduler policy is fed before it takes over, while the old one keeps
	// deciding: it must know every node and pod before its first decision.
	var policy *schedPolicy
	if p.Manifest.Scheduler != nil {
		if policy, err = startSchedPolicy(m.runCtx, m.cfg.Objects, p, m.log, m.cfg.ClusterEvent); err != nil {
			return fail(err)
		}
	}
	// The old version's controllers stop before the new one's start, so no two
	// versions reconcile the same object at once; the new one resyncs every key.
	if old != nil {
		old.controllers.stop()
	}
	ctrl, err := startControllers(m.runCtx, m.cfg.Objects, p, m.log)
	if err != nil {
		if old != nil {
			old.controllers, _ = startControllers(m.runCtx, m.cfg.Objects, old.plugin, m.log)
		}
		if policy != nil {
			policy.stop()
		}
		return fail(err)
	}
	m.mu.Lock()
	r := &running{plugin: p, spec: ps, controllers: ctrl, policy: policy}
	m.active[name] = r
	m.mu.Unlock()
	if err := m.cfg.Admission.Set(name, hooks); err != nil {
		m.log.Error("admission hooks", "plugin", name, "err", err)
	}
	swap := time.Since(swapStart)
	m.mu.Lock()
	r.swap = swap
	m.mu.Unlock()
	if old != nil {
		m.dropKinds(name, kinds)
		go func() {
			if old.policy != nil {
				old.policy.stop() // a decision in flight finishes
			}
			old.plugin.Close(context.Background())
		}()
	}
	if policy != nil && m.cfg.ClusterEvent != nil {
		m.cfg.ClusterEvent() // pods that waited for this policy may be placed now
	}
	m.log.Info("plugin running", "plugin", name, "version", p.Manifest.Version, "digest", p.Digest, "swap", swap)
	return nil
}

// dropKinds unregisters the kinds plugin name owned but its new version does not define.
func (m *Manager) dropKinds(name string, keep []registry.Kind) {
	reg := m.cfg.Objects.Registry()
	for _, e := range reg.Snapshot().Entries() {
		if e.Owner != name || slices.ContainsFunc(keep, func(k registry.Kind) bool { return k.GVR() == e.GVR() }) {
			continue
		}
		if err := reg.Unregister(name, e.GVR()); err != nil {
			m.log.Warn("unregister kind", "plugin", name, "kind", e.GVR(), "err", err)
		}
	}
}

func (m *Manager) unload(name string) {
	m.mu.Lock()
	r := m.active[name]
	delete(m.active, name)
	m.mu.Unlock()
	if r == nil {
		return
	}
	r.controllers.stop()
	if r.policy != nil {
		r.policy.stop()
	}
	_ = m.cfg.Admission.Set(name, nil)
	m.dropKinds(name, nil)
	r.plugin.Close(context.Background())
	m.log.Info("plugin unloaded", "plugin", name)
}

func (m *Manager) unloadAll() {
	for _, n := range m.names() {
		m.unload(n)
	}
}

// requested reports whether a grant is within what the plugin asked for.
func requested(asked []sdk.Permission, g sdk.Permission) bool {
	return slices.ContainsFunc(asked, func(a sdk.Permission) bool {
		if a.Group != g.Group || a.Resource != g.Resource {
			return false
		}
		for _, v := range g.Verbs {
			if !slices.Contains(a.Verbs, v) && !slices.Contains(a.Verbs, "*") {
				return false
			}
		}
		return true
	})
}

// KindsOf turns a manifest's kinds into registry kinds owned by the plugin.
func KindsOf(m sdk.Manifest) ([]registry.Kind, error) {
	out := make([]registry.Kind, 0, len(m.Kinds))
	for _, k := range m.Kinds {
		s := &spec.Schema{}
		if err := json.Unmarshal(k.Schema, s); err != nil {
			return nil, fmt.Errorf("kind %s: schema: %w", k.Kind, err)
		}
		rk := registry.Kind{
			Group: k.Group, Version: k.Version, Kind: k.Kind, Resource: k.Resource, Singular: k.Singular,
			ShortNames: k.ShortNames, Categories: k.Categories, Namespaced: k.Namespaced, Schema: s,
			Status: k.Status, SelectableFields: k.SelectableFields, Owner: m.Name,
			EncryptAtRest: k.EncryptAtRest,
		}
		switch k.NameFormat {
		case "", "DNSSubdomain":
			rk.NameFormat = registry.NameDNSSubdomain
		case "DNSLabel":
			rk.NameFormat = registry.NameDNSLabel
		case "PathSegment":
			rk.NameFormat = registry.NamePathSegment
		default:
			return nil, fmt.Errorf("kind %s: nameFormat %q is not DNSSubdomain, DNSLabel or PathSegment", k.Kind, k.NameFormat)
		}
		if g := k.Graceful; g != nil {
			rk.Graceful = &registry.Graceful{DefaultPath: g.DefaultPath, BoundPath: g.BoundPath, TerminalPath: g.TerminalPath, TerminalValues: g.TerminalValues}
		}
		if k.Scale != nil {
			rk.Scale = &registry.Scale{SpecReplicasPath: k.Scale.SpecReplicasPath, StatusReplicasPath: k.Scale.StatusReplicasPath, LabelSelectorPath: k.Scale.LabelSelectorPath}
		}
		for _, c := range k.Columns {
			rk.Columns = append(rk.Columns, registry.Column{Name: c.Name, Type: c.Type, Format: c.Format, JSONPath: c.JSONPath, CountPaths: c.CountPaths, Description: c.Description, Priority: c.Priority, Values: c.Values})
		}
		out = append(out, rk)
	}
	return out, nil
}

// setStatus writes a plugin's phase and message; replaced, when set, is the version
// it replaced, recorded in the history rollback uses.
func (m *Manager) setStatus(ctx context.Context, e *registry.Entry, name string, replaced *running, phase, message string) {
	m.updateStatus(ctx, e, name, func(st map[string]any, generation int64) {
		st["phase"], st["message"] = phase, message
		if message == "" {
			delete(st, "message")
		}
		st["observedGeneration"] = generation
		if replaced != nil {
			hist, _ := st["history"].([]any)
			entry := map[string]any{"digest": replaced.plugin.Digest, "version": replaced.plugin.Manifest.Version, "replaced": time.Now().UTC().Format(time.RFC3339)}
			st["history"] = append([]any{entry}, hist[:min(len(hist), 9)]...)
		}
	})
}

// updateStatus edits a plugin's status through the status subresource, then fills in
// the counters of its running version, if any.
func (m *Manager) updateStatus(ctx context.Context, e *registry.Entry, name string, edit func(st map[string]any, generation int64)) {
	_, err := m.cfg.Objects.Mutate(ctx, e, "", name, objects.SubStatus, func(cur *unstructured.Unstructured) error {
		st, _ := cur.Object["status"].(map[string]any)
		if st == nil {
			st = map[string]any{}
		}
		if edit != nil {
			edit(st, cur.GetGeneration())
		}
		if p, ok := m.Plugin(name); ok {
			fillStats(st, p)
		}
		if m.cfg.StatusExtra != nil {
			m.cfg.StatusExtra(name, st)
		}
		cur.Object["status"] = st
		return nil
	}, objects.WriteOptions{FieldManager: "weft-plugins"})
	if err != nil && !apierrors.IsNotFound(err) {
		m.log.Warn("plugin status", "plugin", name, "err", err)
	}
}

func fillStats(st map[string]any, p *pluginhost.Plugin) {
	s := p.Stats()
	st["version"], st["digest"] = p.Manifest.Version, p.Digest
	st["instances"], st["calls"], st["errors"], st["deniedCalls"] = int64(s.Instances), s.Calls, s.Errors, s.Denied
	st["p99Millis"] = float64(s.P99.Microseconds()) / 1000
	if s.Degraded {
		st["phase"] = "Degraded"
		st["message"] = "failing calls; retried after " + s.DegradedUntil.Format(time.RFC3339)
	} else if st["phase"] == "Degraded" {
		st["phase"] = "Running"
		delete(st, "message")
	}
}

// refreshStatus updates the counters of every running plugin.
func (m *Manager) refreshStatus(ctx context.Context, e *registry.Entry) {
	for _, name := range m.names() {
		m.updateStatus(ctx, e, name, nil)
	}
}

// names lists the plugins with a running version.
func (m *Manager) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.active))
	for n := range m.active {
		names = append(names, n)
	}
	return names
}
