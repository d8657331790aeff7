package pluginhost

import (
	"context"
	"fmt"
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

// BenchmarkCallTrusted is BenchmarkCall for a trusted plugin, which runs without
// WithCloseOnContextDone (and on a worker goroutine it can abandon instead): the
// difference is what being able to preempt a guest costs per call.
func BenchmarkCallTrusted(b *testing.B) {
	p := loadWith(b, Options{Limits: Limits{Instances: 1}, Trusted: true})
	ctx := context.Background()
	in := (&sdk.ReconcileRequest{Name: "ok"}).MarshalWire()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Call(ctx, "reconcile", in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeed is what feeding a controller costs per object: batches of 100
// projected pods (about 1 KiB each) into a session, decoded and indexed by the SDK's
// cache inside the guest.
func BenchmarkFeed(b *testing.B) {
	for _, trusted := range []bool{false, true} {
		b.Run(map[bool]string{false: "preemptible", true: "trusted"}[trusted], func(b *testing.B) {
			benchmarkFeed(b, trusted)
		})
	}
}

func benchmarkFeed(b *testing.B, trusted bool) {
	p := loadWith(b, Options{Limits: Limits{Instances: 1}, Trusted: trusted})
	s := p.NewSession()
	ctx := context.Background()
	epoch, err := s.Ready(ctx)
	if err != nil {
		b.Fatal(err)
	}
	pod := func(i int) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-%d","namespace":"default","uid":"%08d-0000-0000-0000-000000000000","resourceVersion":"%d","creationTimestamp":"2026-11-21T10:00:00Z","labels":{"app":"web","pod-template-hash":"5d8f9c7b6"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d8f9c7b6","uid":"0b5e2f4e-1111-2222-3333-444455556666","controller":true,"blockOwnerDeletion":true}]},"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIP":"10.88.0.%d","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-11-21T10:00:02Z"},{"type":"ContainersReady","status":"True","lastTransitionTime":"2026-11-21T10:00:02Z"}],"containerStatuses":[{"name":"web","ready":true,"restartCount":0,"image":"localhost/busybox:latest"}]}}`, i%1000, i, i, i%250)
	}
	const batch = 100
	evs := make([]sdk.FeedEvent, batch)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for j := range evs {
			evs[j] = sdk.FeedEvent{Type: sdk.Modified, Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Object: pod(i)}
			i++
		}
		if _, err := s.Call(ctx, epoch, "feed", sdk.EncodeFeed(evs)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/object")
}
