package pluginhost

import (
	"context"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/sdk"
)

type configKernel struct{}

func (configKernel) Call(context.Context, Caller, sdk.Op, *sdk.CallRequest) ([]byte, error) {
	return []byte("{}"), nil
}

// BenchmarkCall is the cost of one reconcile call that does nothing: the crossing,
// the input pull, the JSON envelope in and out, and the SDK's yield.
func BenchmarkCall(b *testing.B) {
	p := loadWith(b, Options{Limits: Limits{Instances: 1}})
	in := (&sdk.ReconcileRequest{Name: "ok"}).MarshalWire()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Call(ctx, "reconcile", in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHostCall is the cost of one weft.call from the guest: a reconcile making
// 100 calls, less one making none, divided by 100.
func BenchmarkHostCall(b *testing.B) {
	p := loadWith(b, Options{Limits: Limits{Instances: 1}, Kernel: configKernel{}})
	ctx := context.Background()
	const rounds = 200
	timed := func(n int) time.Duration {
		in := (&sdk.ReconcileRequest{Name: "calls", Namespace: strings.Repeat("x", n)}).MarshalWire()
		start := time.Now()
		for range rounds {
			if _, err := p.Call(ctx, "reconcile", in); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	// A fixed workload: b.N is not the unit here.
	none, hundred := timed(0), timed(100)
	b.ReportMetric(float64((hundred-none).Nanoseconds())/rounds/100, "ns/hostcall")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkInstanceMemory reports the linear memory of one instance of a small Go
// plugin after initialisation and a call.
func BenchmarkInstanceMemory(b *testing.B) {
	p := loadWith(b, Options{Limits: Limits{Instances: 1}})
	if _, err := reconcile(p, "ok"); err != nil {
		b.Fatal(err)
	}
	inst := <-p.idle
	size := inst.mod.Memory().Size()
	p.idle <- inst
	b.ReportMetric(float64(size)/(1<<20), "MiB/instance")
	b.ReportMetric(0, "ns/op")
}
