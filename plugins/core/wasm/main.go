// Command wasm is the core plugin as a WebAssembly reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o core.wasm ./plugins/core/wasm
package main

import (
	"weft.dev/weft/plugins/core"
	"weft.dev/weft/sdk"
)

func init() {
	if err := sdk.Register(core.Plugin()); err != nil {
		panic(err)
	}
}

func main() {}
