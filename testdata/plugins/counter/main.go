// Command counter is a test plugin with a controller: for every widget it records that
// it saw the widget's generation in status, and keeps a ConfigMap, owned by the widget,
// holding the widget's color. It reads only from the cache the host feeds it.
package main

import (
	"encoding/json"

	"weft.dev/weft/sdk"
)

var (
	widgetKind    = sdk.GVK{Group: "example.com", Version: "v1", Kind: "Widget"}
	configMapKind = sdk.GVK{Version: "v1", Kind: "ConfigMap"}
	widgets       = sdk.Resource{Group: "example.com", Version: "v1", Resource: "widgets"}
	configMaps    = sdk.Resource{Version: "v1", Resource: "configmaps"}
)

// widget is the part of a Widget the controller reads.
type widget struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   sdk.ObjectMeta `json:"metadata"`
	Spec       struct {
		Color string `json:"color"`
	} `json:"spec"`
	Status map[string]any `json:"status,omitempty"`
}

func (w *widget) ObjectMeta() *sdk.ObjectMeta { return &w.Metadata }

func init() {
	_ = sdk.Register(sdk.Manifest{
		Name:    "counter",
		Version: version,
		Controllers: []sdk.Controller{{
			Name:   "widgets",
			For:    widgetKind,
			Owns:   []sdk.GVK{configMapKind},
			Fields: []sdk.FieldSet{{Kind: configMapKind, Paths: []string{".data"}}},
		}},
		Permissions: []sdk.Permission{
			{Group: "example.com", Resource: "widgets", Verbs: []string{"get", "list", "watch"}},
			{Group: "example.com", Resource: "widgets/status", Verbs: []string{"update"}},
			{Resource: "configmaps", Verbs: []string{"get", "list", "watch", "create", "update"}},
		},
	}, sdk.Handlers{
		Reconciler: sdk.ReconcileFunc(reconcile),
		Types:      map[sdk.GVK]func() any{widgetKind: func() any { return new(widget) }},
	})
}

// version is set at build time by tests that need two versions.
var version = "1.0.0"

func reconcile(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
	o := c.Cache().Get(widgetKind, req.Namespace, req.Name)
	if o == nil {
		return sdk.ReconcileResult{}, nil // deleted: the garbage collector removes what it owned
	}
	w := *o.Value.(*widget)
	if w.Status == nil || w.Status["observedGeneration"] != float64(w.Metadata.Generation) {
		w.Status = map[string]any{"phase": "Seen", "observedGeneration": w.Metadata.Generation, "observedBy": version}
		if _, err := c.UpdateStatus(widgets, req.Namespace, &w); err != nil {
			return sdk.ReconcileResult{}, err
		}
	}
	cmName := req.Name + "-data"
	if c.Cache().Get(configMapKind, req.Namespace, cmName) != nil {
		return sdk.ReconcileResult{}, nil
	}
	cm, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": cmName, "namespace": req.Namespace,
			"ownerReferences": []any{sdk.ControllerRef(widgetKind, &w.Metadata)},
		},
		"data": map[string]any{"color": w.Spec.Color},
	})
	_, err := c.Create(configMaps, req.Namespace, cm)
	if sdk.IsAlreadyExists(err) {
		return sdk.ReconcileResult{}, nil // the feed has not caught up with our own create
	}
	return sdk.ReconcileResult{}, err
}

func main() {}
