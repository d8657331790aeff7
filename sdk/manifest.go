package sdk

import (
	"encoding/json"
	"fmt"
)

// ABIVersion is the ABI this SDK implements.
const ABIVersion = 1

// Manifest declares what a plugin provides and what it needs. The host reads it once,
// when the module is installed or upgraded, and checks every host call against the
// permissions the operator granted (a subset of Permissions).
type Manifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// ABI is the ABI version the plugin was built for; Register fills it in.
	ABI int `json:"abi"`

	// Kinds the plugin defines, with their structural schemas.
	Kinds []KindSpec `json:"kinds,omitempty"`
	// Controllers reconcile a primary kind and react to the kinds it owns or watches.
	Controllers []Controller `json:"controllers,omitempty"`
	// Admission hooks, run in the write path of the kinds they name.
	Admission []AdmissionHook `json:"admission,omitempty"`
	// Scheduler names a scheduler policy the plugin implements, if any.
	Scheduler *SchedulerSpec `json:"scheduler,omitempty"`
	// Router names an ingress router the plugin implements, if any.
	Router *RouterSpec `json:"router,omitempty"`

	// Permissions are what the plugin asks to be allowed to do.
	Permissions []Permission `json:"permissions,omitempty"`
}

// KindSpec defines a kind, as a CRD version does.
type KindSpec struct {
	Group      string          `json:"group"`
	Version    string          `json:"version"`
	Kind       string          `json:"kind"`
	Resource   string          `json:"resource"`
	Singular   string          `json:"singular,omitempty"`
	ShortNames []string        `json:"shortNames,omitempty"`
	Categories []string        `json:"categories,omitempty"`
	Namespaced bool            `json:"namespaced"`
	Schema     json.RawMessage `json:"schema"`
	Status     bool            `json:"status,omitempty"`
	Scale      *ScaleSpec      `json:"scale,omitempty"`
	Columns    []Column        `json:"columns,omitempty"`
	// SelectableFields are JSONPaths usable in field selectors (".spec.color").
	SelectableFields []string `json:"selectableFields,omitempty"`
	// Graceful makes deletes of bound objects graceful, as for pods.
	Graceful *GracefulSpec `json:"graceful,omitempty"`
	// EncryptAtRest stores the kind's objects encrypted with the cluster's data key.
	EncryptAtRest bool `json:"encryptAtRest,omitempty"`
	// NameFormat is the rule for metadata.name: DNSSubdomain (default), DNSLabel or
	// PathSegment.
	NameFormat string `json:"nameFormat,omitempty"`
}

// GracefulSpec describes graceful deletion: a delete of an object whose BoundPath is
// set marks it with a deletionTimestamp and leaves it to whatever runs it to finish;
// objects unbound, or with TerminalPath in TerminalValues, go at once.
type GracefulSpec struct {
	// DefaultPath holds the object's grace period in seconds; 30 when absent.
	DefaultPath    string   `json:"defaultPath,omitempty"`
	BoundPath      string   `json:"boundPath"`
	TerminalPath   string   `json:"terminalPath,omitempty"`
	TerminalValues []string `json:"terminalValues,omitempty"`
}

// ScaleSpec maps the scale subresource onto the object's fields.
type ScaleSpec struct {
	SpecReplicasPath   string `json:"specReplicasPath"`
	StatusReplicasPath string `json:"statusReplicasPath"`
	LabelSelectorPath  string `json:"labelSelectorPath,omitempty"`
}

// Column is a server-side printer column.
type Column struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Format string `json:"format,omitempty"`
	// JSONPath is a kubectl-style JSONPath or template ("{.a}/{.b}"); within a
	// template, {#expr} counts expr's results and {+expr} sums them.
	JSONPath string `json:"jsonPath,omitempty"`
	// CountPaths, when set, make the cell the number of elements at these paths.
	CountPaths  []string `json:"countPaths,omitempty"`
	Description string   `json:"description,omitempty"`
	Priority    int32    `json:"priority,omitempty"`
	// Values translates cells ("True" to "Ready").
	Values map[string]string `json:"values,omitempty"`
}

// GVK names a kind.
type GVK struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// Controller declares a reconcile loop.
type Controller struct {
	Name string `json:"name"`
	// For is the primary kind: reconcile requests carry its keys.
	For GVK `json:"for"`
	// Owns are kinds whose changes requeue their controlling owner of kind For.
	Owns []GVK `json:"owns,omitempty"`
	// Fields, when set for a kind, limit what the host feeds of its objects to these
	// top-level paths (".spec", ".status.conditions") plus apiVersion, kind and
	// metadata (less managedFields), to keep what crosses the boundary small. Plugins
	// with several controllers get the union of what each asks for.
	Fields []FieldSet `json:"fields,omitempty"`
}

// FieldSet names the fields of a kind a controller reads.
type FieldSet struct {
	Kind  GVK      `json:"kind"`
	Paths []string `json:"paths"`
	// ControlledOnly, for a kind the controller owns, feeds Paths only for objects an
	// object of its primary kind controls. Any other object is fed as its metadata
	// alone, less resourceVersion: enough to find orphans to adopt, which the
	// controller reads afresh (Client.Fresh) before judging them by more. Changes to
	// such objects that leave that metadata as it was queue no reconcile and are not
	// fed at all, so the plugin does not pay for every pod in the cluster. It applies
	// when every controller of the plugin that names the kind sets it, and the kind is
	// none's primary.
	ControlledOnly bool `json:"controlledOnly,omitempty"`
}

// AdmissionHook declares an admission hook, with webhook semantics.
type AdmissionHook struct {
	Name     string `json:"name"`
	Mutating bool   `json:"mutating,omitempty"`
	// Rules select requests by kind and operation (CREATE, UPDATE, DELETE).
	Rules []AdmissionRule `json:"rules"`
	// FailurePolicy is Fail (default) or Ignore: what happens when the hook errs.
	FailurePolicy string `json:"failurePolicy,omitempty"`
	// TimeoutSeconds bounds one call; default 10, at most 30.
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// ReinvocationPolicy is Never (default) or IfNeeded, for mutating hooks.
	ReinvocationPolicy string `json:"reinvocationPolicy,omitempty"`
	// NamespaceSelector and ObjectSelector are label selectors in string form.
	NamespaceSelector string `json:"namespaceSelector,omitempty"`
	ObjectSelector    string `json:"objectSelector,omitempty"`
}

// AdmissionRule selects requests.
type AdmissionRule struct {
	Groups      []string `json:"groups"`
	Resources   []string `json:"resources"`
	Operations  []string `json:"operations"`
	Subresource string   `json:"subresource,omitempty"`
}

// SchedulerSpec declares a scheduler policy.
type SchedulerSpec struct {
	Name string `json:"name"`
}

// RouterSpec declares an ingress router.
type RouterSpec struct {
	Name string `json:"name"`
	// Headers are the request headers the router reads; only these cross.
	Headers []string `json:"headers,omitempty"`
}

// Permission asks for verbs on a kind in some namespaces ("*" for all).
type Permission struct {
	Group      string   `json:"group"`
	Resource   string   `json:"resource"`
	Verbs      []string `json:"verbs"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// ControlledOnly returns the kinds whose objects the manifest's controllers are fed
// with FieldSet.ControlledOnly in effect, each with the kinds ("group/Kind") whose
// control gets an object its declared paths: the primary kinds of the controllers
// that own it. It is in effect for a kind every controller naming it sets it for,
// and that is no controller's primary; setting it for a primary kind is an error.
// The host and sdktest both feed by it.
func (m Manifest) ControlledOnly() (map[GVK]map[string]bool, error) {
	primaries := map[GVK]bool{}
	for _, c := range m.Controllers {
		primaries[c.For] = true
	}
	only, not := map[GVK]map[string]bool{}, map[GVK]bool{}
	for _, c := range m.Controllers {
		for _, k := range append([]GVK{c.For}, c.Owns...) {
			set := false
			for _, f := range c.Fields {
				if f.Kind != k {
					continue
				}
				if f.ControlledOnly && primaries[k] {
					return nil, fmt.Errorf("controller %s: fields of %s: controlledOnly names a primary kind", c.Name, k)
				}
				set = set || f.ControlledOnly
				if !f.ControlledOnly {
					not[k] = true
				}
			}
			if !set {
				not[k] = true
				continue
			}
			if only[k] == nil {
				only[k] = map[string]bool{}
			}
			only[k][c.For.Group+"/"+c.For.Kind] = true
		}
	}
	for k := range not {
		delete(only, k)
	}
	return only, nil
}
