package schema

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/schemaconv"
	"k8s.io/kube-openapi/pkg/validation/spec"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// NewTypeConverter builds the type converter server-side apply needs for
// the given kinds (managedfields.NewDefaultFieldManager and
// NewDefaultCRDFieldManager take it).
//
// Each kind's full schema becomes one model tagged with
// x-kubernetes-group-version-kind, which is how managedfields finds the
// model of an object. Structure for apply comes from the same extensions
// as everywhere else: x-kubernetes-list-type and list-map-keys make lists
// associative, and where list-type is absent a merge patch strategy with a
// merge key does (schemaconv's fallback for older built-in fields);
// x-kubernetes-map-type: atomic makes objects atomic; key fields with a
// default (ports' protocol) may be omitted.
func NewTypeConverter(kinds map[schema.GroupVersionKind]*Structural) (managedfields.TypeConverter, error) {
	models, err := applyModels(kinds)
	if err != nil {
		return nil, err
	}
	conv, err := schemaconv.ToSchemaFromOpenAPI(models, false)
	if err != nil {
		return nil, fmt.Errorf("schema: type converter: %w", err)
	}
	nameInlined(conv)
	// The kinds' errors (an object of a kind without a model) come from
	// managedfields' own converter, whose error type its field managers test for.
	missing, err := managedfields.NewTypeConverter(map[string]*spec.Schema{}, false)
	if err != nil {
		return nil, fmt.Errorf("schema: type converter: %w", err)
	}
	tc := &typeConverter{parser: &typed.Parser{Schema: smdschema.Schema{Types: conv.Types}}, types: map[schema.GroupVersionKind]*typed.ParseableType{}, missing: missing}
	for gvk := range kinds {
		pt := tc.parser.Type(modelName(gvk))
		tc.types[gvk] = &pt
	}
	return tc, nil
}

// typeConverter is managedfields' converter over a schema whose object and list
// types are all named (nameInlined).
type typeConverter struct {
	parser  *typed.Parser
	types   map[schema.GroupVersionKind]*typed.ParseableType
	missing managedfields.TypeConverter
}

// ObjectToTyped skips structured-merge-diff's validation of an object converted
// with AllowDuplicates. managedfields asks for that option exactly for the stored
// object and, on update, for the object about to be stored, and both have passed
// this schema's validation, which rejects what SMD's would (wrong types, missing
// or duplicate list-map keys). Validating again was a third of the cost of
// tracking ownership on a pod write. An applied configuration, which nothing has
// validated yet, comes without the option and is still checked.
func (c *typeConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	t := c.types[obj.GetObjectKind().GroupVersionKind()]
	if t == nil {
		return c.missing.ObjectToTyped(obj, opts...)
	}
	u, ok := obj.(runtime.Unstructured)
	if !ok {
		return t.FromStructured(obj, opts...)
	}
	if slices.Contains(opts, typed.AllowDuplicates) {
		return typed.AsTypedUnvalidated(value.NewValueInterface(u.UnstructuredContent()), t.Schema, t.TypeRef), nil
	}
	return t.FromUnstructured(u.UnstructuredContent(), opts...)
}

func (c *typeConverter) TypedToObject(v *typed.TypedValue) (runtime.Object, error) {
	if m, ok := v.AsValue().Unstructured().(map[string]any); ok {
		return &unstructured.Unstructured{Object: m}, nil
	}
	return nil, fmt.Errorf("schema: a typed value of %T is not an object", v.AsValue().Unstructured())
}

// nameInlined gives every object and list type in s a name of its own, and
// refers to it by that name. Our schemas are structural, as CRDs' are, so
// schemaconv inlines them, and structured-merge-diff compares inlined types
// by walking them whole, at every level of every object it compares: for a
// pod, a third of the cost of tracking managed fields. Named types compare by
// name. Nothing else changes: a reference resolves to the same type.
func nameInlined(s *smdschema.Schema) {
	var queue []*smdschema.Atom
	for i := range s.Types {
		queue = append(queue, &s.Types[i].Atom)
	}
	var named []smdschema.TypeDef
	name := func(r *smdschema.TypeRef) {
		if r.NamedType != nil || (r.Inlined.Map == nil && r.Inlined.List == nil) {
			return
		}
		n := "io.weft.inlined." + strconv.Itoa(len(named))
		named = append(named, smdschema.TypeDef{Name: n, Atom: r.Inlined})
		queue = append(queue, &smdschema.Atom{Map: r.Inlined.Map, List: r.Inlined.List})
		r.NamedType, r.Inlined = &n, smdschema.Atom{}
	}
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		if a.Map != nil {
			name(&a.Map.ElementType)
			for i := range a.Map.Fields {
				name(&a.Map.Fields[i].Type)
			}
		}
		if a.List != nil {
			name(&a.List.ElementType)
		}
	}
	s.Types = append(s.Types, named...)
}

// applyModels turns each kind's schema into its model for schemaconv.
func applyModels(kinds map[schema.GroupVersionKind]*Structural) (map[string]*spec.Schema, error) {
	models := make(map[string]*spec.Schema, len(kinds))
	for gvk, s := range kinds {
		if s == nil {
			return nil, fmt.Errorf("schema: type converter: no schema for %s", gvk)
		}
		// A shallow copy shares the (read-only) subtree; only the root's
		// extensions differ per model.
		root := *s.full
		root.Extensions = maps.Clone(s.full.Extensions)
		if root.Extensions == nil {
			root.Extensions = spec.Extensions{}
		}
		root.Extensions[extGVK] = []any{map[string]any{
			"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind,
		}}
		models[modelName(gvk)] = &root
	}
	return models, nil
}

// modelName is unique per kind; nothing refers to it, since our schemas
// are inlined.
func modelName(gvk schema.GroupVersionKind) string {
	group := gvk.Group
	if group == "" {
		group = "core"
	}
	return group + "." + gvk.Version + "." + gvk.Kind
}

// ApplyType returns the structured-merge-diff schema and type of gvk's objects in a
// type converter made by NewTypeConverter, for code that walks objects the way the
// field manager does; false for any other converter or kind.
func ApplyType(tc managedfields.TypeConverter, gvk schema.GroupVersionKind) (*smdschema.Schema, smdschema.TypeRef, bool) {
	c, ok := tc.(*typeConverter)
	if !ok || c.types[gvk] == nil {
		return nil, smdschema.TypeRef{}, false
	}
	t := c.types[gvk]
	return t.Schema, t.TypeRef, true
}
