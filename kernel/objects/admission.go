package objects

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/registry"
)

// Operation is what a request does, as admission sees it.
type Operation string

// The operations admission distinguishes, named as in AdmissionReview.
const (
	OpCreate Operation = "CREATE"
	OpUpdate Operation = "UPDATE"
	OpDelete Operation = "DELETE"
)

// Attributes describe one write to admission.
type Attributes struct {
	Kind        *registry.Entry
	Operation   Operation
	Namespace   string
	Name        string
	Subresource string
	// Object is the object to be written; nil for a delete. Mutating admission may
	// change it in place.
	Object *unstructured.Unstructured
	// OldObject is the current object; nil for a create.
	OldObject *unstructured.Unstructured
	User      User
	DryRun    bool
}

// Admission decides whether a write may happen. Errors should be Kubernetes Status
// errors (apierrors); any other error is reported as an internal error.
type Admission interface {
	// Mutate may change a.Object. It runs before schema validation.
	Mutate(ctx context.Context, a *Attributes) (warnings []string, err error)
	// Validate must not change anything. It runs after schema validation.
	Validate(ctx context.Context, a *Attributes) (warnings []string, err error)
}
