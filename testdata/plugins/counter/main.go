// Command counter is a test plugin with a controller: for every widget it records that
// it saw the widget's generation in status, and keeps a ConfigMap, owned by the widget,
// holding the widget's color.
package main

import (
	"encoding/json"
	"errors"

	"weft.dev/weft/sdk"
)

var widget = sdk.GVK{Group: "example.com", Version: "v1", Kind: "Widget"}

func init() {
	_ = sdk.Register(sdk.Manifest{
		Name:    "counter",
		Version: "1.0.0",
		Controllers: []sdk.Controller{{
			Name: "widgets",
			For:  widget,
			Owns: []sdk.GVK{{Version: "v1", Kind: "ConfigMap"}},
		}},
		Permissions: []sdk.Permission{
			{Group: "example.com", Resource: "widgets", Verbs: []string{"get"}},
			{Group: "example.com", Resource: "widgets/status", Verbs: []string{"update"}},
			{Resource: "configmaps", Verbs: []string{"get", "create", "update"}},
		},
	}, sdk.Handlers{Reconcile: reconcile})
}

func notFound(err error) bool {
	var st *sdk.Status
	return errors.As(err, &st) && st.Code == 404
}

func reconcile(h sdk.Host, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
	raw, err := h.Call(sdk.OpGet, sdk.CallRequest{Group: "example.com", Version: "v1", Resource: "widgets", Namespace: req.Namespace, Name: req.Name})
	if notFound(err) {
		return sdk.ReconcileResult{}, nil // deleted: the garbage collector removes what it owned
	}
	if err != nil {
		return sdk.ReconcileResult{}, err
	}
	var w map[string]any
	if err := json.Unmarshal(raw, &w); err != nil {
		return sdk.ReconcileResult{}, err
	}
	meta := w["metadata"].(map[string]any)
	spec, _ := w["spec"].(map[string]any)
	status, _ := w["status"].(map[string]any)
	if status == nil || status["observedGeneration"] != meta["generation"] {
		w["status"] = map[string]any{"phase": "Seen", "observedGeneration": meta["generation"]}
		body, _ := json.Marshal(w)
		if _, err := h.Call(sdk.OpUpdateStatus, sdk.CallRequest{Group: "example.com", Version: "v1", Resource: "widgets", Namespace: req.Namespace, Object: body}); err != nil {
			return sdk.ReconcileResult{}, err
		}
	}
	cmName := req.Name + "-data"
	color, _ := spec["color"].(string)
	_, err = h.Call(sdk.OpGet, sdk.CallRequest{Version: "v1", Resource: "configmaps", Namespace: req.Namespace, Name: cmName})
	if !notFound(err) {
		return sdk.ReconcileResult{}, err
	}
	cm, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": cmName, "namespace": req.Namespace,
			"ownerReferences": []any{map[string]any{
				"apiVersion": "example.com/v1", "kind": "Widget", "name": req.Name, "uid": meta["uid"],
				"controller": true, "blockOwnerDeletion": true,
			}},
		},
		"data": map[string]any{"color": color},
	})
	_, err = h.Call(sdk.OpCreate, sdk.CallRequest{Version: "v1", Resource: "configmaps", Namespace: req.Namespace, Object: cm})
	return sdk.ReconcileResult{}, err
}

func main() {}
