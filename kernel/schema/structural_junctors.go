package schema

import (
	"reflect"
	"regexp"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// checkJunctors checks allOf/anyOf/oneOf/not. They may only add value
// validations: anything that changes the shape there would make pruning,
// defaulting and apply ambiguous. The one exception is the
// anyOf: [{type: integer}, {type: string}] idiom for int-or-string.
func checkJunctors(s, structural *spec.Schema, intOrString bool, p *field.Path) field.ErrorList {
	return checkJunctorBranches(s, structural, intOrString && isIntOrStringAnyOf(s.AnyOf),
		intOrString && len(s.AllOf) > 0 && isIntOrStringAnyOf(s.AllOf[0].AnyOf), p)
}

// checkJunctorBranches checks the junctors of v. anyOfTyped exempts v's
// anyOf branches from the no-type rule, firstAllOfTyped the anyOf branches
// of v.allOf[0]: the two places Kubernetes accepts the int-or-string idiom.
func checkJunctorBranches(v, structural *spec.Schema, anyOfTyped, firstAllOfTyped bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range v.AnyOf {
		errs = append(errs, checkValueValidation(&v.AnyOf[i], structural, anyOfTyped, false, p.Child("anyOf").Index(i))...)
	}
	for i := range v.AllOf {
		errs = append(errs, checkValueValidation(&v.AllOf[i], structural, false, i == 0 && firstAllOfTyped, p.Child("allOf").Index(i))...)
	}
	for i := range v.OneOf {
		errs = append(errs, checkValueValidation(&v.OneOf[i], structural, false, false, p.Child("oneOf").Index(i))...)
	}
	if v.Not != nil {
		errs = append(errs, checkValueValidation(v.Not, structural, false, false, p.Child("not"))...)
	}
	return errs
}

func isIntOrStringAnyOf(branches []spec.Schema) bool {
	return len(branches) == 2 &&
		reflect.DeepEqual(branches[0], spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"integer"}}}) &&
		reflect.DeepEqual(branches[1], spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}})
}

// checkValueValidation checks one junctor branch against the structural
// node it constrains (for the "specified outside" completeness rule).
func checkValueValidation(v, structural *spec.Schema, typeAllowed, anyOfTyped bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	forbid := func(name, detail string) {
		errs = append(errs, field.Forbidden(p.Child(name), detail))
	}
	if len(v.Type) > 0 && !typeAllowed {
		forbid("type", "must be empty to be structural")
	}
	if v.AdditionalProperties != nil {
		forbid("additionalProperties", "must be undefined to be structural")
	}
	if v.Default != nil {
		forbid("default", "must be undefined to be structural")
	}
	if v.Title != "" {
		forbid("title", "must be empty to be structural")
	}
	if v.Description != "" {
		forbid("description", "must be empty to be structural")
	}
	if v.Nullable {
		forbid("nullable", "must be false to be structural")
	}
	if v.Ref.String() != "" {
		forbid("$ref", "$ref is not supported: structural schemas are fully inlined")
	}
	for _, ext := range []string{extPreserveUnknown, extEmbedded, extIntOrString, extListMapKeys, extListType, extMapType} {
		if _, ok := v.Extensions[ext]; ok {
			forbid(ext, "must be undefined to be structural")
		}
	}
	if v.Pattern != "" {
		if _, err := regexp.Compile(v.Pattern); err != nil {
			errs = append(errs, field.Invalid(p.Child("pattern"), v.Pattern, "must be a valid regular expression, but isn't: "+err.Error()))
		}
	}
	for _, k := range sortedKeys(v.Properties) {
		pp := p.Child("properties").Key(k)
		if k == "metadata" {
			errs = append(errs, field.Forbidden(pp, "must not be specified in a nested context"))
			continue
		}
		sub := v.Properties[k]
		var next *spec.Schema
		if structural != nil {
			if sp, ok := structural.Properties[k]; ok {
				next = &sp
			} else if ap := structural.AdditionalProperties; ap != nil && ap.Schema != nil {
				next = ap.Schema
			} else if !isPreserving(structural) {
				errs = append(errs, field.Required(pp, "must be specified outside of value validations (allOf, anyOf, oneOf, not) too"))
			}
		}
		errs = append(errs, checkValueValidation(&sub, next, false, false, pp)...)
	}
	if v.Items != nil {
		var next *spec.Schema
		if structural != nil && structural.Items != nil {
			next = structural.Items.Schema
		} else if structural != nil && !isPreserving(structural) {
			errs = append(errs, field.Required(p.Child("items"), "must be specified outside of value validations (allOf, anyOf, oneOf, not) too"))
		}
		if v.Items.Schema != nil {
			errs = append(errs, checkValueValidation(v.Items.Schema, next, false, false, p.Child("items"))...)
		}
	}
	return append(errs, checkJunctorBranches(v, structural, anyOfTyped, false, p)...)
}
