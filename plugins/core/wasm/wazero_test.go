package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"weft.dev/weft/sdk"
)

// BenchmarkHooksWazero calls the module's weft_admit directly on wazero, with and
// without WithCloseOnContextDone (which the kernel's pluginhost sets), to separate
// the plugin's own cost from the host's: the hooks on the pod of wasm_test.go, and a
// call that decodes nothing ("none").
func BenchmarkHooksWazero(b *testing.B) {
	wasm := build(b)
	ctx := context.Background()
	for _, closeOnDone := range []bool{true, false} {
		name := "closeOnDone"
		if !closeOnDone {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) {
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(closeOnDone))
			defer r.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, r)
			var pending []byte
			_, err := r.NewHostModuleBuilder("weft").
				NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, ptr uint32) { m.Memory().Write(ptr, pending) }).Export("take").
				NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, level int32, ptr, n uint32) {}).Export("log").
				NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, op int32, ptr, n uint32) uint64 { return 0 }).Export("call").
				Instantiate(ctx)
			if err != nil {
				b.Fatal(err)
			}
			mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
			if err != nil {
				b.Fatal(err)
			}
			admit := mod.ExportedFunction("weft_admit")
			for _, hook := range []string{"none", "pod-defaults.core.weft.dev", "pod-validation.core.weft.dev"} {
				req := sdk.AdmissionRequest{Hook: hook, Operation: "CREATE", Kind: sdk.GVK{Version: "v1", Kind: "Pod"}, Object: json.RawMessage(pod)}
				in := req.MarshalWire()
				b.Run(hook, func(b *testing.B) {
					for b.Loop() {
						pending = in
						if _, err := admit.Call(ctx, uint64(len(in))); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
