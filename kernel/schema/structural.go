package schema

import (
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Extension names Kubernetes defines for structural schemas.
const (
	extIntOrString     = "x-kubernetes-int-or-string"
	extPreserveUnknown = "x-kubernetes-preserve-unknown-fields"
	extEmbedded        = "x-kubernetes-embedded-resource"
	extListType        = "x-kubernetes-list-type"
	extListMapKeys     = "x-kubernetes-list-map-keys"
	extMapType         = "x-kubernetes-map-type"
	extPatchStrategy   = "x-kubernetes-patch-strategy"
	extPatchMergeKey   = "x-kubernetes-patch-merge-key"
	extGVK             = "x-kubernetes-group-version-kind"
)

// level is where a node sits; some rules and messages depend on it.
type level int

const (
	rootLevel level = iota
	itemLevel
	fieldLevel
)

// checkStructural applies the CRD structural-schema rules (as
// apiextensions-apiserver's ValidateStructural and the CRD schema
// validation do) to a node and its subtree, with the same messages.
func checkStructural(s *spec.Schema, p *field.Path, lvl level) field.ErrorList {
	var errs field.ErrorList
	typ := ""
	switch len(s.Type) {
	case 0:
	case 1:
		typ = s.Type[0]
	default:
		errs = append(errs, field.Invalid(p.Child("type"), strings.Join(s.Type, ","), "must be a single type"))
	}
	if typ != "" && parseType(typ) == typeUnset {
		errs = append(errs, field.NotSupported(p.Child("type"), typ, []string{"array", "boolean", "integer", "number", "object", "string"}))
	}
	if s.Ref.String() != "" {
		errs = append(errs, field.Forbidden(p.Child("$ref"), "$ref is not supported: structural schemas are fully inlined"))
	}

	intOrString, e1 := boolExt(s, extIntOrString, p)
	preserve, e2 := boolExt(s, extPreserveUnknown, p)
	embedded, e3 := boolExt(s, extEmbedded, p)
	errs = append(append(append(errs, e1...), e2...), e3...)

	switch {
	case embedded && typ != "object":
		if typ == "" {
			errs = append(errs, field.Required(p.Child("type"), "must be object if x-kubernetes-embedded-resource is true"))
		} else {
			errs = append(errs, field.Invalid(p.Child("type"), typ, "must be object if x-kubernetes-embedded-resource is true"))
		}
	case typ == "" && !intOrString && !preserve:
		errs = append(errs, field.Required(p.Child("type"), emptyTypeDetail(lvl)))
	}
	if intOrString {
		if preserve {
			errs = append(errs, field.Invalid(p.Child(extPreserveUnknown), true, "must be false if x-kubernetes-int-or-string is true"))
		}
		if embedded {
			errs = append(errs, field.Invalid(p.Child(extEmbedded), true, "must be false if x-kubernetes-int-or-string is true"))
		}
		if typ != "" {
			errs = append(errs, field.Forbidden(p.Child("type"), "must be empty if x-kubernetes-int-or-string is true"))
		}
	}
	if embedded && !preserve && len(s.Properties) == 0 {
		errs = append(errs, field.Required(p.Child("properties"), "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"))
	}
	if lvl == rootLevel && s.Nullable {
		errs = append(errs, field.Forbidden(p.Child("nullable"), "must be false at the root"))
	}

	errs = append(errs, checkShape(s, typ, embedded, p, lvl)...)
	errs = append(errs, checkListAndMapTypes(s, typ, p)...)
	errs = append(errs, checkPatchExtensions(s, p)...)
	if s.Pattern != "" {
		if _, err := regexp.Compile(s.Pattern); err != nil {
			errs = append(errs, field.Invalid(p.Child("pattern"), s.Pattern, "must be a valid regular expression, but isn't: "+err.Error()))
		}
	}
	errs = append(errs, checkJunctors(s, s, intOrString, p)...)
	return errs
}

func emptyTypeDetail(lvl level) string {
	switch lvl {
	case rootLevel:
		return "must not be empty at the root"
	case itemLevel:
		return "must not be empty for specified array items"
	}
	return "must not be empty for specified object fields"
}

// checkShape checks that properties, additionalProperties and items agree
// with the type and recurses into them.
func checkShape(s *spec.Schema, typ string, embedded bool, p *field.Path, lvl level) field.ErrorList {
	var errs field.ErrorList
	for _, kw := range []struct {
		name string
		set  bool
	}{
		{"patternProperties", len(s.PatternProperties) > 0},
		{"dependencies", len(s.Dependencies) > 0},
		{"additionalItems", s.AdditionalItems != nil},
		{"definitions", len(s.Definitions) > 0},
	} {
		if kw.set {
			errs = append(errs, field.Forbidden(p.Child(kw.name), "must not be used in a structural schema"))
		}
	}
	if s.Items != nil {
		switch {
		case typ != "array":
			errs = append(errs, field.Forbidden(p.Child("items"), "must only be used with type array"))
		case s.Items.Schema == nil || len(s.Items.Schemas) > 0:
			errs = append(errs, field.Forbidden(p.Child("items"), "must be a single schema"))
		default:
			errs = append(errs, checkStructural(s.Items.Schema, p.Child("items"), itemLevel)...)
		}
	} else if typ == "array" {
		errs = append(errs, field.Required(p.Child("items"), "must be specified"))
	}
	if len(s.Properties) > 0 && typ != "object" && typ != "" {
		errs = append(errs, field.Forbidden(p.Child("properties"), "must only be used with type object"))
	}
	if ap := s.AdditionalProperties; ap != nil {
		switch {
		case lvl == rootLevel:
			errs = append(errs, field.Forbidden(p.Child("additionalProperties"), "must not be used at the root"))
		case embedded:
			errs = append(errs, field.Forbidden(p.Child("additionalProperties"), "must not be used if x-kubernetes-embedded-resource is set"))
		case len(s.Properties) > 0:
			errs = append(errs, field.Forbidden(p.Child("additionalProperties"), "additionalProperties and properties are mutual exclusive"))
		case typ != "object":
			errs = append(errs, field.Forbidden(p.Child("additionalProperties"), "must only be used with type object"))
		case ap.Schema == nil && !ap.Allows:
			errs = append(errs, field.Forbidden(p.Child("additionalProperties"), "must not be false"))
		}
		if ap.Schema != nil {
			errs = append(errs, checkStructural(ap.Schema, p.Child("additionalProperties"), fieldLevel)...)
		}
	}
	for _, k := range sortedKeys(s.Properties) {
		prop := s.Properties[k]
		errs = append(errs, checkStructural(&prop, p.Child("properties").Key(k), fieldLevel)...)
	}
	return errs
}

// checkListAndMapTypes enforces the x-kubernetes-list-type and
// x-kubernetes-map-type rules that server-side apply depends on.
func checkListAndMapTypes(s *spec.Schema, typ string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	lt, hasLT := s.Extensions[extListType]
	keys, keysErr := stringListExt(s, extListMapKeys)
	if keysErr != nil {
		errs = append(errs, field.Invalid(p.Child(extListMapKeys), s.Extensions[extListMapKeys], "must be a list of strings"))
	}
	if hasLT {
		ltStr, _ := lt.(string)
		if typ != "array" {
			errs = append(errs, field.Invalid(p.Child("type"), typ, "must be array if x-kubernetes-list-type is specified"))
		}
		var items *spec.Schema
		if s.Items != nil {
			items = s.Items.Schema
		}
		switch ltStr {
		case "atomic":
		case "set":
			errs = append(errs, checkSetItems(items, p)...)
		case "map":
			errs = append(errs, checkMapKeys(items, keys, p)...)
		default:
			errs = append(errs, field.NotSupported(p.Child(extListType), lt, []string{"atomic", "set", "map"}))
		}
	}
	if len(keys) > 0 && lt != "map" {
		if !hasLT {
			errs = append(errs, field.Required(p.Child(extListType), "must be map if x-kubernetes-list-map-keys is non-empty"))
		} else {
			errs = append(errs, field.Invalid(p.Child(extListType), lt, "must be map if x-kubernetes-list-map-keys is non-empty"))
		}
	}
	if mt, ok := s.Extensions[extMapType]; ok {
		if mt != "atomic" && mt != "granular" {
			errs = append(errs, field.NotSupported(p.Child(extMapType), mt, []string{"atomic", "granular"}))
		}
		if typ != "object" {
			errs = append(errs, field.Invalid(p.Child("type"), typ, "must be object if x-kubernetes-map-type is specified"))
		}
	}
	return errs
}

func checkSetItems(items *spec.Schema, p *field.Path) field.ErrorList {
	if items == nil || len(items.Type) != 1 {
		return nil
	}
	switch items.Type[0] {
	case "object":
		if items.Extensions[extMapType] != "atomic" {
			return field.ErrorList{field.Invalid(p.Child("items").Child(extMapType), items.Extensions[extMapType], "must be atomic as item of a list with x-kubernetes-list-type=set")}
		}
	case "array":
		if lt, ok := items.Extensions[extListType]; ok && lt != "atomic" {
			return field.ErrorList{field.Invalid(p.Child("items").Child(extListType), lt, "must be atomic as item of a list with x-kubernetes-list-type=set")}
		}
	}
	return nil
}

func checkMapKeys(items *spec.Schema, keys []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(keys) == 0 {
		errs = append(errs, field.Required(p.Child(extListMapKeys), "must not be empty if x-kubernetes-list-type is map"))
	}
	if items == nil {
		return append(errs, field.Required(p.Child("items"), "must have a schema if x-kubernetes-list-type is map"))
	}
	if len(items.Type) != 1 || items.Type[0] != "object" {
		return append(errs, field.Invalid(p.Child("items").Child("type"), strings.Join(items.Type, ","), "must be object if parent array's x-kubernetes-list-type is map"))
	}
	seen := map[string]bool{}
	for _, k := range keys {
		prop, ok := items.Properties[k]
		switch {
		case !ok:
			errs = append(errs, field.Invalid(p.Child(extListMapKeys), keys, "entries must all be names of item properties"))
		case slices.Contains([]string(prop.Type), "array") || slices.Contains([]string(prop.Type), "object"):
			errs = append(errs, field.Invalid(p.Child("items").Child("properties").Key(k).Child("type"), strings.Join(prop.Type, ","), "must be a scalar type if parent array's x-kubernetes-list-type is map"))
		}
		if seen[k] {
			errs = append(errs, field.Invalid(p.Child(extListMapKeys), keys, "must not contain duplicate entries"))
		}
		seen[k] = true
	}
	return errs
}

func checkPatchExtensions(s *spec.Schema, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v, ok := s.Extensions[extPatchStrategy]; ok {
		str, isStr := v.(string)
		valid := isStr
		for _, part := range strings.Split(str, ",") {
			valid = valid && (part == "merge" || part == "retainKeys" || part == "replace")
		}
		if !valid {
			errs = append(errs, field.Invalid(p.Child(extPatchStrategy), v, `must be a comma-separated list of "merge", "retainKeys" and "replace"`))
		}
	}
	if v, ok := s.Extensions[extPatchMergeKey]; ok {
		if _, isStr := v.(string); !isStr {
			errs = append(errs, field.Invalid(p.Child(extPatchMergeKey), v, "must be a string"))
		}
	}
	return errs
}

func isPreserving(s *spec.Schema) bool {
	b, _ := s.Extensions[extPreserveUnknown].(bool)
	return b
}

// boolExt reads a boolean extension; anything but a boolean is an error.
func boolExt(s *spec.Schema, key string, p *field.Path) (bool, field.ErrorList) {
	v, ok := s.Extensions[key]
	if !ok {
		return false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, field.ErrorList{field.Invalid(p.Child(key), v, "must be a boolean")}
	}
	return b, nil
}

// stringListExt reads a list-of-strings extension, as decoded from JSON
// ([]any) or built in Go ([]string).
func stringListExt(s *spec.Schema, key string) ([]string, error) {
	v, ok := s.Extensions[key]
	if !ok {
		return nil, nil
	}
	switch l := v.(type) {
	case []string:
		return l, nil
	case []any:
		out := make([]string, len(l))
		for i, e := range l {
			str, ok := e.(string)
			if !ok {
				return nil, errNotStringList
			}
			out[i] = str
		}
		return out, nil
	}
	return nil, errNotStringList
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
