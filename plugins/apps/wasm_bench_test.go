package apps_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/plugins/apps"
	"weft.dev/weft/sdk"
)

// The same controller logic compiled natively and to wasm, on the same inputs: a
// ReplicaSet of 1000 replicas whose 1000 pods are all Running and Ready. One op feeds
// every pod a new version (what a controller takes in when 1000 pods change) and
// reconciles the ReplicaSet once (listing its pods, ranking, computing status). The
// kernel behind both is a stub that answers writes at once, so what differs is only
// where the plugin runs.

const benchPods = 1000

var rsKind = sdk.GVK{Group: "apps", Version: "v1", Kind: "ReplicaSet"}

func benchInputs(round int) (feed []byte, reconcile []byte) {
	evs := make([]sdk.FeedEvent, 0, benchPods+1)
	rs := fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-5d8f9c7b6","namespace":"default","uid":"rs-uid","resourceVersion":"%d","generation":1,"creationTimestamp":"2026-11-21T10:00:00Z","labels":{"app":"web"}},"spec":{"replicas":%d,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"localhost/busybox:latest"}]}}},"status":{"replicas":%d,"readyReplicas":%d,"availableReplicas":%d,"observedGeneration":1}}`, round, benchPods, benchPods, benchPods, benchPods)
	evs = append(evs, sdk.FeedEvent{Type: sdk.Modified, Kind: rsKind, Object: rs})
	for i := range benchPods {
		pod := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-5d8f9c7b6-%05d","namespace":"default","uid":"pod-%d","resourceVersion":"%d","creationTimestamp":"2026-11-21T10:00:00Z","labels":{"app":"web"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d8f9c7b6","uid":"rs-uid","controller":true,"blockOwnerDeletion":true}]},"spec":{"nodeName":"node-%d"},"status":{"phase":"Running","podIP":"10.88.%d.%d","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-11-21T10:00:02Z"}],"containerStatuses":[{"name":"web","ready":true,"restartCount":0}]}}`, i, i, round*benchPods+i, i%10, i/250, i%250)
		evs = append(evs, sdk.FeedEvent{Type: sdk.Modified, Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Object: pod})
	}
	req := sdk.ReconcileRequest{Controller: "replicaset", Kind: rsKind, Namespace: "default", Name: "web-5d8f9c7b6"}
	return sdk.EncodeFeed(evs), req.MarshalWire()
}

// stubKernel answers every request at once.
type stubKernel struct{}

func (stubKernel) Call(_ context.Context, _ pluginhost.Caller, op sdk.Op, req *sdk.CallRequest) ([]byte, error) {
	return stubAnswer(op, req), nil
}

func stubAnswer(op sdk.Op, req *sdk.CallRequest) []byte {
	if op == sdk.OpBatch {
		rs := make([]sdk.BatchResult, len(req.Batch))
		for i := range req.Batch {
			rs[i] = sdk.BatchResult{Body: stubAnswer(req.Batch[i].Op, &req.Batch[i].Request)}
		}
		return sdk.EncodeBatchResults(rs)
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"name": req.Name, "namespace": req.Namespace, "resourceVersion": "1"}})
	return b
}

// stubHost is stubKernel for the native build.
type stubHost struct{}

func (stubHost) Log(sdk.Level, string) {}
func (stubHost) Call(op sdk.Op, req sdk.CallRequest) (json.RawMessage, error) {
	return stubAnswer(op, &req), nil
}

func BenchmarkNativeVsWasm(b *testing.B) {
	b.Run("native", func(b *testing.B) {
		m, h := apps.Plugin()
		if err := sdk.Register(m, h); err != nil && err != sdk.ErrRegistered {
			b.Fatal(err)
		}
		run(b, func(op string, in []byte) error {
			_, err := sdk.Call(stubHost{}, op, in)
			return err
		})
	})
	wasm := kerneltest.BuildPlugin(b, "plugins/apps/wasm")
	for _, trusted := range []bool{true, false} {
		name := map[bool]string{true: "wasm-trusted", false: "wasm-preemptible"}[trusted]
		b.Run(name, func(b *testing.B) {
			e, err := pluginhost.NewEngine(pluginhost.Config{CacheDir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			p, err := e.Load(ctx, wasm, pluginhost.Options{Limits: pluginhost.Limits{Instances: 1, MemoryPages: 16 * 512}, Kernel: stubKernel{}, Trusted: trusted})
			if err != nil {
				b.Fatal(err)
			}
			p.SetGrants(p.Manifest.Permissions)
			b.Cleanup(func() { p.Close(ctx); _ = e.Close(ctx) })
			s := p.NewSession()
			epoch, err := s.Ready(ctx)
			if err != nil {
				b.Fatal(err)
			}
			run(b, func(op string, in []byte) error {
				_, err := s.Call(ctx, epoch, op, in)
				return err
			})
		})
	}
}

func run(b *testing.B, call func(op string, in []byte) error) {
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		feed, rec := benchInputs(round)
		b.StartTimer()
		if err := call("feed", feed); err != nil {
			b.Fatal(err)
		}
		if err := call("reconcile", rec); err != nil {
			b.Fatal(err)
		}
	}
}
