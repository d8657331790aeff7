package schema

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// embeddedResource applies apiextensions-apiserver's checks of an
// x-kubernetes-embedded-resource: apiVersion and kind are required and well
// formed. Its metadata, like any object's, is the kernel's to validate.
func (v *validator) embeddedResource(m map[string]any) {
	for _, k := range []string{"apiVersion", "kind"} {
		v.push(seg{key: k})
		x, found := m[k]
		str, isString := x.(string)
		switch {
		case !found:
			v.errs = append(v.errs, field.Required(v.path(), ""))
		case !isString: // the property's type check reports it
		case str == "":
			v.errs = append(v.errs, field.Invalid(v.path(), str, "must not be empty"))
		case k == "apiVersion":
			if _, err := schema.ParseGroupVersion(str); err != nil {
				v.errs = append(v.errs, field.Invalid(v.path(), str, err.Error()))
			}
		default:
			if errs := validation.IsDNS1035Label(strings.ToLower(str)); len(errs) > 0 {
				v.errs = append(v.errs, field.Invalid(v.path(), str, "may have mixed case, but should otherwise match: "+strings.Join(errs, ",")))
			}
		}
		v.pop()
	}
}
