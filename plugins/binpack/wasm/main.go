// Command wasm is the binpack scheduler policy as a WebAssembly reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o binpack.wasm ./plugins/binpack/wasm
package main

import (
	"weft.dev/weft/plugins/binpack"
	"weft.dev/weft/sdk"
)

func init() {
	if err := sdk.Register(binpack.Plugin()); err != nil {
		panic(err)
	}
}

func main() {}
