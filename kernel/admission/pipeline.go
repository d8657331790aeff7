package admission

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/ujson"
	"weft.dev/weft/sdk"
)

// Caller runs one hook: it is a plugin call.
type Caller func(ctx context.Context, req *sdk.AdmissionRequest) (*sdk.AdmissionResponse, error)

// Hook is one admission hook of one plugin.
type Hook struct {
	Plugin string
	sdk.AdmissionHook
	Call Caller

	nsSel, objSel labels.Selector
	timeout       time.Duration
}

// NamespaceLabels returns the labels of a namespace, for namespace selectors.
type NamespaceLabels func(ctx context.Context, name string) (map[string]string, error)

// Pipeline is the ordered set of hooks. It implements objects.Admission.
type Pipeline struct {
	log        *slog.Logger
	namespaces NamespaceLabels

	mu    sync.RWMutex
	hooks []*Hook // mutating and validating, in run order
}

// New returns an empty pipeline.
func New(log *slog.Logger, namespaces NamespaceLabels) *Pipeline {
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{log: log, namespaces: namespaces}
}

// Set replaces the hooks of one plugin, atomically: a request sees all of a plugin's
// old hooks or all of its new ones. Hooks run ordered by plugin name, then in the order
// the plugin declared them.
func (p *Pipeline) Set(plugin string, hooks []Hook) error {
	compiled := make([]*Hook, 0, len(hooks))
	for i := range hooks {
		h := hooks[i]
		h.Plugin = plugin
		var err error
		if h.nsSel, err = labels.Parse(h.NamespaceSelector); err != nil {
			return fmt.Errorf("hook %s: namespaceSelector: %w", h.Name, err)
		}
		if h.objSel, err = labels.Parse(h.ObjectSelector); err != nil {
			return fmt.Errorf("hook %s: objectSelector: %w", h.Name, err)
		}
		switch h.FailurePolicy {
		case "":
			h.FailurePolicy = "Fail"
		case "Fail", "Ignore":
		default:
			return fmt.Errorf("hook %s: failurePolicy %q is not Fail or Ignore", h.Name, h.FailurePolicy)
		}
		h.timeout = 10 * time.Second
		if h.TimeoutSeconds > 0 {
			h.timeout = time.Duration(min(h.TimeoutSeconds, 30)) * time.Second
		}
		compiled = append(compiled, &h)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := slices.DeleteFunc(slices.Clone(p.hooks), func(h *Hook) bool { return h.Plugin == plugin })
	// Stable: a plugin's hooks keep their declared order.
	p.hooks = append(kept, compiled...)
	slices.SortStableFunc(p.hooks, func(a, b *Hook) int { return strings.Compare(a.Plugin, b.Plugin) })
	return nil
}

func (p *Pipeline) snapshot(mutating bool) []*Hook {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []*Hook
	for _, h := range p.hooks {
		if h.Mutating == mutating {
			out = append(out, h)
		}
	}
	return out
}

// Mutate runs the mutating hooks that match, then reinvokes, once, those that asked
// for it and ran before the object last changed.
func (p *Pipeline) Mutate(ctx context.Context, a *objects.Attributes) ([]string, error) {
	hooks := p.snapshot(true)
	var warnings []string
	lastChange := -1
	ran := map[*Hook]int{}
	run := func(i int, h *Hook) error {
		ok, err := p.matches(ctx, h, a)
		if err != nil || !ok {
			return err
		}
		resp, sent, err := p.call(ctx, h, a)
		if err != nil || resp == nil {
			return err
		}
		warnings = append(warnings, resp.Warnings...)
		body := resp.Object
		if len(resp.Patch) > 0 && a.Object != nil {
			body = sent // patched below, decoded: a.Object is left alone if it fails
		}
		if len(body) > 0 && a.Object != nil {
			obj, err := ujson.UnmarshalObject(body)
			if err != nil {
				return p.failure(h, fmt.Errorf("returned an object that does not decode: %w", err))
			}
			if len(resp.Patch) > 0 {
				if obj, err = applyJSONPatch(obj, resp.Patch); err != nil {
					return p.failure(h, err)
				}
			}
			if !reflect.DeepEqual(obj, a.Object.Object) {
				a.Object.Object = obj
				lastChange = i
			}
		}
		ran[h] = i
		return nil
	}
	for i, h := range hooks {
		if err := run(i, h); err != nil {
			return warnings, err
		}
	}
	for i, h := range hooks {
		if at, ok := ran[h]; ok && h.ReinvocationPolicy == "IfNeeded" && at < lastChange {
			if err := run(len(hooks)+i, h); err != nil {
				return warnings, err
			}
		}
	}
	return warnings, nil
}

// Validate runs every validating hook that matches; any denial denies the request.
func (p *Pipeline) Validate(ctx context.Context, a *objects.Attributes) ([]string, error) {
	var warnings []string
	for _, h := range p.snapshot(false) {
		ok, err := p.matches(ctx, h, a)
		if err != nil {
			return warnings, err
		}
		if !ok {
			continue
		}
		resp, _, err := p.call(ctx, h, a)
		if err != nil {
			return warnings, err
		}
		if resp == nil {
			continue
		}
		warnings = append(warnings, resp.Warnings...)
		for k, v := range resp.AuditAnnotations {
			p.log.Info("admission audit annotation", "hook", h.Name, "plugin", h.Plugin, "key", h.Name+"/"+k, "value", v,
				"kind", a.Kind.Kind.Kind, "namespace", a.Namespace, "name", a.Name, "operation", a.Operation)
		}
	}
	return warnings, nil
}

// call runs a hook with its timeout and turns its verdict into an error. A nil
// response with a nil error means the failure policy let a failed call pass. It also
// returns the object's JSON as sent, which a patch in the response applies to.
func (p *Pipeline) call(ctx context.Context, h *Hook, a *objects.Attributes) (*sdk.AdmissionResponse, []byte, error) {
	req := &sdk.AdmissionRequest{
		Hook: h.Name, Operation: string(a.Operation),
		Kind:      sdk.GVK{Group: a.Kind.Group, Version: a.Kind.Version, Kind: a.Kind.Kind.Kind},
		Namespace: a.Namespace, Name: a.Name, Subresource: a.Subresource,
		User: sdk.UserInfo{Username: a.User.Name, Groups: a.User.Groups}, DryRun: a.DryRun,
	}
	var err error
	if a.Object != nil {
		if req.Object, err = ujson.Marshal(a.Object.Object); err != nil {
			return nil, nil, apierrors.NewInternalError(err)
		}
	}
	if a.OldObject != nil {
		if req.OldObject, err = ujson.Marshal(a.OldObject.Object); err != nil {
			return nil, nil, apierrors.NewInternalError(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	resp, err := h.Call(cctx, req)
	if err != nil {
		return nil, nil, p.failure(h, err)
	}
	if !resp.Allowed {
		return nil, nil, denial(h, a, resp.Status)
	}
	return resp, req.Object, nil
}

// failure applies a hook's failure policy to an error calling it.
func (p *Pipeline) failure(h *Hook, err error) error {
	if h.FailurePolicy == "Ignore" {
		p.log.Warn("admission hook failed; ignored by its failure policy", "hook", h.Name, "plugin", h.Plugin, "err", err)
		return nil
	}
	return apierrors.NewInternalError(fmt.Errorf("failed calling admission hook %q of plugin %q: %w", h.Name, h.Plugin, err))
}

// denial is the error a client sees when a hook denies its request, worded as
// kube-apiserver words a webhook's denial.
func denial(h *Hook, a *objects.Attributes, st *sdk.Status) error {
	code, reason, msg := int32(http.StatusForbidden), metav1.StatusReasonForbidden, "denied the request"
	if st != nil {
		if st.Code != 0 {
			code = st.Code
		}
		if st.Reason != "" {
			reason = metav1.StatusReason(st.Reason)
		}
		if st.Message != "" {
			msg = st.Message
		}
	}
	// A validation failure already names the object and its fields, as the API's own
	// validation does ("Pod \"x\" is invalid: ..."); it reads as kubectl users know
	// it. Other denials say which hook refused, as webhook denials do.
	if reason != metav1.StatusReasonInvalid {
		msg = fmt.Sprintf("admission hook %q denied the request: %s", h.Name, msg)
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg,
	}}
}

// matches applies a hook's rules and selectors to a request.
func (p *Pipeline) matches(ctx context.Context, h *Hook, a *objects.Attributes) (bool, error) {
	if !slices.ContainsFunc(h.Rules, func(r sdk.AdmissionRule) bool { return ruleMatches(r, a) }) {
		return false, nil
	}
	if !h.objSel.Empty() {
		if !selects(h.objSel, a.Object) && !selects(h.objSel, a.OldObject) {
			return false, nil
		}
	}
	if !h.nsSel.Empty() {
		switch {
		case a.Kind.Group == "" && a.Kind.Kind.Kind == "Namespace":
			obj := a.Object
			if obj == nil {
				obj = a.OldObject
			}
			if !h.nsSel.Matches(labels.Set(obj.GetLabels())) {
				return false, nil
			}
		case a.Kind.Namespaced:
			nsLabels, err := p.namespaces(ctx, a.Namespace)
			if err != nil {
				return false, err
			}
			if !h.nsSel.Matches(labels.Set(nsLabels)) {
				return false, nil
			}
		}
	}
	return true, nil
}

func selects(sel labels.Selector, obj *unstructured.Unstructured) bool {
	return obj != nil && sel.Matches(labels.Set(obj.GetLabels()))
}

func ruleMatches(r sdk.AdmissionRule, a *objects.Attributes) bool {
	any := func(list []string, v string) bool { return slices.Contains(list, "*") || slices.Contains(list, v) }
	return any(r.Groups, a.Kind.Group) && any(r.Resources, a.Kind.Resource) &&
		any(r.Operations, string(a.Operation)) && r.Subresource == a.Subresource
}

// Chain runs admission plugins one after another: all mutations, then all validations.
type Chain []objects.Admission

// Mutate implements objects.Admission.
func (c Chain) Mutate(ctx context.Context, a *objects.Attributes) ([]string, error) {
	var warnings []string
	for _, x := range c {
		w, err := x.Mutate(ctx, a)
		warnings = append(warnings, w...)
		if err != nil {
			return warnings, err
		}
	}
	return warnings, nil
}

// Validate implements objects.Admission.
func (c Chain) Validate(ctx context.Context, a *objects.Attributes) ([]string, error) {
	var warnings []string
	for _, x := range c {
		w, err := x.Validate(ctx, a)
		warnings = append(warnings, w...)
		if err != nil {
			return warnings, err
		}
	}
	return warnings, nil
}

// HooksOf turns a plugin manifest's admission hooks into pipeline hooks that call it.
func HooksOf(m sdk.Manifest, call Caller) []Hook {
	hooks := make([]Hook, len(m.Admission))
	for i, h := range m.Admission {
		hooks[i] = Hook{AdmissionHook: h, Call: call}
	}
	return hooks
}
