package schema

import (
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
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
	tc, err := managedfields.NewTypeConverter(models, false)
	if err != nil {
		return nil, fmt.Errorf("schema: type converter: %w", err)
	}
	return tc, nil
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
