package plugins

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"weft.dev/weft/kernel/registry"
)

// GVK is the Plugin kind, which the kernel itself owns: it is how plugins are
// installed, upgraded, rolled back and watched.
var GVK = schema.GroupVersionKind{Group: "weft.dev", Version: "v1alpha1", Kind: "Plugin"}

const pluginSchema = `{
  "type": "object",
  "description": "Plugin is a WebAssembly module the kernel runs, and what the operator allows it.",
  "properties": {
    "spec": {
      "type": "object",
      "required": ["module"],
      "properties": {
        "module": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$",
          "description": "Digest of the module in the kernel's module store (weft plugin install uploads it)."},
        "grantRequested": {"type": "boolean",
          "description": "Grant every permission the plugin's manifest asks for."},
        "trusted": {"type": "boolean",
          "description": "Run without preemption: guest code runs 4 to 25 times faster, but a call that overruns its timeout can only be abandoned, not stopped. For plugins the operator trusts not to loop; the built-in plugins are."},
        "grants": {"type": "array", "description": "Permissions the operator grants; a subset of what the plugin asks for.",
          "items": {"type": "object", "required": ["resource", "verbs"], "properties": {
            "group": {"type": "string"},
            "resource": {"type": "string"},
            "verbs": {"type": "array", "items": {"type": "string"}},
            "namespaces": {"type": "array", "items": {"type": "string"}}}}},
        "limits": {"type": "object", "properties": {
          "memoryMiB": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 128},
          "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 300, "default": 5},
          "instances": {"type": "integer", "minimum": 1, "maximum": 64, "default": 2}}},
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
          "description": "Configuration handed to the plugin when it asks for it."}
      }
    },
    "status": {
      "type": "object",
      "properties": {
        "phase": {"type": "string", "description": "Running, Degraded or Failed."},
        "version": {"type": "string"},
        "digest": {"type": "string"},
        "instances": {"type": "integer"},
        "calls": {"type": "integer"},
        "errors": {"type": "integer"},
        "deniedCalls": {"type": "integer"},
        "p99Millis": {"type": "number"},
        "observedGeneration": {"type": "integer"},
        "message": {"type": "string"},
        "shadow": {"type": "array", "description": "For a scheduler policy shadowing a profile's policy: how often it agreed.",
          "items": {"type": "object", "properties": {
            "profile": {"type": "string"}, "agreed": {"type": "integer"}, "disagreed": {"type": "integer"},
            "agreement": {"type": "number"}}}},
        "history": {"type": "array", "description": "Digests this plugin ran before, newest first.",
          "items": {"type": "object", "properties": {
            "digest": {"type": "string"}, "version": {"type": "string"}, "replaced": {"type": "string", "format": "date-time"}}}}
      }
    }
  }
}`

// Kind returns the Plugin kind's definition.
func Kind() registry.Kind {
	s := &spec.Schema{}
	if err := json.Unmarshal([]byte(pluginSchema), s); err != nil {
		panic(err) // a constant; covered by tests
	}
	return registry.Kind{
		Group: GVK.Group, Version: GVK.Version, Kind: GVK.Kind, Resource: "plugins",
		ShortNames: []string{"plg"}, Schema: s, Status: true, Owner: "kernel",
		Columns: []registry.Column{
			{Name: "Version", Type: "string", JSONPath: ".status.version"},
			{Name: "State", Type: "string", JSONPath: ".status.phase"},
			{Name: "Instances", Type: "integer", JSONPath: ".status.instances"},
			{Name: "Calls", Type: "integer", JSONPath: ".status.calls"},
			{Name: "Errors", Type: "integer", JSONPath: ".status.errors"},
			{Name: "Denied", Type: "integer", JSONPath: ".status.deniedCalls"},
			{Name: "P99-ms", Type: "number", JSONPath: ".status.p99Millis", Priority: 1},
			{Name: "Digest", Type: "string", JSONPath: ".status.digest", Priority: 1},
		},
	}
}
