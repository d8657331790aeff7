package schema

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// junctors evaluates allOf, anyOf, oneOf and not. For a failed anyOf or
// oneOf it reports, like kube-openapi, the branch that came closest.
func (v *validator) junctors(x any, n *node) {
	vv := n.vv
	if len(vv.allOf) > 0 {
		failed := false
		for _, b := range vv.allOf {
			if errs := v.sub(x, b); len(errs) > 0 {
				v.errs = append(v.errs, errs...)
				failed = true
			}
		}
		if failed {
			v.junctorError(x, "must validate all the schemas (allOf)")
		}
	}
	if len(vv.anyOf) > 0 {
		var best field.ErrorList
		ok := false
		for _, b := range vv.anyOf {
			errs := v.sub(x, b)
			if len(errs) == 0 {
				ok = true
				break
			}
			if best == nil || len(errs) < len(best) {
				best = errs
			}
		}
		if !ok {
			v.junctorError(x, "must validate at least one schema (anyOf)")
			v.errs = append(v.errs, best...)
		}
	}
	if len(vv.oneOf) > 0 {
		var best field.ErrorList
		valid := 0
		for _, b := range vv.oneOf {
			errs := v.sub(x, b)
			if len(errs) == 0 {
				valid++
			} else if best == nil || len(errs) < len(best) {
				best = errs
			}
		}
		switch valid {
		case 1:
		case 0:
			v.junctorError(x, "must validate one and only one schema (oneOf). Found none valid")
			v.errs = append(v.errs, best...)
		default:
			v.junctorError(x, fmt.Sprintf("must validate one and only one schema (oneOf). Found %d valid alternatives", valid))
		}
	}
	if vv.not != nil && len(v.sub(x, vv.not)) == 0 {
		v.junctorError(x, "must not validate the schema (not)")
	}
}

func (v *validator) junctorError(x any, msg string) {
	p := v.path()
	v.errs = append(v.errs, field.Invalid(p, x, fmt.Sprintf("%q %s", p.String(), msg)))
}

// sub validates x against a junctor branch in isolation.
func (v *validator) sub(x any, b *node) field.ErrorList {
	saved := v.errs
	v.errs = nil
	v.value(x, b)
	got := v.errs
	v.errs = saved
	return got
}
