package schema

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate checks obj against the schema and returns every violation with
// its precise field path, worded as apiextensions-apiserver words them, e.g.
//
//	spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"
//
// Unknown fields are not errors here (Prune reports them); metadata is left
// to the kernel except for the kind's own name/generateName constraints.
// Errors are sorted by field path so the output is stable.
func (s *Structural) Validate(obj map[string]any) field.ErrorList {
	v := newValidator(s.metaCheck)
	v.object(obj, s.root)
	if len(v.errs) > 1 {
		sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].Field < v.errs[j].Field })
	}
	return v.errs
}

type segKind uint8

const (
	segField  segKind = iota // a property: .name
	segMapKey                // an additionalProperties key: [key]
	segIndex                 // an array index: [i]
)

// seg is one step of the path from the root to the value being checked.
// The path is kept as a stack of plain values and turned into a
// *field.Path only when an error is reported, so valid objects cost no
// path allocations.
type seg struct {
	key   string
	index int
	kind  segKind
}

type validator struct {
	segs      []seg
	errs      field.ErrorList
	metaCheck *node
	buf       [16]seg
}

func newValidator(metaCheck *node) *validator {
	v := &validator{metaCheck: metaCheck}
	v.segs = v.buf[:0]
	return v
}

func (v *validator) push(s seg) { v.segs = append(v.segs, s) }
func (v *validator) pop()       { v.segs = v.segs[:len(v.segs)-1] }

func (v *validator) path() *field.Path {
	var p *field.Path
	for _, s := range v.segs {
		switch {
		case p == nil && s.kind == segIndex:
			p = field.NewPath("").Index(s.index)
		case p == nil:
			p = field.NewPath(s.key)
		case s.kind == segField:
			p = p.Child(s.key)
		case s.kind == segMapKey:
			p = p.Key(s.key)
		default:
			p = p.Index(s.index)
		}
	}
	return p
}

// value validates x against n. Type mismatches stop the descent: checking
// the properties of something that is not an object only adds noise.
func (v *validator) value(x any, n *node) {
	if x == nil {
		if !n.nullable && (n.typ != typeUnset || n.intOrString) {
			v.typeError(n, "null")
		}
		return
	}
	switch n.typ {
	case typeObject:
		m, ok := x.(map[string]any)
		if !ok {
			v.typeError(n, typeName(x))
			return
		}
		v.object(m, n)
	case typeArray:
		a, ok := x.([]any)
		if !ok {
			v.typeError(n, typeName(x))
			return
		}
		v.array(a, n)
	case typeString:
		s, ok := x.(string)
		if !ok {
			v.typeError(n, typeName(x))
			return
		}
		v.string(s, n)
	case typeInteger:
		if i, ok := asInt64(x); ok {
			v.integer(i, n)
		} else if f, ok := asFloat64(x); ok && isIntegral(f) {
			v.number(f, n)
		} else {
			v.typeError(n, typeName(x))
			return
		}
	case typeNumber:
		if i, ok := asInt64(x); ok {
			v.integer(i, n)
		} else if f, ok := asFloat64(x); ok {
			v.number(f, n)
		} else {
			v.typeError(n, typeName(x))
			return
		}
	case typeBoolean:
		if _, ok := x.(bool); !ok {
			v.typeError(n, typeName(x))
			return
		}
	case typeUnset:
		if !v.untyped(x, n) {
			return
		}
	}
	if n.vv != nil {
		v.enum(x, n)
		v.junctors(x, n)
	}
}

// untyped handles int-or-string and schemaless (preserve-unknown-fields or
// junctor) nodes; it reports whether the value had an acceptable type.
func (v *validator) untyped(x any, n *node) bool {
	if n.intOrString {
		switch t := x.(type) {
		case string:
			v.string(t, n)
			return true
		}
		if i, ok := asInt64(x); ok {
			v.integer(i, n)
			return true
		}
		// Built-in kinds accept fractional quantities (cpu: 0.5); plain
		// int-or-string, like a CRD's, does not.
		if f, ok := asFloat64(x); ok && (n.quantity || isIntegral(f)) {
			v.number(f, n)
			return true
		}
		v.typeError(n, typeName(x))
		return false
	}
	switch t := x.(type) {
	case map[string]any:
		v.object(t, n)
	case []any:
		v.array(t, n)
	case string:
		v.string(t, n)
	default:
		if i, ok := asInt64(x); ok {
			v.integer(i, n)
		} else if f, ok := asFloat64(x); ok {
			v.number(f, n)
		}
	}
	return true
}

func (v *validator) typeError(n *node, actual string) {
	p := v.path()
	expected := n.typ.String()
	if n.intOrString {
		expected = "integer,string"
	}
	v.errs = append(v.errs, field.TypeInvalid(p, actual, fmt.Sprintf("%s in body must be of type %s: %q", p, expected, actual)))
}

func (v *validator) object(m map[string]any, n *node) {
	if n.embedded {
		v.embeddedResource(m)
	}
	for _, r := range n.required {
		if _, ok := m[r]; !ok {
			v.push(seg{key: r})
			v.errs = append(v.errs, field.Required(v.path(), ""))
			v.pop()
		}
	}
	if vv := n.vv; vv != nil {
		size := int64(len(m))
		if vv.maxProperties != nil && size > *vv.maxProperties {
			v.errs = append(v.errs, field.TooMany(v.path(), int(size), int(*vv.maxProperties)))
		}
		if vv.minProperties != nil && size < *vv.minProperties {
			p := v.path()
			v.errs = append(v.errs, field.Invalid(p, size, fmt.Sprintf("%s in body should have at least %d properties", p, *vv.minProperties)))
		}
	}
	for k, x := range m {
		if c := n.props[k]; c != nil {
			if n.isRoot && k == "metadata" {
				if v.metaCheck == nil {
					continue
				}
				c = v.metaCheck
			}
			v.push(seg{key: k})
			v.value(x, c)
			v.pop()
		} else if n.additional != nil {
			v.push(seg{key: k, kind: segMapKey})
			v.value(x, n.additional)
			v.pop()
		}
	}
}

func (v *validator) array(a []any, n *node) {
	if vv := n.vv; vv != nil {
		size := int64(len(a))
		if vv.maxItems != nil && size > *vv.maxItems {
			v.errs = append(v.errs, field.TooMany(v.path(), int(size), int(*vv.maxItems)))
		}
		if vv.minItems != nil && size < *vv.minItems {
			p := v.path()
			v.errs = append(v.errs, field.Invalid(p, size, fmt.Sprintf("%s in body should have at least %d items", p, *vv.minItems)))
		}
		if vv.uniqueItems && len(duplicateElements(a)) > 0 {
			p := v.path()
			v.errs = append(v.errs, field.Invalid(p, "", fmt.Sprintf("%s in body shouldn't contain duplicates", p)))
		}
	}
	switch n.listType {
	case listSet:
		v.listSet(a)
	case listMap:
		v.listMap(a, n)
	}
	if n.items != nil {
		for i, x := range a {
			v.push(seg{index: i, kind: segIndex})
			v.value(x, n.items)
			v.pop()
		}
	}
}

func (v *validator) string(s string, n *node) {
	if vv := n.vv; vv != nil {
		if vv.maxLength != nil && int64(utf8.RuneCountInString(s)) > *vv.maxLength {
			v.errs = append(v.errs, field.TooLong(v.path(), s, int(*vv.maxLength)))
		}
		if vv.minLength != nil && int64(utf8.RuneCountInString(s)) < *vv.minLength {
			p := v.path()
			v.errs = append(v.errs, field.Invalid(p, s, fmt.Sprintf("%s in body should be at least %d chars long", p, *vv.minLength)))
		}
		if vv.pattern != nil && !vv.pattern.MatchString(s) {
			p := v.path()
			v.errs = append(v.errs, field.Invalid(p, s, fmt.Sprintf("%s in body should match '%s'", p, vv.patternSrc)))
		}
	}
	switch {
	case n.quantity:
		if _, err := resource.ParseQuantity(s); err != nil {
			v.errs = append(v.errs, field.Invalid(v.path(), s, err.Error()))
		}
	case n.checkFormat != nil && !n.checkFormat(s):
		p := v.path()
		v.errs = append(v.errs, field.TypeInvalid(p, s, fmt.Sprintf("%s in body must be of type %s: %q", p, n.format, s)))
	}
}

func (v *validator) integer(i int64, n *node) {
	if n.int32 && (i < math.MinInt32 || i > math.MaxInt32) {
		p := v.path()
		v.errs = append(v.errs, field.TypeInvalid(p, i, fmt.Sprintf("%s in body must be of type int32: %q", p, strconv.FormatInt(i, 10))))
	}
	if n.vv != nil {
		v.bounds(float64(i), i, n.vv)
	}
}

func (v *validator) number(f float64, n *node) {
	if n.int32 && (f < math.MinInt32 || f > math.MaxInt32) {
		p := v.path()
		v.errs = append(v.errs, field.TypeInvalid(p, f, fmt.Sprintf("%s in body must be of type int32: %q", p, strconv.FormatFloat(f, 'g', -1, 64))))
	}
	if n.vv != nil {
		v.bounds(f, f, n.vv)
	}
}

// bounds checks maximum, minimum and multipleOf; shown is the value as it
// arrived, so messages print 3 rather than 3.0.
func (v *validator) bounds(f float64, shown any, vv *valueValidation) {
	if m := vv.maximum; m != nil && (f > *m || vv.exclusiveMaximum && f == *m) {
		p := v.path()
		rel := "less than or equal to"
		if vv.exclusiveMaximum {
			rel = "less than"
		}
		v.errs = append(v.errs, field.Invalid(p, shown, fmt.Sprintf("%s in body should be %s %v", p, rel, *m)))
	}
	if m := vv.minimum; m != nil && (f < *m || vv.exclusiveMinimum && f == *m) {
		p := v.path()
		rel := "greater than or equal to"
		if vv.exclusiveMinimum {
			rel = "greater than"
		}
		v.errs = append(v.errs, field.Invalid(p, shown, fmt.Sprintf("%s in body should be %s %v", p, rel, *m)))
	}
	if m := vv.multipleOf; m != nil && *m != 0 {
		if q := f / *m; q != math.Trunc(q) {
			p := v.path()
			v.errs = append(v.errs, field.Invalid(p, shown, fmt.Sprintf("%s in body should be a multiple of %v", p, *m)))
		}
	}
}

func (v *validator) enum(x any, n *node) {
	vv := n.vv
	if vv.enum == nil {
		return
	}
	if vv.enumStrings != nil {
		if s, ok := x.(string); ok {
			if _, ok := vv.enumStrings[s]; ok {
				return
			}
		}
	} else {
		for _, e := range vv.enum {
			if JSONEqual(e, x) {
				return
			}
		}
	}
	v.errs = append(v.errs, field.NotSupported(v.path(), x, vv.enumReport))
}
