package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Extension names shared with kernel/schema, schemaconv (SSA) and
// strategicpatch (SMP).
const (
	extIntOrString     = "x-kubernetes-int-or-string"
	extPreserveUnknown = "x-kubernetes-preserve-unknown-fields"
	extEmbedded        = "x-kubernetes-embedded-resource"
	extListType        = "x-kubernetes-list-type"
	extListMapKeys     = "x-kubernetes-list-map-keys"
	extMapType         = "x-kubernetes-map-type"
	extPatchStrategy   = "x-kubernetes-patch-strategy"
	extPatchMergeKey   = "x-kubernetes-patch-merge-key"
)

// builder turns Go types into schemas. In inline mode (refs == false) every
// struct is expanded in place, which is what a structural schema requires.
// In refs mode structs become named definitions linked by $ref, which is how
// Kubernetes publishes the shared meta/v1 types.
type builder struct {
	docs   docIndex
	refs   bool
	defs   map[string]*spec.Schema
	active map[reflect.Type]bool // structs being expanded; a repeat is a cycle
}

func newBuilder(docs docIndex, refs bool) *builder {
	return &builder{docs: docs, refs: refs, defs: map[string]*spec.Schema{}, active: map[reflect.Type]bool{}}
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// specialSchema maps the apimachinery types whose JSON form is not their Go
// shape (they implement MarshalJSON) to the schema of that JSON form.
func specialSchema(t reflect.Type) *spec.Schema {
	s := &spec.Schema{}
	switch t {
	case reflect.TypeFor[metav1.Time](), reflect.TypeFor[metav1.MicroTime]():
		s.Type = spec.StringOrArray{"string"}
		s.Format = "date-time"
	case reflect.TypeFor[metav1.Duration]():
		s.Type = spec.StringOrArray{"string"}
	case reflect.TypeFor[resource.Quantity]():
		// int-or-string is what CRDs use for quantities. The "quantity"
		// format (a format CRDs may declare) lets kernel/schema check the
		// syntax and accept the fractional numbers (cpu: 0.5) that
		// Kubernetes' own decoder accepts for built-in kinds.
		s.Format = "quantity"
		s.AddExtension(extIntOrString, true)
	case reflect.TypeFor[intstr.IntOrString]():
		s.AddExtension(extIntOrString, true)
	case reflect.TypeFor[runtime.RawExtension]():
		s.Type = spec.StringOrArray{"object"}
		s.AddExtension(extPreserveUnknown, true)
		s.AddExtension(extEmbedded, false)
	case reflect.TypeFor[metav1.FieldsV1]():
		// managedFields content is a trie of field paths, opaque to the
		// schema; pruning it would corrupt server-side apply state.
		s.Type = spec.StringOrArray{"object"}
		s.AddExtension(extPreserveUnknown, true)
	default:
		return nil
	}
	return s
}

// definitionName is Kubernetes' OpenAPI name for a Go type, e.g.
// io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta for
// k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta.
func definitionName(t reflect.Type) string {
	parts := strings.Split(t.PkgPath(), "/")
	host := strings.Split(parts[0], ".")
	for i, j := 0, len(host)-1; i < j; i, j = i+1, j-1 {
		host[i], host[j] = host[j], host[i]
	}
	return strings.Join(append(append(host, parts[1:]...), t.Name()), ".")
}

func refTo(name string) *spec.Schema {
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef("#/components/schemas/" + name)}}
}

func (b *builder) typeDoc(t reflect.Type) *typeDoc {
	return b.docs.typeDoc(t.PkgPath(), t.Name())
}

// define records the definition of t once and returns a reference to it.
func (b *builder) define(t reflect.Type, build func() (*spec.Schema, error)) (*spec.Schema, error) {
	name := definitionName(t)
	if _, ok := b.defs[name]; !ok {
		b.defs[name] = nil // reserved: a recursive use sees it and stops
		def, err := build()
		if err != nil {
			return nil, err
		}
		b.defs[name] = def
	}
	return refTo(name), nil
}

// typeSchema is the schema of a use of t, before any field-level comment or
// marker is applied.
func (b *builder) typeSchema(t reflect.Type) (*spec.Schema, error) {
	t = deref(t)
	if s := specialSchema(t); s != nil {
		if b.refs {
			return b.define(t, func() (*spec.Schema, error) {
				s.Description = description(b.typeDoc(t).lines)
				return s, nil
			})
		}
		return s, nil
	}
	if hasCustomJSON(t) {
		return nil, fmt.Errorf("%s marshals itself to JSON; teach specialSchema its JSON form", t)
	}
	var s *spec.Schema
	switch t.Kind() {
	case reflect.Struct:
		if b.refs {
			return b.define(t, func() (*spec.Schema, error) { return b.structSchema(t, false) })
		}
		return b.structSchema(t, false)
	case reflect.String:
		s = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}}
		for _, v := range b.enumValues(t) {
			s.Enum = append(s.Enum, v.value)
		}
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		typ, format := common.OpenAPITypeFormat(t.Kind().String())
		s = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}, Format: format}}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // []byte is base64 in JSON
			return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}, Format: "byte"}}, nil
		}
		items, err := b.typeSchema(t.Elem())
		if err != nil {
			return nil, fmt.Errorf("items of %s: %w", t, err)
		}
		s = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"array"}, Items: &spec.SchemaOrArray{Schema: items}}}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%s: JSON objects need string keys", t)
		}
		values, err := b.typeSchema(t.Elem())
		if err != nil {
			return nil, fmt.Errorf("values of %s: %w", t, err)
		}
		s = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, AdditionalProperties: &spec.SchemaOrBool{Allows: true, Schema: values}}}
	default:
		return nil, fmt.Errorf("%s: no JSON schema for kind %s", t, t.Kind())
	}
	if t.Name() != "" {
		// Named slices and maps may carry +listType/+mapType themselves.
		applyCollectionMarkers(s, parseMarkers(b.typeDoc(t).lines))
	}
	return s, nil
}

func hasCustomJSON(t reflect.Type) bool {
	m := reflect.TypeFor[json.Marshaler]()
	return t.Implements(m) || reflect.PointerTo(t).Implements(m)
}

// enumValues returns the values of a +enum string type, sorted, as
// openapi-gen publishes them.
func (b *builder) enumValues(t reflect.Type) []enumValue {
	if t.Kind() != reflect.String || t.Name() == "" || !parseMarkers(b.typeDoc(t).lines).has("enum") {
		return nil
	}
	p := b.docs[t.PkgPath()]
	if p == nil {
		return nil
	}
	values := dedupeEnum(p.enums[t.Name()])
	sort.Slice(values, func(i, j int) bool { return values[i].value < values[j].value })
	return values
}

// structSchema expands a struct. root drops apiVersion, kind and metadata,
// which kernel/schema.Compile adds to every kind itself.
func (b *builder) structSchema(t reflect.Type, root bool) (*spec.Schema, error) {
	if b.active[t] {
		return nil, fmt.Errorf("%s refers to itself; structural schemas cannot express recursion", t)
	}
	b.active[t] = true
	defer delete(b.active, t)

	s := &spec.Schema{SchemaProps: spec.SchemaProps{
		Type:        spec.StringOrArray{"object"},
		Description: description(b.typeDoc(t).lines),
	}}
	props := map[string]spec.Schema{}
	if err := b.addFields(t, root, props, &s.Required); err != nil {
		return nil, err
	}
	if len(props) > 0 {
		s.Properties = props
	}
	if v, ok := parseMarkers(b.typeDoc(t).lines).last("structType"); ok {
		s.AddExtension(extMapType, v)
	}
	return s, nil
}

// addFields adds t's JSON fields to props, flattening embedded structs the
// way encoding/json (and Kubernetes' `json:",inline"`) does.
func (b *builder) addFields(t reflect.Type, root bool, props map[string]spec.Schema, required *[]string) error {
	td := b.typeDoc(t)
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, skip := jsonName(f)
		if skip {
			continue
		}
		if name == "" { // inlined
			if err := b.addFields(deref(f.Type), root, props, required); err != nil {
				return err
			}
			continue
		}
		if root && (name == "apiVersion" || name == "kind" || name == "metadata") {
			continue
		}
		lines := td.fields[f.Name]
		m := parseMarkers(lines)
		if m.has("optional") && m.has("required") {
			return fmt.Errorf("%s.%s is both +optional and +required", t, f.Name)
		}
		ps, err := b.memberSchema(f, t, lines, m, opts)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", t, f.Name, err)
		}
		if _, dup := props[name]; dup {
			return fmt.Errorf("%s: two fields map to JSON name %q", t, name)
		}
		props[name] = *ps
		if !isOptional(m, opts) {
			*required = append(*required, name)
		}
	}
	return nil
}

// jsonName applies encoding/json's naming rules. An empty name with skip ==
// false means the field's members are inlined.
func jsonName(f reflect.StructField) (name string, opts []string, skip bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", nil, true
	}
	name, rest, _ := strings.Cut(tag, ",")
	if rest != "" {
		opts = strings.Split(rest, ",")
	}
	inline := contains(opts, "inline") || (f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct)
	if inline {
		return "", opts, false
	}
	if !f.IsExported() {
		return "", nil, true
	}
	if name == "" {
		name = f.Name
	}
	return name, opts, false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// isOptional is openapi-gen's rule: +optional or +required decide, and
// without either a field is optional exactly when it has omitempty.
func isOptional(m markers, opts []string) bool {
	switch {
	case m.has("optional"):
		return true
	case m.has("required"):
		return false
	}
	return contains(opts, "omitempty")
}

// memberSchema is the schema of one field: its type's schema plus the
// field's description, markers and patch tags.
func (b *builder) memberSchema(f reflect.StructField, owner reflect.Type, lines []string, m markers, opts []string) (*spec.Schema, error) {
	if contains(opts, "string") { // `json:",string"` encodes any scalar as a string
		return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}, Description: description(lines)}}, nil
	}
	s, err := b.typeSchema(f.Type)
	if err != nil {
		return nil, err
	}
	if b.refs && s.Ref.String() != "" {
		// A $ref's siblings are ignored in OpenAPI 3.0, so Kubernetes wraps
		// the reference in allOf to attach a description or extensions.
		s = &spec.Schema{SchemaProps: spec.SchemaProps{AllOf: []spec.Schema{*s}}}
	}
	descLines := append([]string(nil), lines...)
	descLines = append(descLines, enumDescriptionLines(b.enumValues(deref(f.Type)))...)
	if d := description(descLines); d != "" {
		s.Description = d
	}
	applyCollectionMarkers(s, m)
	if v := f.Tag.Get("patchStrategy"); v != "" {
		s.AddExtension(extPatchStrategy, v)
	}
	if v := f.Tag.Get("patchMergeKey"); v != "" {
		s.AddExtension(extPatchMergeKey, v)
	}
	def, ok, err := b.defaultValue(m, f.Type, owner)
	if err != nil {
		return nil, err
	}
	if ok {
		s.Default = def
	}
	if err := applyValidationMarkers(s, m); err != nil {
		return nil, err
	}
	if len(s.AllOf) == 1 && s.AllOf[0].Ref.String() != "" {
		rest := *s
		rest.AllOf = nil
		if reflect.DeepEqual(rest, spec.Schema{}) {
			return &s.AllOf[0], nil // nothing attached: a plain $ref reads better
		}
	}
	return s, nil
}

// applyCollectionMarkers maps +listType, +listMapKey, +mapType (and their
// newer +k8s: spellings, used only when the classic one is absent) to the
// x-kubernetes-* extensions that SSA, SMP fallbacks and validation read.
func applyCollectionMarkers(s *spec.Schema, m markers) {
	if v, ok := m.first("listType", "k8s:listType"); ok {
		s.AddExtension(extListType, v)
	}
	keys := m["listMapKey"]
	if len(keys) == 0 {
		keys = m["k8s:listMapKey"]
	}
	if len(keys) > 0 {
		list := make([]any, len(keys))
		for i, k := range keys {
			list[i] = k
		}
		s.AddExtension(extListMapKeys, list)
	}
	if v, ok := m.last("mapType"); ok {
		s.AddExtension(extMapType, v)
	}
}

// applyValidationMarkers carries over the declarative-validation limits
// (+k8s:maxItems and friends) that have a structural-schema equivalent.
// Gated forms such as +k8s:alpha(...)=+k8s:maxItems=... are not plain
// markers and are deliberately left out.
func applyValidationMarkers(s *spec.Schema, m markers) error {
	intMarker := func(name string) (*int64, error) {
		v, ok := m.last(name)
		if !ok {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("+%s=%s: %w", name, v, err)
		}
		return &n, nil
	}
	var err error
	if s.MaxItems, err = intMarker("k8s:maxItems"); err != nil {
		return err
	}
	// maxLength counts characters, which never exceed bytes, so this is
	// at most as strict as Kubernetes' byte limit.
	if s.MaxLength, err = intMarker("k8s:maxBytes"); err != nil {
		return err
	}
	for _, bound := range []struct {
		name string
		dst  **float64
	}{{"k8s:minimum", &s.Minimum}, {"k8s:maximum", &s.Maximum}} {
		n, err := intMarker(bound.name)
		if err != nil {
			return err
		}
		if n != nil {
			f := float64(*n)
			*bound.dst = &f
		}
	}
	return nil
}

// defaultValue reads +default from the field, or else from the field's type
// as openapi-gen does. ref(Name) names a constant, usually an enum value.
func (b *builder) defaultValue(m markers, t, owner reflect.Type) (any, bool, error) {
	v, ok := m.last("default")
	pkg := owner.PkgPath()
	if !ok {
		if dt := deref(t); dt.Name() != "" && dt.PkgPath() != "" {
			v, ok = parseMarkers(b.typeDoc(dt).lines).last("default")
			pkg = dt.PkgPath()
		}
	}
	if !ok {
		return nil, false, nil
	}
	if ident, isRef := strings.CutPrefix(v, "ref("); isRef {
		ident = strings.TrimSuffix(ident, ")")
		if dot := strings.LastIndex(ident, "."); dot >= 0 {
			pkg, ident = ident[:dot], ident[dot+1:]
		}
		p := b.docs[pkg]
		if p == nil {
			return nil, false, fmt.Errorf("+default=%s: package %s not loaded", v, pkg)
		}
		c, found := p.consts[ident]
		if !found {
			return nil, false, fmt.Errorf("+default=%s: no string constant %s in %s", v, ident, pkg)
		}
		return c, true, nil
	}
	var out any
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, false, fmt.Errorf("+default=%s: %w", v, err)
	}
	return out, true, nil
}
