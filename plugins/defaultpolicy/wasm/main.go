// Command wasm is the default-scheduler scheduler policy as a WebAssembly reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o defaultpolicy.wasm ./plugins/defaultpolicy/wasm
package main

import (
	"weft.dev/weft/plugins/defaultpolicy"
	"weft.dev/weft/sdk"
)

func init() {
	if err := sdk.Register(defaultpolicy.Plugin()); err != nil {
		panic(err)
	}
}

func main() {}
