// Command wasm is the apps plugin as a wasip1 reactor module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o apps.wasm ./plugins/apps/wasm
package main

import (
	"weft.dev/weft/plugins/apps"
	"weft.dev/weft/sdk"
)

func init() {
	m, h := apps.Plugin()
	_ = sdk.Register(m, h)
}

func main() {}
