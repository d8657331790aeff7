package registry

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Kind describes one kind at one version, as a CRD version does.
type Kind struct {
	Group   string // "" for the core group
	Version string
	Kind    string
	// Resource is the lowercase plural used in URLs ("configmaps").
	Resource string
	// Singular defaults to the lowercased Kind.
	Singular   string
	ListKind   string // defaults to Kind+"List"
	ShortNames []string
	Categories []string
	Namespaced bool

	// Schema is the structural schema of everything but apiVersion, kind and metadata.
	Schema *spec.Schema

	// Status enables the status subresource: the main resource ignores changes to
	// .status and the status subresource ignores everything else.
	Status bool
	// Scale enables the scale subresource.
	Scale *Scale

	// Columns are the server-side table columns after NAME; AGE is always appended.
	Columns []Column
	// SelectableFields are extra JSONPaths usable in field selectors, beyond
	// metadata.name and metadata.namespace (e.g. ".type" for Secrets).
	SelectableFields []string

	// Graceful makes deletes of bound objects graceful, as for pods.
	Graceful *Graceful

	// EncryptAtRest stores objects of this kind encrypted with the cluster's data key.
	EncryptAtRest bool
	// NameFormat constrains metadata.name.
	NameFormat NameFormat

	// Owner names who registered the kind ("kernel" or a plugin name). Only the owner
	// may replace or remove it.
	Owner string
}

// Scale maps the scale subresource onto fields of the object, as a CRD's
// subresources.scale does.
type Scale struct {
	SpecReplicasPath   string // e.g. ".spec.replicas"
	StatusReplicasPath string // e.g. ".status.replicas"
	LabelSelectorPath  string // e.g. ".status.selector"; optional
}

// Graceful describes graceful deletion: a delete marks the object with a
// deletionTimestamp in the future and a grace period, and leaves it for whatever runs
// it (a node) to stop it and delete it for good with a grace period of 0. Objects that
// are not bound, or have finished, are deleted at once.
type Graceful struct {
	// DefaultPath holds the object's own grace period in seconds
	// (".spec.terminationGracePeriodSeconds"); 30 when the field is absent.
	DefaultPath string
	// BoundPath must be non-empty for the delete to be graceful (".spec.nodeName").
	BoundPath string
	// TerminalPath and TerminalValues mark finished objects, deleted at once
	// (".status.phase" in Succeeded, Failed).
	TerminalPath   string
	TerminalValues []string
}

// Column is a server-side printer column.
type Column struct {
	Name        string
	Type        string // integer, number, string, boolean, date
	Format      string
	Description string
	Priority    int32 // >0 only with -o wide
	// JSONPath is a kubectl-style JSONPath; templates such as
	// "{.involvedObject.kind}/{.involvedObject.name}" are allowed, and within them
	// {#expr} is the number of results of expr and {+expr} their sum.
	JSONPath string
	// CountPaths, when set, makes the cell the total number of elements (map entries or
	// list items) found at these JSONPaths; JSONPath is then ignored.
	CountPaths []string
	// Values, when set, translates the cell ("True" to "Ready"); values it does not
	// name are shown as they are.
	Values map[string]string
}

// NameFormat is the rule metadata.name must satisfy.
type NameFormat int

const (
	// NameDNSSubdomain is RFC 1123 subdomain, the rule of most kinds.
	NameDNSSubdomain NameFormat = iota
	// NameDNSLabel is RFC 1123 label (Namespace, Service).
	NameDNSLabel
	// NamePathSegment allows anything usable as one URL path segment.
	NamePathSegment
)

// GVK returns the kind's group, version and kind.
func (k *Kind) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
}

// GVR returns the kind's group, version and resource.
func (k *Kind) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: k.Group, Version: k.Version, Resource: k.Resource}
}

// APIVersion is the value of the apiVersion field.
func (k *Kind) APIVersion() string { return k.GVK().GroupVersion().String() }

// String names the kind for messages.
func (k *Kind) String() string { return fmt.Sprintf("%s.%s/%s", k.Resource, k.Group, k.Version) }
