//go:build !wasip1

package scheduling

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/sdk"
)

// The default policy ported to Rust (plugins/defaultpolicy-rs), held to the Go one:
// every wasm-level case of the Go module runs against it, a differential test
// feeds both modules the same random clusters and pod streams and compares every
// decision, and benchmarks measure it in wasm and natively.

// rustBuild is the Rust policy built once per test binary: the wasm module, and a
// native benchmark binary of the same sources.
var rustBuild struct {
	once       sync.Once
	wasm       []byte
	bench, dir string
	err        string
}

// findRustc returns a rustc that has the WebAssembly (WASI) standard library, and
// that target's name: $RUSTC if set, else the Debian package's, else the one on
// PATH (a rustup toolchain without the target does not do).
func findRustc() (rustc, target string, err error) {
	var cands []string
	if r := os.Getenv("RUSTC"); r != "" {
		cands = append(cands, r)
	}
	cands = append(cands, "/usr/bin/rustc")
	if p, err := exec.LookPath("rustc"); err == nil {
		cands = append(cands, p)
	}
	var tried []string
	for _, c := range cands {
		out, err := exec.Command(c, "--print", "sysroot").Output()
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
			tried = append(tried, c+" (not installed)")
			continue
		}
		if err != nil {
			tried = append(tried, c+" (does not run: "+err.Error()+")")
			continue
		}
		sysroot := strings.TrimSpace(string(out))
		for _, t := range []string{"wasm32-wasip1", "wasm32-wasi"} {
			if _, err := os.Stat(filepath.Join(sysroot, "lib", "rustlib", t, "lib")); err == nil {
				return c, t, nil
			}
		}
		tried = append(tried, c+" (no wasm32-wasi standard library)")
	}
	return "", "", fmt.Errorf("no rustc with the wasm32-wasi standard library (tried: %s); `make deps` installs it (Debian packages rustc and libstd-rust-dev-wasm32)", strings.Join(tried, ", "))
}

// rustPolicy builds plugins/defaultpolicy-rs, or fails the test saying how to get
// a compiler: a missing toolchain must not pass as a skip.
func rustPolicy(t testing.TB) (wasm []byte, bench string) {
	t.Helper()
	b := &rustBuild
	b.once.Do(func() {
		rustc, target, err := findRustc()
		if err != nil {
			b.err = err.Error()
			return
		}
		_, file, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(file), "..", "defaultpolicy-rs", "src")
		dir, err := os.MkdirTemp("", "weft-rust-policy-")
		if err != nil {
			b.err = err.Error()
			return
		}
		b.dir = dir
		// The same optimisation for both (wasm adds only the features below), so
		// that their ratio is the cost of running as a plugin.
		opts := []string{"--edition", "2021", "--crate-name", "weft_defaultpolicy", "-C", "opt-level=3", "-C", "codegen-units=1", "-C", "panic=abort"}
		run := func(args ...string) error {
			cmd := exec.Command(rustc, args...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s %s: %v\n%s", rustc, strings.Join(args, " "), err, out)
			}
			return nil
		}
		wasmOut, rlib, binOut := filepath.Join(dir, "policy.wasm"), filepath.Join(dir, "libweft_defaultpolicy.rlib"), filepath.Join(dir, "bin_bench")
		var wg sync.WaitGroup
		var werr, nerr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			// The Makefile's flags. wazero runs both features (WebAssembly 2.0);
			// with them a saturating float-to-int conversion is one instruction.
			werr = run(append(opts, "--crate-type", "cdylib", "--target", target, "-C", "strip=symbols",
				"-C", "target-feature=+bulk-memory,+nontrapping-fptoint", filepath.Join(src, "lib.rs"), "-o", wasmOut)...)
		}()
		go func() {
			defer wg.Done()
			if nerr = run(append(opts, "--crate-type", "rlib", filepath.Join(src, "lib.rs"), "-o", rlib)...); nerr != nil {
				return
			}
			nerr = run("--edition", "2021", "-C", "opt-level=3", "-C", "codegen-units=1", "-C", "panic=abort",
				"--extern", "weft_defaultpolicy="+rlib, filepath.Join(src, "bin_bench.rs"), "-o", binOut)
		}()
		wg.Wait()
		if err := errors.Join(werr, nerr); err != nil {
			b.err = err.Error()
			return
		}
		if b.wasm, err = os.ReadFile(wasmOut); err != nil {
			b.err = err.Error()
		}
		b.bench = binOut
	})
	if b.err != "" {
		t.Fatal(b.err)
	}
	return b.wasm, b.bench
}

func loadRustPolicy(t testing.TB) *wasmPolicy {
	wasm, _ := rustPolicy(t)
	w, _ := loadPolicyModule(t, wasm)
	return w
}

// BenchmarkScheduleRustWasm is BenchmarkScheduleWasm with the Rust module: the same
// cluster, pods, batches and host path.
func BenchmarkScheduleRustWasm(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d/batch=16", nodes), func(b *testing.B) {
			wasm, _ := rustPolicy(b)
			w, _ := loadPolicyModule(b, wasm)
			benchWasmPolicy(b, w, nodes)
		})
	}
}

// benchScript is the workload of the benchmarks above as a script, for the native
// binary: init feeds the cluster and its background pods; cycle feeds and places
// batches of a Deployment's pods until 5000 are placed, then deletes them, so that
// repeating it keeps the load steady as the benchmarks' loop does. Records are a
// tag ('F' feed, 'S' schedule), a little-endian u32 length and the call's input.
func benchScript(nodes, batch int) (init, cycle []byte) {
	rec := func(buf *bytes.Buffer, tag byte, in []byte) {
		buf.WriteByte(tag)
		_ = binary.Write(buf, binary.LittleEndian, uint32(len(in)))
		buf.Write(in)
	}
	feeds := func(buf *bytes.Buffer, evs []sdk.FeedEvent) {
		for len(evs) > 0 {
			n := min(len(evs), 512)
			rec(buf, 'F', sdk.EncodeFeed(evs[:n]))
			evs = evs[n:]
		}
	}
	var ib, cb bytes.Buffer
	evs := feedClusterEvents(nodes)
	for i := range 2 * nodes {
		raw := deploymentPodOn(fmt.Sprintf("bg%d", i%50), i, fmt.Sprintf("node-%04d", i%nodes))
		evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: raw})
	}
	feeds(&ib, append(evs, sdk.FeedEvent{Type: sdk.Synced}))
	var placed []sdk.FeedEvent
	for seq := 0; len(placed) < 5000; {
		var pending []sdk.FeedEvent
		var req sdk.ScheduleRequest
		for range batch {
			raw := deploymentPod("web", seq)
			pending = append(pending, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: raw})
			req.Pods = append(req.Pods, sdk.SchedulePod{Key: fmt.Sprintf("default/web-%d", seq)})
			placed = append(placed, sdk.FeedEvent{Type: sdk.Deleted, Kind: sdk.PodKind, Object: raw})
			seq++
		}
		feeds(&cb, pending)
		rec(&cb, 'S', req.MarshalWire())
	}
	feeds(&cb, placed)
	return ib.Bytes(), cb.Bytes()
}

type scriptRecord struct {
	tag byte
	in  []byte
}

func scriptRecords(b []byte) []scriptRecord {
	var out []scriptRecord
	for len(b) > 0 {
		n := binary.LittleEndian.Uint32(b[1:5])
		out = append(out, scriptRecord{b[0], b[5 : 5+n]})
		b = b[5+n:]
	}
	return out
}

// BenchmarkScheduleRustNative runs the Rust policy compiled for the host over
// benchScript, in its own process, which times each schedule call in-process;
// pods/s and cpu-pods/s are from those times (ns/op is one call's wall time).
func BenchmarkScheduleRustNative(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d/batch=16", nodes), func(b *testing.B) {
			const batch = 16
			_, bench := rustPolicy(b)
			init, cycle := benchScript(nodes, batch)
			dir := b.TempDir()
			ip, cp := filepath.Join(dir, "init"), filepath.Join(dir, "cycle")
			if err := os.WriteFile(ip, init, 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(cp, cycle, 0o644); err != nil {
				b.Fatal(err)
			}
			out, err := exec.Command(bench, ip, cp, strconv.Itoa(b.N)).Output()
			if err != nil {
				b.Fatalf("%s: %v", bench, err)
			}
			res := map[string]float64{}
			for _, f := range strings.Fields(string(out)) {
				k, v, _ := strings.Cut(f, "=")
				res[k], _ = strconv.ParseFloat(v, 64)
			}
			if res["calls"] != float64(b.N) || res["unplaced"] != 0 || res["wall_ns"] <= 0 {
				b.Fatalf("bench binary: %s", out)
			}
			pods := float64(b.N * batch)
			b.ReportMetric(res["wall_ns"]/float64(b.N), "ns/op")
			b.ReportMetric(pods/(res["wall_ns"]/1e9), "pods/s")
			b.ReportMetric(pods/(res["cpu_ns"]/1e9), "cpu-pods/s")
		})
	}
}

// BenchmarkScheduleRustWasmScript replays benchScript through the host: the same
// inputs, call for call, as the native benchmark's, for the wasm/native ratio.
func BenchmarkScheduleRustWasmScript(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d/batch=16", nodes), func(b *testing.B) {
			const batch = 16
			w := loadRustPolicy(b)
			init, cycle := benchScript(nodes, batch)
			ctx := context.Background()
			for _, r := range scriptRecords(init) {
				if _, err := w.s.Call(ctx, w.epoch, "feed", r.in); err != nil {
					b.Fatal(err)
				}
			}
			script := scriptRecords(cycle)
			var ct cpuTimer
			b.ResetTimer()
			b.StopTimer()
			for done := 0; done < b.N; {
				for _, r := range script {
					if r.tag == 'F' {
						if _, err := w.s.Call(ctx, w.epoch, "feed", r.in); err != nil {
							b.Fatal(err)
						}
						continue
					}
					if done == b.N {
						break
					}
					b.StartTimer()
					ct.Start()
					out, err := w.s.Call(ctx, w.epoch, "schedule", r.in)
					ct.Stop()
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					ds, _ := sdk.DecodeDecisions(out)
					for _, d := range ds {
						if d.Node == "" {
							b.Fatalf("unschedulable: %+v", d)
						}
					}
					done++
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "pods/s")
			ct.Report(b, b.N*batch)
		})
	}
}

// TestMain removes the Rust build when the test binary is done with it.
func TestMain(m *testing.M) {
	code := m.Run()
	if rustBuild.dir != "" {
		os.RemoveAll(rustBuild.dir)
	}
	os.Exit(code)
}

// The cases of TestPoliciesThroughWasm for the default policy, against the Rust
// module, and its manifest, which must be the Go module's.
func TestRustPolicyThroughWasm(t *testing.T) {
	wasm, _ := rustPolicy(t)
	w, p := loadPolicyModule(t, wasm)
	_, gp := loadPolicyModule(t, kerneltest.BuildPlugin(t, "plugins/defaultpolicy/wasm"))
	ctx := context.Background()
	want, err := gp.Call(ctx, "manifest", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Call(ctx, "manifest", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("manifest\n got %s\nwant %s", got, want)
	}

	per := placeWeb(t, w)
	if len(per) != 10 {
		t.Fatalf("50 pods on 10 nodes: %v", per)
	}
	for n, c := range per {
		if c != 5 {
			t.Fatalf("50 pods on 10 nodes: %s has %d: %v", n, c, per)
		}
	}
	huge := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"huge","namespace":"default","uid":"u-huge"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"100"}}}]},"status":{"phase":"Pending"}}`)
	w.feed(t, []sdk.FeedEvent{{Type: sdk.Added, Kind: sdk.PodKind, Object: huge}})
	d := w.schedule(t, []string{"default/huge"})[0]
	if d.Node != "" || d.Message != "0/10 nodes are available: 10 Insufficient cpu." || d.NumNodes != 10 ||
		len(d.Reasons) != 1 || d.Reasons[0] != (sdk.ReasonCount{Reason: "Insufficient cpu", Nodes: 10}) {
		t.Fatalf("unschedulable decision: %+v", d)
	}
	// A malformed object fails the feed call, with the Go module's words.
	bad := []byte(`{"metadata":{"name":"bad","namespace":"default"},"spec":{"containers":[{"resources":{"requests":{"cpu":"1x"}}}]}}`)
	_, err = w.s.Call(ctx, w.epoch, "feed", sdk.EncodeFeed([]sdk.FeedEvent{{Type: sdk.Added, Kind: sdk.PodKind, Object: bad}}))
	if err == nil || !strings.Contains(err.Error(), "sdk: snapshot: pod\nsdk: malformed quantity\ncpu: 1x") {
		t.Fatalf("malformed pod fed: %v", err)
	}
}

// The Rust policy compiled natively decides as its wasm module does, call for
// call, over the benchmarks' script: the native benchmark measures the same work.
func TestRustNativeMatchesWasm(t *testing.T) {
	const calls = 40
	_, bench := rustPolicy(t)
	init, cycle := benchScript(500, 16)
	dir := t.TempDir()
	ip, cp := filepath.Join(dir, "init"), filepath.Join(dir, "cycle")
	if err := os.WriteFile(ip, init, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, cycle, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bench, ip, cp, strconv.Itoa(calls)).Output()
	if err != nil {
		t.Fatalf("%s: %v", bench, err)
	}
	w := loadRustPolicy(t)
	ctx := context.Background()
	for _, r := range scriptRecords(init) {
		if _, err := w.s.Call(ctx, w.epoch, "feed", r.in); err != nil {
			t.Fatal(err)
		}
	}
	digest := uint64(14695981039346656037)
	done := 0
	for _, r := range scriptRecords(cycle) {
		if done == calls {
			break
		}
		res, err := w.s.Call(ctx, w.epoch, map[byte]string{'F': "feed", 'S': "schedule"}[r.tag], r.in)
		if err != nil {
			t.Fatal(err)
		}
		if r.tag == 'S' {
			for _, c := range res {
				digest ^= uint64(c)
				digest *= 1099511628211
			}
			done++
		}
	}
	if want := fmt.Sprintf("digest=%x", digest); !strings.Contains(string(out), want+"\n") && !strings.HasSuffix(strings.TrimSpace(string(out)), want) {
		t.Fatalf("native %s; wasm %s", out, want)
	}
}

// modulePair is the Go and the Rust module, each in a fresh session, fed and asked
// the same things; every answer must be byte for byte the same.
type modulePair struct {
	t      *testing.T
	names  [2]string
	ss     [2]*pluginhost.Session
	epochs [2]uint64
	calls  int
}

func newModulePair(t *testing.T, goPlugin, rsPlugin *pluginhost.Plugin) *modulePair {
	mp := &modulePair{t: t, names: [2]string{"go", "rust"}}
	for i, p := range []*pluginhost.Plugin{goPlugin, rsPlugin} {
		s := p.NewSession()
		t.Cleanup(s.Close)
		e, err := s.Ready(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		mp.ss[i], mp.epochs[i] = s, e
	}
	return mp
}

// call runs op on both and returns the Go module's result, failing on any
// difference, errors included.
func (mp *modulePair) call(op string, in []byte) ([]byte, error) {
	mp.t.Helper()
	mp.calls++
	var outs [2][]byte
	var errs [2]error
	for i := range 2 {
		outs[i], errs[i] = mp.ss[i].Call(context.Background(), mp.epochs[i], op, in)
	}
	if (errs[0] == nil) != (errs[1] == nil) || (errs[0] != nil && errs[0].Error() != errs[1].Error()) {
		mp.t.Fatalf("call %d %s: go error %v, rust error %v", mp.calls, op, errs[0], errs[1])
	}
	if !bytes.Equal(outs[0], outs[1]) {
		gd, gerr := sdk.DecodeDecisions(outs[0])
		rd, rerr := sdk.DecodeDecisions(outs[1])
		if gerr != nil || rerr != nil || len(gd) != len(rd) {
			mp.t.Fatalf("call %d %s: go %q (%v), rust %q (%v)", mp.calls, op, outs[0], gerr, outs[1], rerr)
		}
		for i := range gd {
			if fmt.Sprintf("%+v", gd[i]) != fmt.Sprintf("%+v", rd[i]) {
				mp.t.Fatalf("call %d %s, decision %d:\n  go   %+v\n  rust %+v", mp.calls, op, i, gd[i], rd[i])
			}
		}
		mp.t.Fatalf("call %d %s: outputs differ, decisions the same", mp.calls, op)
	}
	return outs[0], errs[0]
}

func (mp *modulePair) feed(evs ...sdk.FeedEvent) {
	mp.t.Helper()
	for len(evs) > 0 {
		n := min(len(evs), 256)
		if _, err := mp.call("feed", sdk.EncodeFeed(evs[:n])); err != nil {
			mp.t.Fatal(err)
		}
		evs = evs[n:]
	}
}

func (mp *modulePair) schedule(req sdk.ScheduleRequest) []sdk.Decision {
	mp.t.Helper()
	out, err := mp.call("schedule", req.MarshalWire())
	if err != nil {
		mp.t.Fatal(err)
	}
	ds, err := sdk.DecodeDecisions(out)
	if err != nil || len(ds) != len(req.Pods) {
		mp.t.Fatalf("decisions %+v, %v", ds, err)
	}
	return ds
}

// clusterGen makes random nodes and pods, as JSON the host would feed, from a seed.
type clusterGen struct {
	r     *rand.Rand
	nodes map[string]bool // name → exists
	seq   int
}

func (g *clusterGen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }
func (g *clusterGen) chance(n int) bool        { return g.r.Intn(n) == 0 }

func (g *clusterGen) node(name string) []byte {
	labels := obj{"kubernetes.io/os": "linux"}
	switch g.r.Intn(12) {
	case 0: // no hostname label: the name stands in
	case 1:
		labels[sdk.LabelHostname] = name + "-host"
	case 2:
		labels[sdk.LabelHostname] = "" // empty: the name stands in too, but the label is there
	default:
		labels[sdk.LabelHostname] = name
	}
	switch g.r.Intn(8) {
	case 0:
	case 1:
		labels[sdk.LabelZoneBeta] = g.pick("z0", "z1", "z3")
	case 2:
		labels[sdk.LabelZone] = ""
		labels[sdk.LabelZoneBeta] = g.pick("z0", "z3")
	default:
		labels[sdk.LabelZone] = g.pick("z0", "z1", "z2")
	}
	if !g.chance(3) {
		labels["disk"] = g.pick("ssd", "hdd")
	}
	if !g.chance(3) {
		labels["tier"] = strconv.Itoa(g.r.Intn(9))
	}
	res := obj{"cpu": g.pick("500m", "1", "2", "4", "8"), "memory": g.pick("1Gi", "2Gi", "4Gi", "8Gi", "16G"), "pods": g.pick("3", "8", "110", "110")}
	if g.chance(2) {
		res["ephemeral-storage"] = g.pick("1Gi", "20Gi")
	}
	if g.chance(4) {
		res["example.com/gpu"] = g.pick("0", "1", "2")
	}
	status := obj{}
	if g.chance(6) {
		status["capacity"] = res
	} else {
		status["allocatable"] = res
	}
	switch g.r.Intn(9) {
	case 0:
		status["conditions"] = []any{obj{"type": "Ready", "status": g.pick("False", "Unknown")}}
	case 1: // no conditions yet: ready
	default:
		status["conditions"] = []any{obj{"type": "MemoryPressure", "status": "False"}, obj{"type": "Ready", "status": "True"}}
	}
	spec := obj{}
	var taints []any
	for range g.r.Intn(3) {
		if !g.chance(3) {
			continue
		}
		switch g.r.Intn(5) {
		case 0:
			taints = append(taints, obj{"key": "dedicated", "value": g.pick("gpu", "db"), "effect": "NoSchedule"})
		case 1:
			taints = append(taints, obj{"key": "spot", "value": "true", "effect": "PreferNoSchedule"})
		case 2:
			taints = append(taints, obj{"key": "maintenance", "effect": "NoExecute"})
		case 3:
			taints = append(taints, obj{"key": sdk.TaintNotReady, "effect": "NoSchedule"})
		case 4:
			taints = append(taints, obj{"key": "noisy", "value": "x", "effect": "PreferNoSchedule"})
		}
	}
	if taints != nil {
		spec["taints"] = taints
	}
	if g.chance(10) {
		spec["unschedulable"] = true
	}
	b, _ := json.Marshal(obj{"apiVersion": "v1", "kind": "Node", "metadata": obj{"name": name, "uid": "uid-" + name, "labels": labels}, "spec": spec, "status": status})
	return b
}

func (g *clusterGen) selector(app string) any {
	switch g.r.Intn(8) {
	case 0:
		return obj{"matchExpressions": []any{obj{"key": "app", "operator": g.pick("In", "NotIn"), "values": []string{app, "a9"}}}}
	case 1:
		return obj{"matchExpressions": []any{obj{"key": "tier", "operator": g.pick("Exists", "DoesNotExist")}}}
	case 2:
		return obj{}
	default:
		return obj{"matchLabels": obj{"app": app}}
	}
}

func (g *clusterGen) nodeTerm() obj {
	var exprs []any
	for range 1 + g.r.Intn(2) {
		switch g.r.Intn(6) {
		case 0:
			exprs = append(exprs, obj{"key": "disk", "operator": "In", "values": []string{g.pick("ssd", "hdd")}})
		case 1:
			exprs = append(exprs, obj{"key": "disk", "operator": "NotIn", "values": []string{"hdd"}})
		case 2:
			exprs = append(exprs, obj{"key": "tier", "operator": g.pick("Gt", "Lt"), "values": []string{strconv.Itoa(g.r.Intn(9))}})
		case 3:
			exprs = append(exprs, obj{"key": sdk.LabelZone, "operator": g.pick("Exists", "DoesNotExist")})
		case 4:
			exprs = append(exprs, obj{"key": sdk.LabelZone, "operator": "In", "values": []string{"z0", "z2"}})
		case 5:
			exprs = append(exprs, obj{"key": "tier", "operator": "In", "values": []string{"1", "2", "3", "x"}})
		}
	}
	t := obj{"matchExpressions": exprs}
	if g.chance(5) {
		t["matchFields"] = []any{obj{"key": "metadata.name", "operator": g.pick("In", "NotIn", "NotIn", "Exists"), "values": []string{fmt.Sprintf("n%03d", g.r.Intn(40))}}}
	}
	return t
}

func (g *clusterGen) podTerm(app, ns string, labels obj) obj {
	sel := g.selector(app)
	if grp, ok := labels["group"]; ok && g.chance(2) {
		sel = obj{"matchLabels": obj{"group": grp}}
	}
	t := obj{"labelSelector": sel, "topologyKey": g.pick(sdk.LabelHostname, sdk.LabelHostname, sdk.LabelZone, "disk")}
	switch g.r.Intn(8) {
	case 0:
		t["namespaces"] = []string{ns, "other"}
	case 1:
		t["namespaceSelector"] = obj{}
	case 2:
		t["namespaceSelector"] = obj{"matchLabels": obj{"team": "a"}}
	case 3:
		t["labelSelector"] = nil
	}
	return t
}

// pod is a pod's JSON; node, when set, binds it.
func (g *clusterGen) pod(ns, name, node, phase string) []byte {
	app := g.pick("a0", "a1", "a2", "a3")
	labels := obj{"app": app}
	if g.chance(3) {
		labels["tier"] = g.pick("1", "2")
	}
	if g.chance(3) {
		// Small groups, whose first pod has no peer to be near yet.
		labels["group"] = fmt.Sprintf("g%d", g.r.Intn(40))
	}
	if g.chance(12) {
		labels = nil
	}
	meta := obj{"name": name, "namespace": ns, "uid": fmt.Sprintf("uid-%s-%s", ns, name), "labels": labels}
	if g.r.Intn(3) > 0 {
		meta["ownerReferences"] = []any{obj{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs-" + app, "uid": "rs-" + app, "controller": true}}
	}
	if g.chance(15) {
		meta["uid"] = nil
	}
	if node != "" && g.chance(12) {
		meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
	}
	container := func() obj {
		req := obj{}
		if !g.chance(4) {
			req["cpu"] = g.pick("50m", "100m", "250m", "500m", "1", "1500m", "3")
		}
		if !g.chance(4) {
			req["memory"] = g.pick("64Mi", "128Mi", "512Mi", "1Gi", "3Gi")
		}
		if g.chance(8) {
			req["ephemeral-storage"] = g.pick("1Gi", "5Gi")
		}
		if g.chance(10) {
			req["example.com/gpu"] = g.pick("1", "2")
		}
		c := obj{"name": "c", "image": "busybox", "resources": obj{"requests": req}}
		if g.chance(6) {
			c["resources"] = obj{"limits": req}
		}
		return c
	}
	spec := obj{"schedulerName": "default-scheduler", "containers": []any{container()}}
	if g.chance(3) {
		// A plain Deployment's pod, as most are: only the system-default spreading.
		b, _ := json.Marshal(obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": obj{"phase": phase}})
		if node != "" {
			return withNode(b, node, phase)
		}
		return b
	}
	if g.chance(4) {
		spec["containers"] = append(spec["containers"].([]any), container())
	}
	if g.chance(6) {
		ic := container()
		if g.chance(2) {
			ic["restartPolicy"] = "Always"
		}
		spec["initContainers"] = []any{ic, container()}
	}
	if g.chance(10) {
		spec["overhead"] = obj{"cpu": "50m", "memory": "32Mi"}
	}
	if g.chance(6) {
		spec["nodeSelector"] = obj{"disk": g.pick("ssd", "hdd")}
	}
	if g.chance(4) {
		var tols []any
		for range 1 + g.r.Intn(2) {
			switch g.r.Intn(5) {
			case 0:
				tols = append(tols, obj{"key": "dedicated", "operator": "Exists"})
			case 1:
				tols = append(tols, obj{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"})
			case 2:
				tols = append(tols, obj{"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"})
			case 3:
				tols = append(tols, obj{"operator": "Exists"})
			case 4:
				tols = append(tols, obj{"key": sdk.TaintNotReady, "operator": "Exists"}, obj{"key": sdk.TaintUnschedulable, "operator": "Exists"})
			}
		}
		spec["tolerations"] = tols
	}
	aff := obj{}
	if g.chance(6) {
		na := obj{}
		if g.chance(2) {
			terms := []any{g.nodeTerm()}
			if g.chance(3) {
				terms = append(terms, g.nodeTerm())
			}
			na["requiredDuringSchedulingIgnoredDuringExecution"] = obj{"nodeSelectorTerms": terms}
		}
		if g.chance(2) {
			na["preferredDuringSchedulingIgnoredDuringExecution"] = []any{
				obj{"weight": g.pick2(1, 5, 50, 100, 0), "preference": g.nodeTerm()},
				obj{"weight": g.pick2(1, 20), "preference": g.nodeTerm()},
			}
		}
		aff["nodeAffinity"] = na
	}
	for _, k := range []string{"podAffinity", "podAntiAffinity"} {
		if !g.chance(6) {
			continue
		}
		pa := obj{}
		if g.chance(2) {
			terms := []any{g.podTerm(app, ns, labels)}
			if g.chance(4) {
				terms = append(terms, g.podTerm(app, ns, labels))
			}
			pa["requiredDuringSchedulingIgnoredDuringExecution"] = terms
		}
		if g.chance(2) {
			pa["preferredDuringSchedulingIgnoredDuringExecution"] = []any{obj{"weight": g.pick2(1, 10, 100), "podAffinityTerm": g.podTerm(app, ns, labels)}}
		}
		aff[k] = pa
	}
	if len(aff) > 0 {
		spec["affinity"] = aff
	}
	if g.chance(4) {
		var cs []any
		for range 1 + g.r.Intn(2) {
			c := obj{"maxSkew": 1 + g.r.Intn(3), "topologyKey": g.pick(sdk.LabelHostname, sdk.LabelZone, sdk.LabelZone, "disk"),
				"whenUnsatisfiable": g.pick("DoNotSchedule", "ScheduleAnyway", "ScheduleAnyway"), "labelSelector": g.selector(app)}
			if g.chance(5) {
				delete(c, "whenUnsatisfiable")
			}
			if g.chance(6) {
				c["minDomains"] = 2 + g.r.Intn(3)
			}
			if g.chance(6) {
				c["nodeAffinityPolicy"] = "Ignore"
			}
			if g.chance(6) {
				c["nodeTaintsPolicy"] = "Honor"
			}
			if g.chance(6) {
				c["matchLabelKeys"] = []string{"tier"}
			}
			if g.chance(10) {
				delete(c, "labelSelector")
			}
			cs = append(cs, c)
		}
		spec["topologySpreadConstraints"] = cs
	}
	if node != "" {
		spec["nodeName"] = node
	}
	status := obj{}
	if phase != "" {
		status["phase"] = phase
	}
	b, _ := json.Marshal(obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status})
	return b
}

func (g *clusterGen) pick2(xs ...int) int { return xs[g.r.Intn(len(xs))] }

// withNode returns a pod's JSON bound to node (phase Running), as the host feeds a
// binding back.
func withNode(raw []byte, node, phase string) []byte {
	var p map[string]any
	_ = json.Unmarshal(raw, &p)
	p["spec"].(map[string]any)["nodeName"] = node
	p["status"] = obj{"phase": phase}
	b, _ := json.Marshal(p)
	return b
}

// Random clusters and pod streams, fed to the Go module and the Rust module alike:
// nodes of varied capacity, labels, zones, taints and readiness; pods with varied
// requests, selectors, node and pod (anti-)affinity, tolerations and spread
// constraints, some fitting nowhere; between batches, bindings confirmed or
// failed, pods deleted, finished or added bound, nodes changed, removed and added,
// shadow (dry-run) batches, pods carried in the request, unknown and repeated keys.
// Every decision, message and error must be the same.
func TestRustMatchesGoPolicy(t *testing.T) {
	wasm, _ := rustPolicy(t)
	_, rsPlugin := loadPolicyModule(t, wasm)
	_, goPlugin := loadPolicyModule(t, kerneltest.BuildPlugin(t, "plugins/defaultpolicy/wasm"))
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	placedTotal, unschedulableTotal := 0, 0
	for seed := range int64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			mp := newModulePair(t, goPlugin, rsPlugin)
			g := &clusterGen{r: rand.New(rand.NewSource(seed)), nodes: map[string]bool{}}
			numNodes := []int{0, 3, 12, 40, 90, 150, 260, 420}[g.r.Intn(8)]
			if seed == 0 {
				numNodes = 0 // no nodes at all
			}
			var evs []sdk.FeedEvent
			nodeNames := []string{}
			for i := range numNodes {
				name := fmt.Sprintf("n%03d", i)
				nodeNames = append(nodeNames, name)
				g.nodes[name] = true
				evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.NodeKind, Object: g.node(name)})
			}
			// Pods already running, some on nodes not (yet) known.
			raws := map[string][]byte{} // key → last fed JSON
			var bound []string
			for i := range numNodes + g.r.Intn(20) {
				node := fmt.Sprintf("n%03d", g.r.Intn(numNodes+3))
				ns := g.pick("default", "default", "other")
				name := fmt.Sprintf("bg-%d", i)
				phase := "Running"
				if g.chance(10) {
					phase = "Succeeded"
				}
				raw := g.pod(ns, name, node, phase)
				raws[ns+"/"+name] = raw
				bound = append(bound, ns+"/"+name)
				evs = append(evs, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: raw})
			}
			g.r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			mp.feed(append(evs, sdk.FeedEvent{Type: sdk.Synced})...)

			var lastPlaced []string // decided in the last batch, not dry-run
			decided := map[string]string{}
			for round := range 14 {
				var req sdk.ScheduleRequest
				var pending []sdk.FeedEvent
				for range 1 + g.r.Intn(16) {
					g.seq++
					ns := g.pick("default", "default", "other")
					name := fmt.Sprintf("p-%d", g.seq)
					raw := g.pod(ns, name, "", "Pending")
					key := ns + "/" + name
					if g.chance(12) {
						// Carried in the request, not fed.
						req.Pods = append(req.Pods, sdk.SchedulePod{Key: key, Object: raw})
					} else {
						pending = append(pending, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: raw})
						req.Pods = append(req.Pods, sdk.SchedulePod{Key: key})
					}
					raws[key] = raw
				}
				if g.chance(8) {
					req.Pods = append(req.Pods, sdk.SchedulePod{Key: "default/nowhere"})
				}
				if g.chance(8) && len(req.Pods) > 0 {
					req.Pods = append(req.Pods, req.Pods[0]) // a retry within the batch
				}
				if g.chance(8) && len(bound) > 0 {
					req.Pods = append(req.Pods, sdk.SchedulePod{Key: bound[g.r.Intn(len(bound))]})
				}
				for _, k := range lastPlaced {
					if g.chance(5) {
						req.Forget = append(req.Forget, k) // the binding failed
					}
				}
				if g.chance(8) {
					req.Forget = append(req.Forget, "default/never-assumed")
				}
				req.DryRun = g.chance(7)
				mp.feed(pending...)
				ds := mp.schedule(req)

				lastPlaced = lastPlaced[:0]
				forgotten := map[string]bool{}
				for _, k := range req.Forget {
					forgotten[k] = true
				}
				var after []sdk.FeedEvent
				for _, d := range ds {
					if d.Node == "" {
						if d.Error == "" {
							unschedulableTotal++
						}
						continue
					}
					placedTotal++
					if req.DryRun || decided[d.Pod] != "" {
						continue
					}
					decided[d.Pod] = d.Node
					// Most bindings are confirmed by the feed; the rest stay assumed
					// until a later batch forgets them or they are confirmed.
					if g.chance(4) {
						lastPlaced = append(lastPlaced, d.Pod)
						continue
					}
					raw := withNode(raws[d.Pod], d.Node, "Running")
					raws[d.Pod] = raw
					bound = append(bound, d.Pod)
					after = append(after, sdk.FeedEvent{Type: sdk.Modified, Kind: sdk.PodKind, Object: raw})
				}
				// Churn.
				for range g.r.Intn(4) {
					if len(bound) == 0 {
						break
					}
					i := g.r.Intn(len(bound))
					k := bound[i]
					switch g.r.Intn(3) {
					case 0:
						after = append(after, sdk.FeedEvent{Type: sdk.Deleted, Kind: sdk.PodKind, Object: raws[k]})
						bound = append(bound[:i], bound[i+1:]...)
					case 1:
						var p map[string]any
						_ = json.Unmarshal(raws[k], &p)
						p["status"] = obj{"phase": g.pick("Succeeded", "Failed")}
						raws[k], _ = json.Marshal(p)
						after = append(after, sdk.FeedEvent{Type: sdk.Modified, Kind: sdk.PodKind, Object: raws[k]})
					case 2:
						var p map[string]any
						_ = json.Unmarshal(raws[k], &p)
						p["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
						raws[k], _ = json.Marshal(p)
						after = append(after, sdk.FeedEvent{Type: sdk.Modified, Kind: sdk.PodKind, Object: raws[k]})
					}
				}
				if len(nodeNames) > 0 && g.chance(2) {
					name := nodeNames[g.r.Intn(len(nodeNames))]
					switch {
					case g.nodes[name] && g.chance(4):
						after = append(after, sdk.FeedEvent{Type: sdk.Deleted, Kind: sdk.NodeKind, Object: g.node(name)})
						g.nodes[name] = false
					case g.nodes[name]:
						after = append(after, sdk.FeedEvent{Type: sdk.Modified, Kind: sdk.NodeKind, Object: g.node(name)})
					default:
						after = append(after, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.NodeKind, Object: g.node(name)})
						g.nodes[name] = true
					}
				}
				if g.chance(5) {
					name := fmt.Sprintf("n%03d", len(nodeNames))
					nodeNames = append(nodeNames, name)
					g.nodes[name] = true
					after = append(after, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.NodeKind, Object: g.node(name)})
				}
				if round == 7 && g.chance(3) {
					// A malformed object fails the call alike, and changes nothing after it.
					after = append(after, sdk.FeedEvent{Type: sdk.Added, Kind: sdk.PodKind, Object: []byte(`{"metadata":{"name":"x"},"spec":{"containers":[{"resources":{"requests":{"memory":"lots"}}}]}}`)})
					_, err := mp.call("feed", sdk.EncodeFeed(after))
					if err == nil {
						t.Fatal("a malformed pod fed without error")
					}
					continue
				}
				mp.feed(after...)
			}
		})
	}
	t.Logf("%d placements and %d unschedulable pods compared", placedTotal, unschedulableTotal)
	if placedTotal < 25*seeds || unschedulableTotal < 2*seeds {
		t.Fatalf("the streams placed %d pods and left %d unschedulable: too few to compare", placedTotal, unschedulableTotal)
	}
}
