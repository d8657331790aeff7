// Command guest is a plugin that misbehaves on request, for the host's containment
// tests. It is built for GOOS=wasip1 by the tests.
package main

import (
	"errors"

	"weft.dev/weft/sdk"
)

var sink [][]byte

func init() {
	_ = sdk.Register(sdk.Manifest{Name: "guest", Version: "1.0.0"}, sdk.Handlers{
		Reconcile: func(h sdk.Host, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
			switch req.Name {
			case "panic":
				panic("asked to panic")
			case "loop":
				for {
				}
			case "alloc":
				for {
					sink = append(sink, make([]byte, 1<<20))
				}
			case "error":
				return sdk.ReconcileResult{}, errors.New("asked to fail")
			case "garbage":
				// Allocate and drop: memory must stay flat across many calls.
				b := make([]byte, 256<<10)
				b[0] = 1
			case "log":
				h.Log(sdk.LevelInfo, "hello from the guest")
			}
			return sdk.ReconcileResult{RequeueAfterMillis: int64(len(req.Name))}, nil
		},
	})
}

func main() {}
