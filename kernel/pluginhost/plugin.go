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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
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

	idle chan *instance // instances ready for a call
	live atomic.Int32   // instances that exist: idle or in a call
	// abandoned counts the live instances left to finish a call on their own, which
	// never come back to the pool. The runtime outlives them: closing it under a
	// running call would pull its code away.
	abandoned     atomic.Int32
	runtimeMu     sync.Mutex
	runtimeClosed bool
	closed        atomic.Bool
	wg            sync.WaitGroup // background replacements
	// gone is closed once Close has released the runtime, so that the workers of
	// instances Close gave up waiting for exit too.
	gone chan struct{}

	health health
	stats  stats

	sessionsMu sync.Mutex
	sessions   map[*Session]struct{}
}

// instance is one instantiated module. It serves one call at a time, so what it
// caches needs no lock.
type instance struct {
	mod api.Module
	// exports caches weft_<op> by op: looking one up makes a new call engine and
	// stack each time, about 40% of what an empty call cost.
	exports map[string]*export

	// A trusted instance's calls run on its worker (see work).
	calls     chan trustedCall
	done      chan trustedResult
	abandoned atomic.Bool
}

// export is one cached weft_<op> of an instance.
type export struct {
	fn api.Function
	// stack holds the argument and then the result, reused from call to call: Load
	// refused any weft_ export that is not (i32) -> i64.
	stack []uint64
	// labels carries only the op's pprof labels, made for plugin name.
	labels context.Context
	name   string
}

type trustedCall struct {
	ctx, labels context.Context
	e           *export
	arg         uint64
}

type trustedResult struct {
	res []uint64
	err error
}

// callState is the context of a call, which carries it to the host functions.
type callState struct {
	context.Context
	input  []byte
	plugin *Plugin
}

type callKey struct{}

func (cs *callState) Value(key any) any {
	if key == (callKey{}) {
		return cs
	}
	return cs.Context.Value(key)
}

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
		Digest: Digest(wasm), limits: limits, log: e.log, idle: make(chan *instance, limits.Instances), gone: make(chan struct{}),
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
	// Checked here, once: a call reads its one i64 result without looking again.
	for name, def := range p.compiled.ExportedFunctions() {
		if name == "weft_abi_v1" || !strings.HasPrefix(name, "weft_") {
			continue
		}
		if !slices.Equal(def.ParamTypes(), []api.ValueType{api.ValueTypeI32}) || !slices.Equal(def.ResultTypes(), []api.ValueType{api.ValueTypeI64}) {
			return nil, fmt.Errorf("%w: export %s must take an i32 and return an i64, as ABI v1 says", ErrInvalidModule, name)
		}
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
	mod, err := p.runtime.InstantiateModule(experimental.WithMemoryAllocator(ctx, memoryAllocator()), p.compiled, cfg)
	if err != nil {
		return nil, err
	}
	p.live.Add(1)
	inst := &instance{mod: mod, exports: map[string]*export{}}
	if p.trusted {
		inst.calls, inst.done = make(chan trustedCall), make(chan trustedResult, 1)
		go p.work(inst)
	}
	return inst, nil
}

// discard closes an instance that must not be used again.
func (p *Plugin) discard(inst *instance) {
	inst.stop()
	_ = inst.mod.Close(context.Background())
	p.live.Add(-1)
}

// stop ends a trusted instance's worker. Only the instance's holder calls it, once,
// when no call is being sent.
func (inst *instance) stop() {
	if inst.calls != nil {
		close(inst.calls)
	}
}

// export returns weft_<op>, or nil if the module has no such export.
func (inst *instance) export(p *Plugin, op string) *export {
	e := inst.exports[op]
	if e == nil {
		fn := inst.mod.ExportedFunction("weft_" + op)
		if fn == nil {
			return nil // not cached: op may come from anywhere
		}
		e = &export{fn: fn, stack: make([]uint64, 1)}
		inst.exports[op] = e
	}
	if e.labels == nil || e.name != p.Manifest.Name { // the manifest call runs before the name is known
		e.name = p.Manifest.Name
		e.labels = pprof.WithLabels(context.Background(), pprof.Labels("weft.plugin", e.name, "weft.op", op))
	}
	return e
}

// call calls the export with one argument.
func (e *export) call(ctx context.Context, arg uint64) ([]uint64, error) {
	e.stack[0] = arg
	if err := e.fn.CallWithStack(ctx, e.stack); err != nil {
		return nil, err
	}
	return e.stack, nil
}

// work runs the calls of a trusted instance, one at a time, on one long-lived
// goroutine: starting one per call cost a go statement and a stack grown anew every
// time. It closes the instance itself if its caller abandoned it mid-call.
func (p *Plugin) work(inst *instance) {
	defer func() {
		if inst.abandoned.Load() {
			_ = inst.mod.Close(context.Background())
			p.live.Add(-1)
			p.abandoned.Add(-1)
			p.releaseRuntime()
		}
	}()
	for {
		select {
		case c, ok := <-inst.calls:
			if !ok {
				return
			}
			// Guest code runs here, so this goroutine is the one profiles must label.
			pprof.SetGoroutineLabels(c.labels)
			res, err := c.e.call(c.ctx, c.arg)
			pprof.SetGoroutineLabels(context.Background())
			inst.done <- trustedResult{res, err}
		case <-p.gone:
			return
		}
	}
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
	e := inst.export(p, op)
	if e == nil {
		return nil, fmt.Errorf("%w: weft_%s", ErrNoExport, op)
	}
	// pprof shows guest code only as _ExternalCode; labels say whose it is. Making
	// them costs allocations, so a caller without labels of its own gets cached ones.
	labels := e.labels
	if hasLabels(ctx) {
		labels = pprof.WithLabels(ctx, pprof.Labels("weft.plugin", p.Manifest.Name, "weft.op", op))
	}
	pprof.SetGoroutineLabels(labels)
	defer pprof.SetGoroutineLabels(ctx)
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, p.limits.CallTimeout)
	cctx := &callState{Context: tctx, input: in, plugin: p}
	var res []uint64
	var err error
	if p.trusted {
		var abandoned, gone bool
		res, err, abandoned, gone = p.watch(cctx, labels, inst, e, uint64(len(in)))
		if gone {
			cancel()
			p.discard(inst)
			return nil, lostError{fmt.Errorf("%w: %s", ErrClosed, op)}
		}
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
		res, err = e.call(cctx, uint64(len(in)))
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

// hasLabels reports whether ctx carries pprof labels.
func hasLabels(ctx context.Context) bool {
	has := false
	pprof.ForLabels(ctx, func(string, string) bool {
		has = true
		return false
	})
	return has
}

// watch runs a call of a trusted (unpreemptible) plugin on the instance's worker, and
// gives up on it when ctx ends: the instance then belongs to the worker, which
// closes it when the guest finally returns. gone reports that the plugin was closed
// before the call could start.
func (p *Plugin) watch(ctx, labels context.Context, inst *instance, e *export, arg uint64) (res []uint64, err error, abandoned, gone bool) {
	select {
	case inst.calls <- trustedCall{ctx: ctx, labels: labels, e: e, arg: arg}:
	case <-p.gone:
		return nil, nil, false, true
	}
	select {
	case r := <-inst.done:
		return r.res, r.err, false, false
	case <-ctx.Done():
		select {
		case r := <-inst.done: // it finished just in time
			return r.res, r.err, false, false
		default:
		}
		p.abandoned.Add(1)
		inst.abandoned.Store(true)
		inst.stop()
		return nil, nil, true, false
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
	// Abandoned instances are not waited for: their calls may never return. Reading
	// that count first can only make this wait for fewer; closing the runtime closes
	// the rest.
	abandoned := p.abandoned.Load()
	for range p.live.Load() - abandoned {
		select {
		case inst := <-p.idle:
			inst.stop()
			_ = inst.mod.Close(ctx)
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	p.releaseRuntime()
	close(p.gone)
}

// releaseRuntime closes the runtime once the plugin is closed and no abandoned call
// runs in it any more; Close and the last abandoned call's worker both try.
func (p *Plugin) releaseRuntime() {
	p.runtimeMu.Lock()
	defer p.runtimeMu.Unlock()
	if p.runtime == nil || p.runtimeClosed || !p.closed.Load() || p.abandoned.Load() > 0 {
		return
	}
	p.runtimeClosed = true
	_ = p.runtime.Close(context.Background())
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
