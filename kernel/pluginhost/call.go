package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
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
	if size > maxCallRequest {
		st := status{Kind: "Status", Code: http.StatusRequestEntityTooLarge, Reason: "RequestEntityTooLarge", Message: fmt.Sprintf("weft.call request of %d bytes exceeds %d", size, maxCallRequest)}
		return reply(st.Code, st.encode())
	}
	raw, ok := m.Memory().Read(ptr, size)
	if !ok {
		panic("weft.call: request out of bounds") // traps the guest
	}
	// The request aliases guest memory, which the kernel call below must not keep: a
	// copy costs less than auditing every path that might.
	var req sdk.CallRequest
	if err := req.UnmarshalWire(slices.Clone(raw)); err != nil {
		st := status{Kind: "Status", Code: http.StatusBadRequest, Reason: "BadRequest", Message: "weft.call: " + err.Error()}
		return reply(st.Code, st.encode())
	}
	o := sdk.Op(op)
	if o == sdk.OpBatch {
		return reply(0, p.batch(ctx, req.Batch))
	}
	code, body := p.serve(ctx, o, &req)
	return reply(code, body)
}

// maxBatch bounds the operations of one batch, and batchParallelism how many of them
// run at once.
const (
	maxBatch         = 1024
	batchParallelism = 32
)

// batch runs a batch's operations concurrently; each is checked and audited alone.
func (p *Plugin) batch(ctx context.Context, items []sdk.BatchItem) []byte {
	results := make([]sdk.BatchResult, len(items))
	if len(items) > maxBatch {
		st := status{Kind: "Status", Code: http.StatusRequestEntityTooLarge, Reason: "RequestEntityTooLarge", Message: fmt.Sprintf("weft.call batch of %d operations exceeds %d", len(items), maxBatch)}
		for i := range results {
			results[i] = sdk.BatchResult{Code: st.Code, Body: st.encode()}
		}
		return sdk.EncodeBatchResults(results)
	}
	sem := make(chan struct{}, batchParallelism)
	var wg sync.WaitGroup
	for i := range items {
		if items[i].Op == sdk.OpBatch {
			st := status{Kind: "Status", Code: http.StatusBadRequest, Reason: "BadRequest", Message: "weft.call: batches do not nest"}
			results[i] = sdk.BatchResult{Code: st.Code, Body: st.encode()}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			code, body := p.serve(ctx, items[i].Op, &items[i].Request)
			results[i] = sdk.BatchResult{Code: code, Body: body}
		}()
	}
	wg.Wait()
	return sdk.EncodeBatchResults(results)
}

// serve authorizes one operation, hands it to the kernel and audits it.
func (p *Plugin) serve(ctx context.Context, o sdk.Op, req *sdk.CallRequest) (int32, []byte) {
	fail := func(st status) (int32, []byte) { return st.Code, st.encode() }
	rec := AuditRecord{
		Time: time.Now().UTC(), Plugin: p.Manifest.Name, Version: p.Manifest.Version, Digest: p.Digest,
		Verb: o.Verb(), Group: req.Group, Resource: req.Resource, Subresource: o.Subresource(),
		Namespace: req.Namespace, Name: req.Name,
	}
	if o.Verb() == "" && o != sdk.OpConfig {
		return fail(status{Kind: "Status", Code: http.StatusBadRequest, Reason: "BadRequest", Message: fmt.Sprintf("weft.call: unknown operation %d", o)})
	}
	if o != sdk.OpConfig && !p.permitted(o, req) {
		p.stats.deny()
		msg := fmt.Sprintf("plugin %q may not %s %s in %s: not granted", p.Manifest.Name, o.Verb(), resourceName(req.Group, req.Resource, o.Subresource()), namespaceName(req.Namespace))
		rec.Outcome, rec.Code, rec.Message = "denied", http.StatusForbidden, msg
		p.audit(ctx, rec)
		return fail(status{Kind: "Status", Code: http.StatusForbidden, Reason: "Forbidden", Message: msg})
	}
	if p.kernel == nil {
		return fail(status{Kind: "Status", Code: http.StatusServiceUnavailable, Reason: "ServiceUnavailable", Message: "weft.call: this host serves no kernel requests"})
	}
	out, err := p.kernel.Call(ctx, Caller{Plugin: p.Manifest.Name, Version: p.Manifest.Version, Digest: p.Digest}, o, req)
	if o.Writes() {
		if rec.Name == "" {
			rec.Name = objectName(out, req.Object)
		}
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
	return 0, out
}

// objectName names the object of a write that carried it only in its body: the
// written object's name, or else the name (or generateName) the request asked for.
func objectName(written, requested []byte) string {
	var m struct {
		Metadata struct {
			Name         string `json:"name"`
			GenerateName string `json:"generateName"`
		} `json:"metadata"`
	}
	if json.Unmarshal(written, &m) == nil && m.Metadata.Name != "" {
		return m.Metadata.Name
	}
	if json.Unmarshal(requested, &m) == nil && m.Metadata.Name != "" {
		return m.Metadata.Name
	}
	return m.Metadata.GenerateName
}

func (s status) encode() []byte {
	b, _ := json.Marshal(s)
	return b
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
	return p.Permits(o.Verb(), group, res, ns)
}

// Permits reports whether the plugin's grants allow verb on resource (with
// "/subresource", if any) of group in namespace ("" for all namespaces or the cluster
// scope, which only a grant without namespaces or with "*" covers).
func (p *Plugin) Permits(verb, group, resource, namespace string) bool {
	for _, g := range p.Grants() {
		if (g.Group == group || g.Group == "*") &&
			(g.Resource == resource || g.Resource == "*") &&
			(slices.Contains(g.Verbs, verb) || slices.Contains(g.Verbs, "*")) &&
			(len(g.Namespaces) == 0 || slices.Contains(g.Namespaces, "*") || namespace != "" && slices.Contains(g.Namespaces, namespace)) {
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
