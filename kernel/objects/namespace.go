package objects

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

// Namespace lifecycle is kernel semantics: it needs only metadata and the namespace's
// spec.finalizers, the same for every kind it contains.

// FinalizerKubernetes holds a namespace until its contents are gone.
const FinalizerKubernetes = "kubernetes"

// Namespace phases.
const (
	NamespaceActive      = "Active"
	NamespaceTerminating = "Terminating"
)

// protectedNamespaces may not be deleted, as in Kubernetes.
var protectedNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic}

func prepareNamespaceCreate(obj *unstructured.Unstructured) {
	_ = unstructured.SetNestedStringSlice(obj.Object, []string{FinalizerKubernetes}, "spec", "finalizers")
	_ = unstructured.SetNestedField(obj.Object, NamespaceActive, "status", "phase")
}

// NamespaceFinalizers returns a namespace's spec.finalizers.
func NamespaceFinalizers(obj *unstructured.Unstructured) []string {
	fs, _, _ := unstructured.NestedStringSlice(obj.Object, "spec", "finalizers")
	return fs
}

// prepareNamespaceUpdate keeps what only the kernel may change: spec.finalizers (through
// the finalize subresource) and the phase.
func prepareNamespaceUpdate(sub string, cur, next *unstructured.Unstructured) {
	if sub != "finalize" {
		if fs, ok, _ := unstructured.NestedFieldCopy(cur.Object, "spec", "finalizers"); ok {
			_ = unstructured.SetNestedField(next.Object, fs, "spec", "finalizers")
		} else {
			unstructured.RemoveNestedField(next.Object, "spec", "finalizers")
		}
	}
	phase, _, _ := unstructured.NestedString(cur.Object, "status", "phase")
	_ = unstructured.SetNestedField(next.Object, phase, "status", "phase")
}

// namespaceOpen checks that namespace exists and is not terminating, and returns a
// store condition that fails the create if the namespace changes before it commits.
// This closes the race between a create and the namespace's deletion.
func (s *Service) namespaceOpen(ctx context.Context, e *registry.Entry, namespace, name string) (store.Op, error) {
	nsE, ok := s.namespaceEntry()
	if !ok {
		return store.Op{}, apierrors.NewInternalError(fmt.Errorf("kind Namespace is not registered"))
	}
	kv, err := s.store.Get(ctx, nsE.Key("", namespace), 0)
	if err != nil {
		return store.Op{}, storeError(nsE, namespace, err)
	}
	// Read only; every create in the namespace reads the same version.
	ns, err := s.DecodeShared(nsE, kv)
	if err != nil {
		return store.Op{}, err
	}
	if ns.GetDeletionTimestamp() != nil {
		se := apierrors.NewForbidden(gr(e), name, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
		se.ErrStatus.Details.Causes = append(se.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: "NamespaceTerminating", Message: fmt.Sprintf("namespace %s is being terminated", namespace), Field: "metadata.namespace",
		})
		return store.Op{}, se
	}
	return store.Op{Type: store.OpCheck, Key: kv.Key, ModRevision: kv.ModRevision}, nil
}

func checkNamespaceDeletable(e *registry.Entry, name string) error {
	if slices.Contains(protectedNamespaces, name) {
		return apierrors.NewForbidden(gr(e), name, fmt.Errorf("this namespace may not be deleted"))
	}
	return nil
}
