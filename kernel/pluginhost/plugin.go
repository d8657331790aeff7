package pluginhost

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"weft.dev/weft/sdk"
)

// Plugin is one loaded module version and its pool of instances.
type Plugin struct {
	Digest   string
	Manifest sdk.Manifest

	limits    Limits
	trusted   bool
	onFailure func(Failure)
	grantsMu  sync.RWMutex
	grants    []sdk.Permission
	kernel    Kernel
	auditor   Auditor
	log       *slog.Logger
	runtime   wazero.Runtime
	compiled  wazero.CompiledModule

	idle   chan *instance // instances ready for a call
	live   atomic.Int32   // instances that exist: idle or in a call
	closed atomic.Bool
	wg     sync.WaitGroup // background replacements

	health health
	stats  stats

	sessionsMu sync.Mutex
	sessions   map[*Session]struct{}
}

// instance is one instantiated module.
type instance struct {
	mod api.Module
}

// callState travels in the context of a call, for the host functions.
type callState struct {
	input  []byte
	plugin *Plugin
}

type callKey struct{}

// Options are what the operator decided for a plugin.
type Options struct {
	Limits Limits
	// Grants are the permissions the operator granted; calls outside them are refused.
	Grants []sdk.Permission
	// Kernel serves the plugin's requests; nil refuses them all.
	Kernel Kernel
	// Auditor records the plugin's writes and refused requests; nil records nothing.
	Auditor Auditor
	// OnFailure, if set, hears of every failure that cost an instance (a trap, a
	// timeout, running out of memory, a failed instantiation). It must not block.
	OnFailure func(Failure)
	// Trusted runs the plugin without preemption. Being able to stop a guest
	// mid-call (wazero's WithCloseOnContextDone) makes guest code 4–25 times slower
	// (measured in BenchmarkCall*). A trusted plugin that overruns its deadline is
	// abandoned to finish on its own: the caller gets ErrTimeout at once and the
	// instance is replaced, but the stuck call keeps a CPU busy until it returns.
	Trusted bool
}

// Load compiles wasm, checks it speaks ABI v1, reads its manifest and fills its pool.
// Nothing is left behind on error.
func (e *Engine) Load(ctx context.Context, wasm []byte, opts Options) (_ *Plugin, err error) {
	limits := opts.Limits.withDefaults()
	p := &Plugin{
		Digest: Digest(wasm), limits: limits, log: e.log, idle: make(chan *instance, limits.Instances),
		grants: opts.Grants, kernel: opts.Kernel, auditor: opts.Auditor, trusted: opts.Trusted, onFailure: opts.OnFailure,
	}
	p.runtime = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(e.cache).
		WithMemoryLimitPages(limits.MemoryPages).
		WithCloseOnContextDone(!opts.Trusted))
	defer func() {
		if err != nil {
			p.Close(context.Background())
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.runtime); err != nil {
		return nil, err
	}
	if err := p.instantiateHost(ctx); err != nil {
		return nil, err
	}
	p.compiled, err = p.runtime.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	if _, ok := p.compiled.ExportedFunctions()["weft_abi_v1"]; !ok {
		return nil, fmt.Errorf("%w: it does not export weft_abi_v1 (built without the Weft SDK, or for another ABI)", ErrInvalidModule)
	}
	p.log = e.log.With("plugin", p.Digest[:19])
	first, err := p.instantiate(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: instantiate: %v", ErrInvalidModule, err)
	}
	p.idle <- first
	raw, err := p.Call(ctx, "manifest", nil)
	if err != nil {
		return nil, fmt.Errorf("%w: read manifest: %v", ErrInvalidModule, err)
	}
	if err := json.Unmarshal(raw, &p.Manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrInvalidModule, err)
	}
	if p.Manifest.ABI != 1 || p.Manifest.Name == "" {
		return nil, fmt.Errorf("%w: manifest declares ABI %d and name %q", ErrInvalidModule, p.Manifest.ABI, p.Manifest.Name)
	}
	p.log = e.log.With("plugin", p.Manifest.Name, "digest", p.Digest[:19])
	for range limits.Instances - 1 {
		inst, err := p.instantiate(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: instantiate: %v", ErrInvalidModule, err)
		}
		p.idle <- inst
	}
	return p, nil
}

// instantiate makes a fresh instance and runs its _initialize.
func (p *Plugin) instantiate(ctx context.Context) (*instance, error) {
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module share a runtime
		WithStartFunctions("_initialize").
		WithStdout(newLogWriter(p, slog.LevelInfo)).
		WithStderr(newLogWriter(p, slog.LevelWarn)).
		WithSysWalltime().WithSysNanotime().
		WithRandSource(rand.Reader).
		// A Go guest's collector lets the heap grow to twice what is live, so one
		// whose live data passes half its cap runs out of memory while most of it is
		// garbage. With a limit below the cap it collects harder instead. Other
		// guests ignore the variable.
		WithEnv("GOMEMLIMIT", strconv.FormatUint(uint64(p.limits.MemoryPages)*65536/8*7, 10))
	mod, err := p.runtime.InstantiateModule(ctx, p.compiled, cfg)
	if err != nil {
		return nil, err
	}
	p.live.Add(1)
	return &instance{mod: mod}, nil
}

// discard closes an instance that must not be used again.
func (p *Plugin) discard(inst *instance) {
	_ = inst.mod.Close(context.Background())
	p.live.Add(-1)
}

// Call runs export weft_<op> with input in and returns its result. It waits for a
// free instance (the concurrency limit) or ctx. Any failure other than a guest-reported
// error discards the instance and replaces it in the background.
func (p *Plugin) Call(ctx context.Context, op string, in []byte) ([]byte, error) {
	if err := p.callable(); err != nil {
		return nil, err
	}
	var inst *instance
	select {
	case inst = <-p.idle:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out, err := p.invoke(ctx, inst, op, in)
	if errors.Is(err, errInstanceLost) {
		p.replace()
		return nil, errors.Unwrap(err)
	}
	p.idle <- inst
	return out, err
}

// callable refuses calls to a closed or backed-off plugin.
func (p *Plugin) callable() error {
	if p.closed.Load() {
		return ErrClosed
	}
	if until, ok := p.health.degraded(time.Now()); ok {
		return fmt.Errorf("%w until %s", ErrDegraded, until.Format(time.RFC3339))
	}
	return nil
}

// Failure is a failure that cost an instance.
type Failure struct {
	// Op is the export that failed, or "instantiate".
	Op string
	// Cause is ErrTrap, ErrTimeout or ErrOutOfMemory.
	Cause error
	Err   error
	// Degraded reports that this failure made the plugin Degraded.
	Degraded bool
}

// failed records a failure in the plugin's health and reports it.
func (p *Plugin) failed(op string, cause, err error) {
	degraded := p.health.failure(time.Now())
	if p.onFailure != nil {
		p.onFailure(Failure{Op: op, Cause: cause, Err: err, Degraded: degraded})
	}
}

// errInstanceLost wraps the error of a call that cost its instance, which invoke has
// discarded.
var errInstanceLost = errors.New("instance lost")

type lostError struct{ err error }

func (e lostError) Error() string        { return e.err.Error() }
func (e lostError) Unwrap() error        { return e.err }
func (e lostError) Is(target error) bool { return target == errInstanceLost }

// invoke runs one export on inst. On a failure that ends the instance it discards
// inst and returns an error matching errInstanceLost.
func (p *Plugin) invoke(ctx context.Context, inst *instance, op string, in []byte) ([]byte, error) {
	fn := inst.mod.ExportedFunction("weft_" + op)
	if fn == nil {
		return nil, fmt.Errorf("%w: weft_%s", ErrNoExport, op)
	}
	// pprof shows guest code only as _ExternalCode; labels say whose it is. A trusted
	// call's goroutine inherits them.
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("weft.plugin", p.Manifest.Name, "weft.op", op)))
	defer pprof.SetGoroutineLabels(ctx)
	start := time.Now()
	cctx, cancel := context.WithTimeout(context.WithValue(ctx, callKey{}, &callState{input: in, plugin: p}), p.limits.CallTimeout)
	var res []uint64
	var err error
	if p.trusted {
		var abandoned bool
		res, err, abandoned = p.watch(cctx, inst, fn, uint64(len(in)))
		if abandoned {
			deadline := ctx.Err() == nil
			cancel()
			p.stats.record(time.Since(start), true)
			if deadline {
				p.log.Error("trusted plugin overran its call deadline; its instance cannot be preempted and is abandoned until the call returns", "op", op, "timeout", p.limits.CallTimeout)
				p.failed(op, ErrTimeout, fmt.Errorf("overran its %s deadline; a trusted plugin cannot be preempted, so its instance is abandoned until the call returns", p.limits.CallTimeout))
			}
			return nil, lostError{fmt.Errorf("%w: %s: a trusted plugin cannot be preempted; the call was abandoned", ErrTimeout, op)}
		}
	} else {
		res, err = fn.Call(cctx, uint64(len(in)))
	}
	deadline := cctx.Err() != nil && ctx.Err() == nil
	cancel()
	if err != nil {
		cause := p.classify(inst, err, deadline)
		p.stats.record(time.Since(start), true)
		p.log.Warn("plugin call failed; replacing its instance", "op", op, "err", err)
		p.failed(op, cause, err)
		p.discard(inst)
		return nil, lostError{fmt.Errorf("%w: %s: %v", cause, op, err)}
	}
	packed := res[0]
	ptr, n := uint32(packed>>32), uint32(packed)
	failed := n&(1<<31) != 0
	n &^= 1 << 31
	var out []byte
	if n > 0 {
		b, ok := inst.mod.Memory().Read(ptr, n)
		if !ok {
			p.stats.record(time.Since(start), true)
			p.discard(inst)
			return nil, lostError{fmt.Errorf("%w: %s: result out of bounds", ErrTrap, op)}
		}
		out = slices.Clone(b)
	}
	p.stats.record(time.Since(start), failed)
	if failed {
		return nil, fmt.Errorf("%w: %s: %s", ErrGuest, op, out)
	}
	p.health.success()
	return out, nil
}

// watch runs a call of a trusted (unpreemptible) plugin, and gives up on it when ctx
// ends: the instance then belongs to the call's goroutine, which closes it when the
// guest finally returns.
func (p *Plugin) watch(ctx context.Context, inst *instance, fn api.Function, arg uint64) ([]uint64, error, bool) {
	type result struct {
		res []uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := fn.Call(ctx, arg)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err, false
	case <-ctx.Done():
		select {
		case r := <-done: // it finished just in time
			return r.res, r.err, false
		default:
		}
		go func() {
			<-done
			p.discard(inst)
		}()
		return nil, nil, true
	}
}

// Session is an instance held by one caller for stateful calls, such as a
// controller's cache, which the pool's interchangeable instances cannot keep. Its
// calls run one at a time. When a call costs the instance, the next call gets a fresh
// one and Epoch changes: the caller must rebuild the state it had given the old one.
type Session struct {
	p     *Plugin
	mu    sync.Mutex
	inst  *instance
	epoch uint64
}

// NewSession returns a session; its instance is made on first use and is not part of
// the pool.
func (p *Plugin) NewSession() *Session {
	s := &Session{p: p}
	p.sessionsMu.Lock()
	if p.sessions == nil {
		p.sessions = map[*Session]struct{}{}
	}
	p.sessions[s] = struct{}{}
	p.sessionsMu.Unlock()
	return s
}

// Epoch counts the instances the session has had: it changes whenever state was lost.
// Call Ready first to know the epoch the next call will run in.
func (s *Session) Epoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// Ready makes sure the session has an instance and returns its epoch.
func (s *Session) Ready(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	return s.epoch, nil
}

func (s *Session) ensure(ctx context.Context) error {
	if err := s.p.callable(); err != nil {
		return err
	}
	if s.inst != nil {
		return nil
	}
	inst, err := s.p.instantiate(ctx)
	if err != nil {
		s.p.failed("instantiate", ErrTrap, err)
		return err
	}
	s.inst = inst
	s.epoch++
	return nil
}

// Call runs an export on the session's instance, if it is still of epoch; otherwise
// it fails with ErrStale so the caller can rebuild the instance's state first.
func (s *Session) Call(ctx context.Context, epoch uint64, op string, in []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	if s.epoch != epoch {
		return nil, ErrStale
	}
	out, err := s.p.invoke(ctx, s.inst, op, in)
	if errors.Is(err, errInstanceLost) {
		s.inst = nil
		return nil, errors.Unwrap(err)
	}
	return out, err
}

// Close releases the session's instance; a call in flight finishes first.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inst != nil {
		s.p.discard(s.inst)
		s.inst = nil
	}
	s.p.sessionsMu.Lock()
	delete(s.p.sessions, s)
	s.p.sessionsMu.Unlock()
}

// classify names why a call failed. A guest that dies with its memory near the cap
// ran out of it: Go's runtime exits when the memory it asks for is refused.
func (p *Plugin) classify(inst *instance, err error, deadline bool) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled) || deadline {
		// Our deadline or the caller's: either way the instance was closed mid-call.
		return ErrTimeout
	}
	if mem := inst.mod.Memory(); mem != nil && uint64(mem.Size()) >= uint64(p.limits.MemoryPages)*65536*9/10 {
		return ErrOutOfMemory
	}
	return ErrTrap
}

// replace instantiates an instance in the background to take a discarded one's place.
func (p *Plugin) replace() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for attempt := 0; !p.closed.Load(); attempt++ {
			inst, err := p.instantiate(context.Background())
			if err == nil {
				if p.closed.Load() {
					p.discard(inst)
					return
				}
				p.idle <- inst
				return
			}
			p.log.Error("cannot replace plugin instance", "err", err)
			p.failed("instantiate", ErrTrap, err)
			time.Sleep(min(time.Duration(1<<min(attempt, 6))*100*time.Millisecond, 5*time.Second))
		}
	}()
}

// Close unloads the plugin: new calls fail with ErrClosed, calls in flight finish
// (until ctx ends), then every instance and the runtime are released.
func (p *Plugin) Close(ctx context.Context) {
	if p.closed.Swap(true) {
		return
	}
	p.sessionsMu.Lock()
	sessions := make([]*Session, 0, len(p.sessions))
	for s := range p.sessions {
		sessions = append(sessions, s)
	}
	p.sessionsMu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	p.wg.Wait()
	for range p.live.Load() {
		select {
		case inst := <-p.idle:
			_ = inst.mod.Close(ctx)
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	if p.runtime != nil {
		_ = p.runtime.Close(context.Background())
	}
}

// Admit runs the plugin's admission export on one request.
func (p *Plugin) Admit(ctx context.Context, req *sdk.AdmissionRequest) (*sdk.AdmissionResponse, error) {
	out, err := p.Call(ctx, "admit", req.MarshalWire())
	if err != nil {
		return nil, err
	}
	resp := &sdk.AdmissionResponse{}
	if err := resp.UnmarshalWire(out); err != nil {
		return nil, fmt.Errorf("%w: admit: bad response: %v", ErrGuest, err)
	}
	return resp, nil
}

// Route runs the plugin's router export on one request.
func (p *Plugin) Route(ctx context.Context, req *sdk.RouteRequest) (*sdk.RouteResponse, error) {
	out, err := p.Call(ctx, "route", req.MarshalWire())
	if err != nil {
		return nil, err
	}
	resp := &sdk.RouteResponse{}
	if err := resp.UnmarshalWire(out); err != nil {
		return nil, fmt.Errorf("%w: route: bad response: %v", ErrGuest, err)
	}
	return resp, nil
}

// SetGrants replaces the permissions the plugin holds.
func (p *Plugin) SetGrants(g []sdk.Permission) {
	p.grantsMu.Lock()
	p.grants = g
	p.grantsMu.Unlock()
}

// Grants returns the permissions the plugin holds.
func (p *Plugin) Grants() []sdk.Permission {
	p.grantsMu.RLock()
	defer p.grantsMu.RUnlock()
	return p.grants
}
