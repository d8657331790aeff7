package sdk

import (
	"encoding/json"
	"errors"
)

// Handlers are a plugin's entry points; nil ones are not offered.
type Handlers struct {
	Reconciler Reconciler
	Admitter   Admitter
	Router     Router
	// Types decode the fed objects of a kind into the value the cache keeps for them
	// (Object.Value): each returns a pointer to a new, empty value. A type that
	// implements Metadata saves the cache a second decode.
	Types map[GVK]func() any
	// Observe, if set, is called for every fed change once the cache holds it.
	Observe func(EventType, *Object)
	// Scheduler is the plugin's scheduler policy (the manifest's Scheduler names
	// it). The host feeds its Snapshot with nodes and pods and calls weft_schedule.
	Scheduler SchedulerPolicy
}

// Reconciler brings the object a request names in line with its spec. Reads come
// from c.Cache(), which the host has fed up to the change that caused the request.
type Reconciler interface {
	Reconcile(c *Client, req ReconcileRequest) (ReconcileResult, error)
}

// Admitter answers admission requests for the plugin's hooks (req.Hook names which).
type Admitter interface {
	Admit(c *Client, req AdmissionRequest) AdmissionResponse
}

// ReconcileFunc adapts a function to Reconciler.
type ReconcileFunc func(c *Client, req ReconcileRequest) (ReconcileResult, error)

// Reconcile calls f.
func (f ReconcileFunc) Reconcile(c *Client, req ReconcileRequest) (ReconcileResult, error) {
	return f(c, req)
}

// AdmitFunc adapts a function to Admitter.
type AdmitFunc func(c *Client, req AdmissionRequest) AdmissionResponse

// Admit calls f.
func (f AdmitFunc) Admit(c *Client, req AdmissionRequest) AdmissionResponse { return f(c, req) }

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
	Object json.RawMessage `json:"object,omitempty"`
	// Patch, instead of Object, is an RFC 6902 JSON Patch of the object, as a webhook
	// returns; cheaper for a guest to build than the whole object.
	Patch            json.RawMessage   `json:"patch,omitempty"`
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
	client   *Client
	snapshot *Snapshot
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
	registered.client = nil
	return nil
}

// dispatch runs one export on its input and encodes the result. It is the part of the
// ABI glue shared by the wasm build and the native test build.
func dispatch(h Host, op string, in []byte) ([]byte, error) {
	if registered.client == nil || registered.client.host != h {
		cache := NewCache(registered.handlers.Types)
		if registered.handlers.Observe != nil {
			cache.Observe(registered.handlers.Observe)
		}
		registered.client = NewClient(h, cache)
		registered.snapshot = NewSnapshot()
	}
	c := registered.client
	switch op {
	case "manifest":
		return json.Marshal(registered.manifest)
	case "reconcile":
		if registered.handlers.Reconciler == nil {
			return nil, errors.New("sdk: plugin has no reconciler")
		}
		var req ReconcileRequest
		if err := req.UnmarshalWire(in); err != nil {
			return nil, err
		}
		res, err := registered.handlers.Reconciler.Reconcile(c, req)
		if err != nil {
			res.Error = err.Error()
		}
		return res.MarshalWire(), nil
	case "feed":
		evs, err := DecodeFeed(in)
		if err != nil {
			return nil, err
		}
		sched := registered.handlers.Scheduler != nil
		for _, ev := range evs {
			if sched && (ev.Type == Synced || IsSnapshotKind(ev.Kind)) {
				if err := registered.snapshot.Apply(ev); err != nil {
					return nil, err
				}
				// Nodes and pods go to the cache too only if something reads them there.
				if ev.Type != Synced && registered.handlers.Reconciler == nil && registered.handlers.Types[ev.Kind] == nil {
					continue
				}
			}
			if err := c.cache.Apply(ev); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case "schedule":
		if registered.handlers.Scheduler == nil {
			return nil, ErrNoScheduler
		}
		return HandleSchedule(registered.snapshot, registered.handlers.Scheduler, in)
	case "admit":
		if registered.handlers.Admitter == nil {
			return nil, errors.New("sdk: plugin has no admitter")
		}
		var req AdmissionRequest
		if err := req.UnmarshalWire(in); err != nil {
			return nil, err
		}
		resp := registered.handlers.Admitter.Admit(c, req)
		return resp.MarshalWire(), nil
	case "route":
		if registered.handlers.Router == nil {
			return nil, errors.New("sdk: plugin has no router")
		}
		var req RouteRequest
		if err := req.UnmarshalWire(in); err != nil {
			return nil, err
		}
		resp := registered.handlers.Router.Route(c, req)
		return resp.MarshalWire(), nil
	}
	return nil, errors.New("sdk: unknown operation " + op)
}
