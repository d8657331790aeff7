package sdk

import (
	"encoding/json"
	"errors"
)

// Handlers are a plugin's entry points; nil ones are not offered.
type Handlers struct {
	Reconcile func(h Host, req ReconcileRequest) (ReconcileResult, error)
	Admit     func(h Host, req AdmissionRequest) AdmissionResponse
}

// ReconcileRequest asks a controller to bring one object in line.
type ReconcileRequest struct {
	Controller string `json:"controller"`
	Kind       GVK    `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

// ReconcileResult tells the host when to look again.
type ReconcileResult struct {
	// RequeueAfterMillis, when positive, asks for another reconcile after that delay.
	RequeueAfterMillis int64  `json:"requeueAfterMillis,omitempty"`
	Error              string `json:"error,omitempty"`
}

// AdmissionRequest is one write under admission, as a webhook sees it.
type AdmissionRequest struct {
	Hook        string          `json:"hook"`
	Operation   string          `json:"operation"`
	Kind        GVK             `json:"kind"`
	Namespace   string          `json:"namespace,omitempty"`
	Name        string          `json:"name,omitempty"`
	Subresource string          `json:"subresource,omitempty"`
	Object      json.RawMessage `json:"object,omitempty"`
	OldObject   json.RawMessage `json:"oldObject,omitempty"`
	User        UserInfo        `json:"userInfo"`
	DryRun      bool            `json:"dryRun,omitempty"`
}

// UserInfo identifies who makes a request.
type UserInfo struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups,omitempty"`
}

// AdmissionResponse is a hook's verdict.
type AdmissionResponse struct {
	Allowed bool `json:"allowed"`
	// Status explains a denial (code, reason, message).
	Status *Status `json:"status,omitempty"`
	// Object is the mutated object, from a mutating hook that changed it.
	Object           json.RawMessage   `json:"object,omitempty"`
	Warnings         []string          `json:"warnings,omitempty"`
	AuditAnnotations map[string]string `json:"auditAnnotations,omitempty"`
}

// Status is a Kubernetes-style error.
type Status struct {
	Code    int32  `json:"code"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

func (s *Status) Error() string { return s.Message }

// Host is what a handler may ask of the kernel during a call.
type Host interface {
	// Log writes to the plugin's log in the kernel.
	Log(level Level, msg string)
	// Call makes a request to the kernel: a read from its caches or a write through
	// the API's normal path. A refusal or failure is a *Status.
	Call(op Op, req CallRequest) (json.RawMessage, error)
}

// Level is a log level.
type Level int32

// Log levels, as slog orders them.
const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

var registered struct {
	manifest Manifest
	handlers Handlers
	done     bool
}

// ErrRegistered is returned by Register when called twice.
var ErrRegistered = errors.New("sdk: plugin already registered")

// Register declares the plugin. Call it once, from an init function.
func Register(m Manifest, h Handlers) error {
	if registered.done {
		return ErrRegistered
	}
	m.ABI = ABIVersion
	registered.manifest, registered.handlers, registered.done = m, h, true
	return nil
}

// dispatch runs one export on its decoded input and encodes the result. It is the
// part of the ABI glue shared by the wasm build and the native test build.
func dispatch(h Host, op string, in []byte) ([]byte, error) {
	switch op {
	case "manifest":
		return json.Marshal(registered.manifest)
	case "reconcile":
		if registered.handlers.Reconcile == nil {
			return nil, errors.New("sdk: plugin has no reconcile handler")
		}
		var req ReconcileRequest
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, err
		}
		res, err := registered.handlers.Reconcile(h, req)
		if err != nil {
			res.Error = err.Error()
		}
		return json.Marshal(res)
	case "admit":
		if registered.handlers.Admit == nil {
			return nil, errors.New("sdk: plugin has no admission handler")
		}
		var req AdmissionRequest
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, err
		}
		return json.Marshal(registered.handlers.Admit(h, req))
	}
	return nil, errors.New("sdk: unknown operation " + op)
}
