package core

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"

	"weft.dev/weft/sdk"
)

// updatableSpecFields is the list Kubernetes' ValidatePodUpdate prints.
var updatableSpecFields = strings.Join([]string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}, ",")

// validatePodUpdate allows a pod's spec to change only where Kubernetes allows it.
func validatePodUpdate(errs *errorList, s, old *podSpec, raw, oldRaw json.RawMessage) {
	if !containerUpdates(errs, "spec.containers", s.Containers, old.Containers) {
		return
	}
	if !containerUpdates(errs, "spec.initContainers", s.InitContainers, old.InitContainers) {
		return
	}
	// activeDeadlineSeconds may be added or lowered, not removed or raised.
	if a := s.ActiveDeadlineSeconds; a != nil {
		if *a < 0 || *a > math.MaxInt32 {
			errs.invalid("spec.activeDeadlineSeconds", num(*a), inclusiveRangeError(0, math.MaxInt32))
			return
		}
		if o := old.ActiveDeadlineSeconds; o != nil && *o < *a {
			errs.invalid("spec.activeDeadlineSeconds", num(*a), "must be less than or equal to previous value")
			return
		}
	} else if old.ActiveDeadlineSeconds != nil {
		errs.invalid("spec.activeDeadlineSeconds", "null", "must not update from a positive integer to nil value")
	}
	// Existing tolerations stay, but for their tolerationSeconds.
	for _, o := range old.Tolerations {
		found := false
		for _, t := range s.Tolerations {
			if o.Key == t.Key && o.Operator == t.Operator && o.Value == t.Value && o.Effect == t.Effect {
				found = true
				break
			}
		}
		if !found {
			errs.forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")
			break
		}
	}
	// Scheduling gates may only be removed.
	for i, g := range s.SchedulingGates {
		if !slices.ContainsFunc(old.SchedulingGates, func(o schedulingGate) bool { return o.Name == g.Name }) {
			errs.forbidden(idx("spec.schedulingGates", i)+".name", "only deletion is allowed, but found new scheduling gate '"+g.Name+"'")
		}
	}
	if bytes.Equal(raw, oldRaw) {
		return
	}
	// The rest of the spec must not change. First, cheaply, byte for byte without the
	// fields that may change: the host encodes objects canonically (sorted keys), so
	// equal specs encode equally. Only when that fails are the specs decoded and
	// compared whole, with the fields that may change set back to their old values.
	dropGrace := old.TerminationGracePeriodSeconds != nil && *old.TerminationGracePeriodSeconds < 0 &&
		s.TerminationGracePeriodSeconds != nil && *s.TerminationGracePeriodSeconds == 1
	if a, err := stripSpec(raw, dropGrace); err == nil {
		if b, err := stripSpec(oldRaw, dropGrace); err == nil && bytes.Equal(a, b) {
			return
		}
	}
	var newSpec, oldSpec map[string]any
	if json.Unmarshal(raw, &newSpec) != nil || json.Unmarshal(oldRaw, &oldSpec) != nil {
		errs.forbidden("spec", "pod updates may not change fields other than "+updatableSpecFields)
		return
	}
	if newSpec == nil {
		newSpec = map[string]any{}
	}
	for _, f := range []string{"containers", "initContainers"} {
		nc, _ := newSpec[f].([]any)
		oc, _ := oldSpec[f].([]any)
		for i := range min(len(nc), len(oc)) {
			n, _ := nc[i].(map[string]any)
			o, _ := oc[i].(map[string]any)
			if n == nil || o == nil {
				continue
			}
			if img, ok := o["image"]; ok {
				n["image"] = img
			} else {
				delete(n, "image")
			}
		}
	}
	restore := func(f string) {
		if v, ok := oldSpec[f]; ok {
			newSpec[f] = v
		} else {
			delete(newSpec, f)
		}
	}
	restore("activeDeadlineSeconds")
	restore("tolerations")
	restore("schedulingGates")
	if o, n := old.TerminationGracePeriodSeconds, s.TerminationGracePeriodSeconds; o != nil && *o < 0 && n != nil && *n == 1 {
		restore("terminationGracePeriodSeconds")
	}
	if reflect.DeepEqual(newSpec, oldSpec) {
		return
	}
	var diff strings.Builder
	specDiff(&diff, "spec", oldSpec, newSpec, 10)
	errs.forbidden("spec", "pod updates may not change fields other than "+updatableSpecFields+"\n"+diff.String())
}

// stripSpec copies a spec without the fields a pod update may change: images,
// activeDeadlineSeconds, tolerations, schedulingGates and, when dropGrace,
// terminationGracePeriodSeconds.
func stripSpec(raw []byte, dropGrace bool) ([]byte, error) {
	r := sdk.NewJSONReader(raw)
	if r.Null() {
		return []byte("null"), r.End()
	}
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	n := 0
	key := func(k []byte) {
		if n++; n > 1 {
			out = append(out, ',')
		}
		out = appendString(out, string(k))
		out = append(out, ':')
	}
	r.Object(func(k []byte) {
		switch string(k) {
		case "activeDeadlineSeconds", "tolerations", "schedulingGates":
			r.Skip()
		case "terminationGracePeriodSeconds":
			if dropGrace {
				r.Skip()
				return
			}
			key(k)
			out = append(out, r.Raw()...)
		case "containers", "initContainers":
			key(k)
			if r.Kind() != sdk.JSONArray {
				out = append(out, r.Raw()...)
				return
			}
			out = append(out, '[')
			r.Array(func(i int) {
				if i > 0 {
					out = append(out, ',')
				}
				if r.Kind() != sdk.JSONObject {
					out = append(out, r.Raw()...)
					return
				}
				out = append(out, '{')
				m := 0
				r.Object(func(k []byte) {
					if string(k) == "image" {
						r.Skip()
						return
					}
					if m++; m > 1 {
						out = append(out, ',')
					}
					out = appendString(out, string(k))
					out = append(out, ':')
					out = append(out, r.Raw()...)
				})
				out = append(out, '}')
			})
			out = append(out, ']')
		default:
			key(k)
			out = append(out, r.Raw()...)
		}
	})
	out = append(out, '}')
	return out, r.End()
}

// containerUpdates checks what may change in containers; false stops validation, as
// adding or removing containers does.
func containerUpdates(errs *errorList, base string, cs, old []container) bool {
	if len(cs) != len(old) {
		errs.forbidden(base, "pod updates may not add or remove containers")
		return false
	}
	for i := range cs {
		if cs[i].Image == "" {
			errs.required(idx(base, i)+".image", "")
		}
	}
	return true
}

// specDiff writes the paths where two decoded specs differ, old value then new, at
// most budget lines: Kubernetes prints a diff of the spec structs here.
func specDiff(b *strings.Builder, path string, old, cur any, budget int) int {
	if budget <= 0 || reflect.DeepEqual(old, cur) {
		return budget
	}
	switch o := old.(type) {
	case map[string]any:
		if c, ok := cur.(map[string]any); ok {
			keys := sortedKeys(o)
			for k := range c {
				if _, ok := o[k]; !ok {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				budget = specDiff(b, path+"."+k, o[k], c[k], budget)
			}
			return budget
		}
	case []any:
		if c, ok := cur.([]any); ok && len(c) == len(o) {
			for i := range o {
				budget = specDiff(b, idx(path, i), o[i], c[i], budget)
			}
			return budget
		}
	}
	b.WriteString("  ")
	b.WriteString(path)
	b.WriteString(": ")
	b.WriteString(jsonValue(old))
	b.WriteString(" -> ")
	b.WriteString(jsonValue(cur))
	b.WriteString("\n")
	return budget - 1
}

func jsonValue(v any) string {
	if v == nil {
		return "<none>"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
