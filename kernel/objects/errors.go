package objects

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

var errModified = errors.New("the object has been modified; please apply your changes to the latest version and try again")

func gr(e *registry.Entry) schema.GroupResource {
	return schema.GroupResource{Group: e.Group, Resource: e.Resource}
}

// storeError maps a store error onto the Kubernetes Status a client expects.
func storeError(e *registry.Entry, name string, err error) error {
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return nil
	case errors.As(err, &status):
		return err
	case errors.Is(err, store.ErrNotFound):
		return apierrors.NewNotFound(gr(e), name)
	case errors.Is(err, store.ErrKeyExists):
		return apierrors.NewAlreadyExists(gr(e), name)
	case errors.Is(err, store.ErrConflict):
		return apierrors.NewConflict(gr(e), name, errModified)
	case errors.Is(err, store.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
	case errors.Is(err, store.ErrFutureRevision):
		return tooLargeRV(err)
	case errors.Is(err, store.ErrTooLarge):
		return apierrors.NewRequestEntityTooLargeError(err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return apierrors.NewTimeoutError(fmt.Sprintf("request did not complete: %v", err), 1)
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrFailed):
		return apierrors.NewServiceUnavailable(err.Error())
	}
	return apierrors.NewInternalError(err)
}

// tooLargeRV is kube-apiserver's answer to a resourceVersion the store has not reached.
func tooLargeRV(err error) error {
	se := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %v", err), 1)
	se.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return se
}

// UnsupportedMediaType is the 415 kube-apiserver returns for a body it cannot decode.
func UnsupportedMediaType(mediaType string) error {
	return MediaTypeError(fmt.Sprintf("the body of the request was in an unknown format (%s) - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml", mediaType))
}

// MediaTypeError is a 415 with its own message.
func MediaTypeError(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 415, Reason: metav1.StatusReasonUnsupportedMediaType, Message: msg,
	}}
}

// NotAcceptable is the 406 for an Accept header the server cannot satisfy.
func NotAcceptable(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 406, Reason: metav1.StatusReasonNotAcceptable, Message: msg,
	}}
}
