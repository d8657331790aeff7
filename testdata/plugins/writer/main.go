// Command writer is a test plugin that writes through the kernel from its reconcile
// handler: it creates ConfigMaps, reports events, and tries to read a Secret it was not
// granted.
package main

import (
	"encoding/json"

	"weft.dev/weft/sdk"
)

func init() {
	_ = sdk.Register(sdk.Manifest{
		Name:    "writer",
		Version: "0.1.0",
		Permissions: []sdk.Permission{
			{Resource: "configmaps", Verbs: []string{"get", "create"}},
			{Resource: "events", Verbs: []string{"create"}},
			{Resource: "secrets", Verbs: []string{"get"}},
		},
	}, sdk.Handlers{Reconciler: sdk.ReconcileFunc(reconcile)})
}

func reconcile(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
	switch req.Name {
	case "create":
		cm, _ := json.Marshal(map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "made-by-plugin", "namespace": req.Namespace},
			"data":     map[string]any{"by": "writer"},
		})
		if _, err := c.Call(sdk.OpCreate, sdk.CallRequest{Version: "v1", Resource: "configmaps", Namespace: req.Namespace, Object: cm}); err != nil {
			return sdk.ReconcileResult{}, err
		}
		_, err := c.Call(sdk.OpEvent, sdk.CallRequest{Version: "v1", Resource: "configmaps", Namespace: req.Namespace, Name: "made-by-plugin",
			EventType: "Normal", Reason: "Created", Message: "the writer plugin made this"})
		return sdk.ReconcileResult{}, err
	case "read-secret":
		_, err := c.Call(sdk.OpGet, sdk.CallRequest{Version: "v1", Resource: "secrets", Namespace: req.Namespace, Name: "db"})
		return sdk.ReconcileResult{}, err
	}
	return sdk.ReconcileResult{}, nil
}

func main() {}
