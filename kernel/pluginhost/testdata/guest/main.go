// Command guest is a plugin that misbehaves on request, for the host's containment
// tests. It is built for GOOS=wasip1 by the tests.
package main

import (
	"errors"
	"strings"
	"time"

	"weft.dev/weft/sdk"
)

var sink, held [][]byte

func init() {
	_ = sdk.Register(sdk.Manifest{Name: "guest", Version: "1.0.0", Router: &sdk.RouterSpec{Name: "guest", Headers: []string{"X-Canary"}}}, sdk.Handlers{
		Router: sdk.RouteFunc(func(c *sdk.Client, req sdk.RouteRequest) sdk.RouteResponse {
			switch {
			case req.Headers["X-Canary"] == "1":
				return sdk.RouteResponse{Backend: "shop/web-canary:http"}
			case strings.HasPrefix(req.Path, "/api/"):
				return sdk.RouteResponse{Backend: "shop/api:8080", RewritePath: strings.TrimPrefix(req.Path, "/api"), SetHeaders: map[string]string{"X-Host": req.Host}}
			}
			return sdk.RouteResponse{Status: 404}
		}),
		Reconciler: sdk.ReconcileFunc(func(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
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
			case "spin":
				// Busy for a second, then done: a finite overrun of a short deadline.
				for start := time.Now(); time.Since(start) < time.Second; {
				}
			case "error":
				return sdk.ReconcileResult{}, errors.New("asked to fail")
			case "hold":
				// 34 MiB stay live across calls, and each call drops 6 MiB more: a 64
				// MiB cap holds it only if the collector runs before the heap doubles.
				if held == nil {
					for range 34 {
						held = append(held, make([]byte, 1<<20))
					}
				}
				b := make([]byte, 6<<20)
				b[0] = 1
			case "garbage":
				// Allocate and drop: memory must stay flat across many calls.
				b := make([]byte, 256<<10)
				b[0] = 1
			case "calls":
				// One host call per unit of RequeueAfterMillis asked: for benchmarks.
				for range req.Namespace {
					if _, err := c.Call(sdk.OpConfig, sdk.CallRequest{}); err != nil {
						return sdk.ReconcileResult{}, err
					}
				}
				return sdk.ReconcileResult{}, nil
			case "log":
				c.Log(sdk.LevelInfo, "hello from the guest")
			case "get", "create-secret", "update-status":
				op, res := sdk.OpGet, "configmaps"
				switch req.Name {
				case "create-secret":
					op, res = sdk.OpCreate, "secrets"
				case "update-status":
					op, res = sdk.OpUpdateStatus, "configmaps"
				}
				out, err := c.Call(op, sdk.CallRequest{Version: "v1", Resource: res, Namespace: req.Namespace, Name: "x", Object: []byte(`{}`)})
				if err != nil {
					return sdk.ReconcileResult{Error: err.Error()}, nil
				}
				return sdk.ReconcileResult{Error: "ok:" + string(out)}, nil
			}
			return sdk.ReconcileResult{RequeueAfterMillis: int64(len(req.Name))}, nil
		}),
	})
}

func main() {}
