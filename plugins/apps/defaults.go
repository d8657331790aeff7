package apps

import (
	"encoding/json"

	"weft.dev/weft/sdk"
)

// The kernel applies no apps/v1 defaults, so the plugin does, in a mutating admission
// hook, as kube-apiserver's defaulting does (SetDefaults_Deployment and
// SetDefaults_ReplicaSet): what kubectl shows (describe's StrategyType, get -o yaml)
// then matches Kubernetes. The controllers apply the same defaults themselves, so
// objects written before the hook existed behave the same.

const defaultsHook = "apps-defaults"

func defaultsAdmission() sdk.AdmissionHook {
	return sdk.AdmissionHook{
		Name: defaultsHook, Mutating: true, FailurePolicy: "Ignore",
		Rules: []sdk.AdmissionRule{{Groups: []string{"apps"}, Resources: []string{"deployments", "replicasets"}, Operations: []string{"CREATE", "UPDATE"}}},
	}
}

func (p *plugin) admit(_ *sdk.Client, req sdk.AdmissionRequest) sdk.AdmissionResponse {
	resp := sdk.AdmissionResponse{Allowed: true}
	if req.Hook != defaultsHook || req.Subresource != "" || (req.Operation != "CREATE" && req.Operation != "UPDATE") {
		return resp
	}
	var obj struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(req.Object, &obj); err != nil || obj.Spec == nil {
		return resp // validation reports it
	}
	var ops []map[string]any
	add := func(path string, v any) { ops = append(ops, map[string]any{"op": "add", "path": path, "value": v}) }
	if _, ok := obj.Spec["replicas"]; !ok {
		add("/spec/replicas", 1)
	}
	if req.Kind.Kind == "Deployment" {
		rolling := map[string]any{"maxUnavailable": "25%", "maxSurge": "25%"}
		if raw, ok := obj.Spec["strategy"]; !ok || string(raw) == "null" {
			add("/spec/strategy", map[string]any{"type": "RollingUpdate", "rollingUpdate": rolling})
		} else {
			var s map[string]json.RawMessage
			_ = json.Unmarshal(raw, &s)
			typ := "RollingUpdate"
			if t, ok := s["type"]; ok {
				_ = json.Unmarshal(t, &typ)
			} else {
				add("/spec/strategy/type", typ)
			}
			if typ == "RollingUpdate" {
				if ru, ok := s["rollingUpdate"]; !ok || string(ru) == "null" {
					add("/spec/strategy/rollingUpdate", rolling)
				} else {
					var r map[string]json.RawMessage
					_ = json.Unmarshal(ru, &r)
					for _, f := range []string{"maxUnavailable", "maxSurge"} {
						if _, ok := r[f]; !ok {
							add("/spec/strategy/rollingUpdate/"+f, "25%")
						}
					}
				}
			}
		}
		if _, ok := obj.Spec["revisionHistoryLimit"]; !ok {
			add("/spec/revisionHistoryLimit", 10)
		}
		if _, ok := obj.Spec["progressDeadlineSeconds"]; !ok {
			add("/spec/progressDeadlineSeconds", 600)
		}
	}
	if len(ops) > 0 {
		resp.Patch = rawJSON(ops)
	}
	return resp
}
