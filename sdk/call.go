package sdk

import "encoding/json"

// Op is a request from a plugin to the kernel, the op argument of weft.call.
type Op int32

// The operations of weft.call, ABI version 1. Numbers are never reused.
const (
	OpGet          Op = 1
	OpList         Op = 2
	OpCreate       Op = 3
	OpUpdate       Op = 4
	OpPatch        Op = 5
	OpDelete       Op = 6
	OpUpdateStatus Op = 7
	OpEvent        Op = 8
	OpConfig       Op = 9
	// OpBatch runs the operations in Batch concurrently and returns each one's result
	// (see EncodeBatchResults). Each is checked and audited as if made alone.
	OpBatch Op = 10
)

// Verb is the permission verb an operation needs.
func (o Op) Verb() string {
	switch o {
	case OpGet:
		return "get"
	case OpList:
		return "list"
	case OpCreate, OpEvent:
		return "create"
	case OpUpdate, OpUpdateStatus:
		return "update"
	case OpPatch:
		return "patch"
	case OpDelete:
		return "delete"
	}
	return ""
}

// Writes reports whether the operation changes state (and is audited).
func (o Op) Writes() bool {
	switch o {
	case OpCreate, OpUpdate, OpPatch, OpDelete, OpUpdateStatus, OpEvent:
		return true
	}
	return false
}

// CallRequest is the body of every weft.call.
type CallRequest struct {
	Group     string `json:"group"`
	Version   string `json:"version"`
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Object is the object to create or update.
	Object json.RawMessage `json:"object,omitempty"`
	// PatchType is json, merge, strategic or apply; Patch is the patch.
	PatchType string          `json:"patchType,omitempty"`
	Patch     json.RawMessage `json:"patch,omitempty"`
	// LabelSelector and FieldSelector filter a list.
	LabelSelector string `json:"labelSelector,omitempty"`
	FieldSelector string `json:"fieldSelector,omitempty"`
	// PropagationPolicy and Preconditions shape a delete.
	PropagationPolicy string `json:"propagationPolicy,omitempty"`
	UID               string `json:"uid,omitempty"`
	ResourceVersion   string `json:"resourceVersion,omitempty"`
	// Event fields: the object the event is about, and what happened.
	EventType string `json:"eventType,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
	// MetaOnly asks a write to return only the written object's metadata, which is all
	// a controller fed by the host needs back.
	MetaOnly bool `json:"metaOnly,omitempty"`
	// Batch holds the operations of an OpBatch.
	Batch []BatchItem `json:"batch,omitempty"`
}

// BatchItem is one operation of a batch.
type BatchItem struct {
	Op      Op
	Request CallRequest
}

// BatchResult is the outcome of one operation of a batch: Code 0 and the result, or a
// Kubernetes status code and a Status.
type BatchResult struct {
	Code int32
	Body []byte
}

// Subresource returns "status" for OpUpdateStatus, the subresource the permission
// check names (pods/status), and "" otherwise.
func (o Op) Subresource() string {
	if o == OpUpdateStatus {
		return "status"
	}
	return ""
}
