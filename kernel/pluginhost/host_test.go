package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"weft.dev/weft/sdk"
)

var guestWasm []byte

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "weft-guest-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "guest.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/guest")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build test guest: %v\n%s", err, b)
			return 1
		}
		guestWasm, err = os.ReadFile(out)
		if err != nil {
			panic(err)
		}
		return m.Run()
	}())
}

func load(t *testing.T, limits Limits) *Plugin {
	return loadWith(t, Options{Limits: limits})
}

func loadWith(t testing.TB, opts Options) *Plugin {
	t.Helper()
	e, err := NewEngine(Config{CacheDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := e.Load(ctx, guestWasm, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close(ctx)
		_ = e.Close(ctx)
	})
	return p
}

func reconcile(p *Plugin, name string) (sdk.ReconcileResult, error) {
	in := (&sdk.ReconcileRequest{Name: name}).MarshalWire()
	out, err := p.Call(context.Background(), "reconcile", in)
	if err != nil {
		return sdk.ReconcileResult{}, err
	}
	var res sdk.ReconcileResult
	return res, res.UnmarshalWire(out)
}

func TestLoadReadsManifest(t *testing.T) {
	p := load(t, Limits{})
	if p.Manifest.Name != "guest" || p.Manifest.ABI != sdk.ABIVersion || p.Digest != Digest(guestWasm) {
		t.Fatalf("manifest %+v digest %s", p.Manifest, p.Digest)
	}
	res, err := reconcile(p, "hello")
	if err != nil || res.RequeueAfterMillis != 5 {
		t.Fatalf("reconcile: %+v %v", res, err)
	}
}

func TestLoadRejectsBadModules(t *testing.T) {
	e, err := NewEngine(Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Not wasm at all, and a valid module that does not speak the ABI.
	empty := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	// weft_abi_v1 and a weft_manifest of type () -> (), which a call would read a
	// result from.
	wrongSignature := append(slices.Clone(empty),
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: () -> ()
		0x03, 0x03, 0x02, 0x00, 0x00, // two functions of that type
		0x07, 0x1f, 0x02, 0x0b, 'w', 'e', 'f', 't', '_', 'a', 'b', 'i', '_', 'v', '1', 0x00, 0x00,
		0x0d, 'w', 'e', 'f', 't', '_', 'm', 'a', 'n', 'i', 'f', 'e', 's', 't', 0x00, 0x01,
		0x0a, 0x07, 0x02, 0x02, 0x00, 0x0b, 0x02, 0x00, 0x0b) // empty bodies
	for name, wasm := range map[string][]byte{"garbage": []byte("not wasm"), "no ABI": empty, "wrong signature": wrongSignature} {
		_, err := e.Load(context.Background(), wasm, Options{})
		if !errors.Is(err, ErrInvalidModule) {
			t.Errorf("%s: want ErrInvalidModule, got %v", name, err)
		}
		if name == "wrong signature" && !strings.Contains(fmt.Sprint(err), "weft_manifest must take an i32 and return an i64") {
			t.Errorf("%s: the error does not name the export: %v", name, err)
		}
	}
}

// A Go guest holding more than half its memory cap live survives churn: the host's
// GOMEMLIMIT makes it collect before the heap doubles.
func TestGuestCollectsBeforeItsCap(t *testing.T) {
	p := load(t, Limits{CallTimeout: 20 * time.Second, MemoryPages: 1024, Instances: 1})
	for i := range 40 {
		if _, err := reconcile(p, "hold"); err != nil {
			t.Fatalf("64 MiB cap, 34 MiB live, call %d: %v", i, err)
		}
	}
}

// Each kind of failure ends the instance it happened in, and the plugin keeps
// answering from a fresh one.
func TestContainment(t *testing.T) {
	cases := []struct {
		name string
		want error
	}{
		{"panic", ErrTrap},
		{"loop", ErrTimeout},
		{"alloc", ErrOutOfMemory},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, Limits{CallTimeout: 500 * time.Millisecond, MemoryPages: 512, Instances: 1})
			start := time.Now()
			_, err := reconcile(p, tc.name)
			if !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
			if time.Since(start) > 30*time.Second {
				t.Fatal("failure took too long to contain")
			}
			// The plugin answers again, from a replacement instance.
			deadline := time.Now().Add(20 * time.Second)
			for {
				res, err := reconcile(p, "ok")
				if err == nil && res.RequeueAfterMillis == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("plugin did not recover: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if st := p.Stats(); st.Errors != 1 || st.Instances != 1 {
				t.Fatalf("stats after one failure: %+v", st)
			}
		})
	}
}

// A trusted plugin cannot be preempted: a call that overruns its deadline is
// abandoned at the deadline, a fresh instance serves the next call, and the stuck
// instance is released when its call finally returns. A panic still ends only the
// instance.
func TestTrustedContainment(t *testing.T) {
	p := loadWith(t, Options{Limits: Limits{CallTimeout: 200 * time.Millisecond, Instances: 1}, Trusted: true})
	start := time.Now()
	if _, err := reconcile(p, "spin"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("the caller waited %v for an abandoned call", d)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := reconcile(p, "ok")
		if err == nil && res.RequeueAfterMillis == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin did not recover: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The abandoned instance goes once its second is up.
	for p.Stats().Instances != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("abandoned instance not released: %+v", p.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := reconcile(p, "panic"); !errors.Is(err, ErrTrap) {
		t.Fatalf("want ErrTrap, got %v", err)
	}
}

// A trusted instance's worker goroutine goes with its instance: when a failure
// replaces it, when an abandoned call finally returns, when its session closes, and
// when the plugin closes.
func TestTrustedWorkersExit(t *testing.T) {
	workers := func() int {
		buf := make([]byte, 1<<20)
		for {
			if n := runtime.Stack(buf, true); n < len(buf) {
				return strings.Count(string(buf[:n]), "pluginhost.(*Plugin).work(")
			}
			buf = make([]byte, 2*len(buf))
		}
	}
	before := workers()
	e, err := NewEngine(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := e.Load(ctx, guestWasm, Options{Limits: Limits{CallTimeout: 200 * time.Millisecond, Instances: 2}, Trusted: true})
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(want int, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); workers() != want || !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("%d workers, want %d; %+v", workers(), want, p.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	s := p.NewSession()
	epoch, err := s.Ready(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Call(ctx, epoch, "reconcile", (&sdk.ReconcileRequest{Name: "ok"}).MarshalWire()); err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile(p, "panic"); !errors.Is(err, ErrTrap) {
		t.Fatalf("want ErrTrap, got %v", err)
	}
	if _, err := reconcile(p, "spin"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	// Two idle in the pool and the session's, once both replacements are in and the
	// abandoned call has returned. (Close would wait for an abandoned instance.)
	waitFor(before+3, func() bool { return p.Stats().Instances == 3 && len(p.idle) == 2 })
	s.Close()
	waitFor(before+2, func() bool { return true })
	p.Close(ctx)
	waitFor(before, func() bool { return true })
	_ = e.Close(ctx)
}

// labelKernel records, from inside a host call, the pprof labels of the goroutine
// that runs the guest.
type labelKernel struct{ labels string }

func (k *labelKernel) Call(context.Context, Caller, sdk.Op, *sdk.CallRequest) ([]byte, error) {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	for rec := range strings.SplitSeq(b.String(), "\n\n") {
		if strings.Contains(rec, "(*labelKernel).Call") {
			_, k.labels, _ = strings.Cut(rec, "# labels: ")
			k.labels, _, _ = strings.Cut(k.labels, "\n")
		}
	}
	return []byte("{}"), nil
}

// Guest code shows in profiles only as _ExternalCode, so the goroutine running it
// carries the plugin's and the op's labels, trusted or not.
func TestProfileLabels(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		k := &labelKernel{}
		p := loadWith(t, Options{Limits: Limits{Instances: 1}, Kernel: k, Trusted: trusted})
		in := (&sdk.ReconcileRequest{Name: "calls", Namespace: "x"}).MarshalWire()
		if _, err := p.Call(context.Background(), "reconcile", in); err != nil {
			t.Fatal(err)
		}
		if want := `{"weft.op":"reconcile", "weft.plugin":"guest"}`; k.labels != want {
			t.Errorf("trusted %v: labels %s, want %s", trusted, k.labels, want)
		}
	}
}

// Errors the guest reports are answers, not failures: the instance stays.
func TestGuestErrors(t *testing.T) {
	p := load(t, Limits{Instances: 1})
	res, err := reconcile(p, "error")
	if err != nil || res.Error != "asked to fail" {
		t.Fatalf("reconcile error: %+v %v", res, err)
	}
	if _, err := p.Call(context.Background(), "reconcile", []byte("{not json")); !errors.Is(err, ErrGuest) {
		t.Fatalf("malformed input: want ErrGuest, got %v", err)
	}
	if _, err := p.Call(context.Background(), "no_such_op", nil); !errors.Is(err, ErrNoExport) {
		t.Fatalf("missing export: want ErrNoExport, got %v", err)
	}
	if st := p.Stats(); st.Instances != 1 || st.Degraded {
		t.Fatalf("guest errors cost the instance: %+v", st)
	}
	if res, err := reconcile(p, "ok"); err != nil || res.RequeueAfterMillis != 2 {
		t.Fatalf("after guest errors: %+v %v", res, err)
	}
}

func TestRepeatedFailuresDegrade(t *testing.T) {
	p := load(t, Limits{Instances: 1})
	for range degradeAfter {
		if _, err := reconcile(p, "panic"); !errors.Is(err, ErrTrap) {
			t.Fatalf("want ErrTrap, got %v", err)
		}
	}
	if _, err := reconcile(p, "ok"); !errors.Is(err, ErrDegraded) {
		t.Fatalf("after %d failures: want ErrDegraded, got %v", degradeAfter, err)
	}
	if st := p.Stats(); !st.Degraded {
		t.Fatalf("stats: %+v", st)
	}
}

func TestConcurrentCalls(t *testing.T) {
	p := load(t, Limits{Instances: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			name := fmt.Sprintf("n%03d", i)
			res, err := reconcile(p, name)
			if err == nil && res.RequeueAfterMillis != int64(len(name)) {
				err = fmt.Errorf("wrong answer %+v", res)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// The SDK yields at the end of every export, which keeps the guest's garbage collector
// running under back-to-back calls: memory stays flat over 100k calls.
func TestSoakMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test; run without -short")
	}
	p := load(t, Limits{Instances: 1})
	in := (&sdk.ReconcileRequest{Name: "garbage"}).MarshalWire()
	var inst *instance
	size := func() uint32 {
		inst = <-p.idle
		defer func() { p.idle <- inst }()
		return inst.mod.Memory().Size()
	}
	ctx := context.Background()
	for range 5000 { // warm up to a steady heap
		if _, err := p.Call(ctx, "reconcile", in); err != nil {
			t.Fatal(err)
		}
	}
	base := size()
	for range 100000 {
		if _, err := p.Call(ctx, "reconcile", in); err != nil {
			t.Fatal(err)
		}
	}
	// 100k calls each dropping 1 MiB is 100 GiB of garbage; a stalled collector would
	// have hit the memory cap long before.
	if after := size(); after > base+32<<20 {
		t.Fatalf("guest memory grew from %d to %d bytes over 100k calls", base, after)
	}
}

// A router's decisions cross the ABI whole: backend, rewrite, headers, direct answers.
func TestRoute(t *testing.T) {
	p := loadWith(t, Options{Limits: Limits{Instances: 1}})
	if p.Manifest.Router == nil || p.Manifest.Router.Name != "guest" {
		t.Fatalf("manifest router: %+v", p.Manifest.Router)
	}
	cases := []struct {
		req  sdk.RouteRequest
		want sdk.RouteResponse
	}{
		{sdk.RouteRequest{Method: "GET", Host: "shop.example", Path: "/api/items"}, sdk.RouteResponse{Backend: "shop/api:8080", RewritePath: "/items", SetHeaders: map[string]string{"X-Host": "shop.example"}}},
		{sdk.RouteRequest{Path: "/", Headers: map[string]string{"X-Canary": "1"}}, sdk.RouteResponse{Backend: "shop/web-canary:http"}},
		{sdk.RouteRequest{Path: "/missing"}, sdk.RouteResponse{Status: 404}},
	}
	for _, tc := range cases {
		got, err := p.Route(context.Background(), &tc.req)
		if err != nil || !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%+v: got %+v, %v; want %+v", tc.req, got, err, tc.want)
		}
	}
}

// Closing a trusted plugin does not wait for an abandoned call, which may never
// return.
func TestCloseDoesNotWaitForAbandonedCalls(t *testing.T) {
	e, err := NewEngine(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer e.Close(ctx)
	p, err := e.Load(ctx, guestWasm, Options{Limits: Limits{CallTimeout: 200 * time.Millisecond, Instances: 1}, Trusted: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile(p, "spin"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	done := make(chan struct{})
	go func() {
		p.Close(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close is still waiting for the abandoned instance")
	}
	// The runtime goes when the call returns, not under it.
	for deadline := time.Now().Add(20 * time.Second); p.abandoned.Load() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned call never returned")
		}
	}
	p.runtimeMu.Lock()
	closed := p.runtimeClosed
	p.runtimeMu.Unlock()
	if !closed {
		t.Fatal("runtime left open after the abandoned call returned")
	}
}
