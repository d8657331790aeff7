package core

import (
	"weft.dev/weft/sdk"
)

// Name and Version identify the plugin.
const (
	Name    = "core"
	Version = "1.1.0"
)

// The admission hooks, by name. Mutating hooks run before validating ones, so the
// validating hooks see defaulted objects.
const (
	HookSecretDefaults = "secret-defaults.core.weft.dev"
	HookPodDefaults    = "pod-defaults.core.weft.dev"
	HookDataValidation = "data-validation.core.weft.dev"
	HookPodValidation  = "pod-validation.core.weft.dev"
)

var createUpdate = []string{"CREATE", "UPDATE"}

// Plugin returns the plugin's manifest and handlers.
func Plugin() (sdk.Manifest, sdk.Handlers) {
	m := sdk.Manifest{
		Name:    Name,
		Version: Version,
		Kinds:   Kinds(),
		Admission: []sdk.AdmissionHook{
			{
				Name: HookSecretDefaults, Mutating: true, FailurePolicy: "Fail",
				Rules: []sdk.AdmissionRule{{Groups: []string{""}, Resources: []string{"secrets"}, Operations: createUpdate}},
			},
			{
				// UPDATE too: Kubernetes defaults every object it decodes, so a PUT that
				// leaves out defaulted fields gets them back rather than failing the
				// immutability of the pod spec. Only absent fields are patched.
				Name: HookPodDefaults, Mutating: true, FailurePolicy: "Fail",
				Rules: []sdk.AdmissionRule{{Groups: []string{""}, Resources: []string{"pods"}, Operations: createUpdate}},
			},
			{
				Name: HookDataValidation, FailurePolicy: "Fail",
				Rules: []sdk.AdmissionRule{{Groups: []string{""}, Resources: []string{"configmaps", "secrets"}, Operations: createUpdate}},
			},
			{
				Name: HookPodValidation, FailurePolicy: "Fail",
				Rules: []sdk.AdmissionRule{{Groups: []string{""}, Resources: []string{"pods"}, Operations: createUpdate}},
			},
		},
	}
	return m, sdk.Handlers{Admitter: newPodMemo()}
}

var allowed = sdk.AdmissionResponse{Allowed: true}

// Admit answers the plugin's admission hooks.
func Admit(_ *sdk.Client, req sdk.AdmissionRequest) sdk.AdmissionResponse {
	// Subresources (status, binding, ...) are not the hooks' business; the rules do not
	// select them, but a request that names one is let through all the same.
	if len(req.Object) == 0 || req.Subresource != "" || req.Kind.Group != "" || req.Kind.Version != "v1" {
		return allowed
	}
	switch req.Hook {
	case HookSecretDefaults:
		if req.Kind.Kind == "Secret" {
			return defaultSecret(&req)
		}
	case HookPodDefaults:
		if req.Kind.Kind == "Pod" {
			return defaultPod(&req)
		}
	case HookDataValidation:
		switch req.Kind.Kind {
		case "ConfigMap":
			return validateConfigMap(&req)
		case "Secret":
			return validateSecret(&req)
		}
	case HookPodValidation:
		if req.Kind.Kind == "Pod" {
			return validatePod(&req)
		}
	}
	return allowed
}

// patched allows a request with a JSON Patch, or without one when it is empty.
func patched(p *jsonPatch) sdk.AdmissionResponse {
	if p.empty() {
		return allowed
	}
	return sdk.AdmissionResponse{Allowed: true, Patch: p.bytes()}
}

// badRequest denies a request whose object does not decode.
func badRequest(kind string, err error) sdk.AdmissionResponse {
	return sdk.AdmissionResponse{Status: &sdk.Status{Code: 400, Reason: "BadRequest", Message: kind + " could not be decoded: " + err.Error()}}
}
