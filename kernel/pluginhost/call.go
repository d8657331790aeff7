package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/tetratelabs/wazero/api"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"weft.dev/weft/sdk"
)

// Kernel serves the requests plugins make through weft.call: reads from the kernel's
// caches and writes through the API's normal write path. Errors should carry a
// Kubernetes Status (apimachinery's StatusError does).
type Kernel interface {
	Call(ctx context.Context, caller Caller, op sdk.Op, req *sdk.CallRequest) ([]byte, error)
}

// Caller identifies the plugin behind a call, for authorization and audit.
type Caller struct {
	Plugin  string
	Version string
	Digest  string
}

// Auditor records what plugins write, and what they were refused.
type Auditor interface {
	Audit(ctx context.Context, r AuditRecord)
}

// AuditRecord is one plugin write or refused request.
type AuditRecord struct {
	Time        time.Time `json:"time"`
	Plugin      string    `json:"plugin"`
	Version     string    `json:"version"`
	Digest      string    `json:"digest"`
	Verb        string    `json:"verb"`
	Group       string    `json:"group"`
	Resource    string    `json:"resource"`
	Subresource string    `json:"subresource,omitempty"`
	Namespace   string    `json:"namespace,omitempty"`
	Name        string    `json:"name,omitempty"`
	// Outcome is allowed (the kernel accepted it), denied (no permission) or error.
	Outcome string `json:"outcome"`
	Code    int32  `json:"code"`
	Message string `json:"message,omitempty"`
}

// maxCallRequest bounds one request a guest sends through weft.call.
const maxCallRequest = 4 << 20

// status is what a failed weft.call returns to the guest.
type status struct {
	Kind    string `json:"kind"`
	Code    int32  `json:"code"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

func statusOf(err error) status {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		return status{Kind: "Status", Code: st.Code, Reason: string(st.Reason), Message: st.Message}
	}
	return status{Kind: "Status", Code: http.StatusInternalServerError, Reason: "InternalError", Message: err.Error()}
}

// hostCall is weft.call: decode, authorize, hand to the kernel, audit writes, and hold
// the result for the guest's next weft.take.
func hostCall(ctx context.Context, m api.Module, op int32, ptr, size uint32) uint64 {
	cs, _ := ctx.Value(callKey{}).(*callState)
	if cs == nil {
		panic("weft.call outside a call")
	}
	p := cs.plugin
	reply := func(code int32, body []byte) uint64 {
		cs.input = body
		return uint64(uint32(code))<<32 | uint64(len(body))
	}
	fail := func(st status) uint64 {
		b, _ := json.Marshal(st)
		return reply(st.Code, b)
	}
	if size > maxCallRequest {
		return fail(status{Kind: "Status", Code: http.StatusRequestEntityTooLarge, Reason: "RequestEntityTooLarge", Message: fmt.Sprintf("weft.call request of %d bytes exceeds %d", size, maxCallRequest)})
	}
	raw, ok := m.Memory().Read(ptr, size)
	if !ok {
		panic("weft.call: request out of bounds") // traps the guest
	}
	var req sdk.CallRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return fail(status{Kind: "Status", Code: http.StatusBadRequest, Reason: "BadRequest", Message: "weft.call: " + err.Error()})
	}
	o := sdk.Op(op)
	rec := AuditRecord{
		Time: time.Now().UTC(), Plugin: p.Manifest.Name, Version: p.Manifest.Version, Digest: p.Digest,
		Verb: o.Verb(), Group: req.Group, Resource: req.Resource, Subresource: o.Subresource(),
		Namespace: req.Namespace, Name: req.Name,
	}
	if o.Verb() == "" && o != sdk.OpConfig {
		return fail(status{Kind: "Status", Code: http.StatusBadRequest, Reason: "BadRequest", Message: fmt.Sprintf("weft.call: unknown operation %d", op)})
	}
	if o != sdk.OpConfig && !p.permitted(o, &req) {
		p.stats.deny()
		msg := fmt.Sprintf("plugin %q may not %s %s in %s: not granted", p.Manifest.Name, o.Verb(), resourceName(req.Group, req.Resource, o.Subresource()), namespaceName(req.Namespace))
		rec.Outcome, rec.Code, rec.Message = "denied", http.StatusForbidden, msg
		p.audit(ctx, rec)
		return fail(status{Kind: "Status", Code: http.StatusForbidden, Reason: "Forbidden", Message: msg})
	}
	if p.kernel == nil {
		return fail(status{Kind: "Status", Code: http.StatusServiceUnavailable, Reason: "ServiceUnavailable", Message: "weft.call: this host serves no kernel requests"})
	}
	out, err := p.kernel.Call(ctx, Caller{Plugin: p.Manifest.Name, Version: p.Manifest.Version, Digest: p.Digest}, o, &req)
	if o.Writes() {
		rec.Outcome, rec.Code = "allowed", http.StatusOK
		if err != nil {
			st := statusOf(err)
			rec.Outcome, rec.Code, rec.Message = "error", st.Code, st.Message
		}
		p.audit(ctx, rec)
	}
	if err != nil {
		return fail(statusOf(err))
	}
	return reply(0, out)
}

func (p *Plugin) audit(ctx context.Context, r AuditRecord) {
	if p.auditor != nil {
		p.auditor.Audit(ctx, r)
	}
}

// permitted checks a request against what the operator granted. An event is a
// create of core events in the namespace of the object it is about.
func (p *Plugin) permitted(o sdk.Op, req *sdk.CallRequest) bool {
	group, res, ns := req.Group, req.Resource, req.Namespace
	if o == sdk.OpEvent {
		group, res = "", "events"
		if ns == "" {
			ns = "default"
		}
	}
	if sub := o.Subresource(); sub != "" {
		res += "/" + sub
	}
	for _, g := range p.Grants() {
		if (g.Group == group || g.Group == "*") &&
			(g.Resource == res || g.Resource == "*") &&
			(slices.Contains(g.Verbs, o.Verb()) || slices.Contains(g.Verbs, "*")) &&
			(len(g.Namespaces) == 0 || slices.Contains(g.Namespaces, "*") || slices.Contains(g.Namespaces, ns)) {
			return true
		}
	}
	return false
}

func resourceName(group, resource, sub string) string {
	name := resource
	if group != "" {
		name += "." + group
	}
	if sub != "" {
		name += "/" + sub
	}
	return name
}

func namespaceName(ns string) string {
	if ns == "" {
		return "the cluster scope"
	}
	return "namespace " + ns
}
