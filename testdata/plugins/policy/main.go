// Command policy is a test plugin with admission hooks on widgets.example.com: a
// mutating hook that labels widgets, and a validating hook that refuses red widgets,
// warns about green ones, and panics on size 999m (to test failure policies).
package main

import (
	"encoding/json"

	"weft.dev/weft/sdk"
)

// version is set with -ldflags "-X main.version=..." to build distinct versions.
var version = "1.0.0"

var widgets = []sdk.AdmissionRule{{Groups: []string{"example.com"}, Resources: []string{"widgets"}, Operations: []string{"CREATE", "UPDATE"}}}

func init() {
	_ = sdk.Register(sdk.Manifest{
		Name:    "policy",
		Version: version,
		Admission: []sdk.AdmissionHook{
			{Name: "label-widgets", Mutating: true, Rules: widgets, ReinvocationPolicy: "IfNeeded"},
			{Name: "no-red", Rules: widgets, ObjectSelector: "exempt!=true"},
		},
	}, sdk.Handlers{Admitter: sdk.AdmitFunc(admit)})
}

func admit(c *sdk.Client, req sdk.AdmissionRequest) sdk.AdmissionResponse {
	var obj map[string]any
	if err := json.Unmarshal(req.Object, &obj); err != nil {
		return sdk.AdmissionResponse{Status: &sdk.Status{Code: 400, Message: err.Error()}}
	}
	spec, _ := obj["spec"].(map[string]any)
	switch req.Hook {
	case "label-widgets":
		meta, _ := obj["metadata"].(map[string]any)
		labels, _ := meta["labels"].(map[string]any)
		if labels == nil {
			labels = map[string]any{}
		}
		labels["policy"] = "checked"
		meta["labels"] = labels
		out, _ := json.Marshal(obj)
		return sdk.AdmissionResponse{Allowed: true, Object: out}
	case "no-red":
		switch spec["color"] {
		case "red":
			return sdk.AdmissionResponse{Status: &sdk.Status{Code: 403, Reason: "Forbidden", Message: "red widgets are not allowed"}}
		case "green":
			return sdk.AdmissionResponse{Allowed: true, Warnings: []string{"green widgets are deprecated"}}
		}
		if spec["size"] == "999m" {
			panic("size 999m makes this hook crash")
		}
	}
	return sdk.AdmissionResponse{Allowed: true}
}

func main() {}
