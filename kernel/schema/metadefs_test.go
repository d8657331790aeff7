package schema_test

import (
	"strings"
	"testing"

	"k8s.io/kube-openapi/pkg/validation/spec"

	"weft.dev/weft/kernel/schema"
)

func TestMetaDefinitions(t *testing.T) {
	defs := schema.MetaDefinitions()
	const meta = "io.k8s.apimachinery.pkg.apis.meta.v1."
	for _, name := range []string{
		meta + "ObjectMeta", meta + "ListMeta", meta + "Status", meta + "StatusDetails", meta + "StatusCause",
		meta + "DeleteOptions", meta + "Preconditions", meta + "WatchEvent", meta + "OwnerReference",
		meta + "ManagedFieldsEntry", meta + "Time", meta + "MicroTime", meta + "FieldsV1", meta + "Patch",
		meta + "APIResourceList", meta + "APIResource", meta + "APIGroupList", meta + "APIGroup",
		meta + "APIVersions", meta + "LabelSelector", meta + "Condition",
		"io.k8s.apimachinery.pkg.runtime.RawExtension",
	} {
		d := defs[name]
		if d == nil {
			t.Errorf("missing definition %s", name)
			continue
		}
		if d.Description == "" {
			t.Errorf("%s has no description", name)
		}
	}
	// Every $ref must resolve within the set, or the published document
	// would be broken.
	for name, d := range defs {
		for _, ref := range refsIn(d) {
			target := strings.TrimPrefix(ref, schema.MetaDefinitionPrefix)
			if target == ref || defs[target] == nil {
				t.Errorf("%s refers to unresolvable %s", name, ref)
			}
		}
	}
	if tm := defs[meta+"Time"]; tm != nil && (tm.Format != "date-time" || len(tm.Type) != 1 || tm.Type[0] != "string") {
		t.Errorf("Time is %v/%s, want string/date-time", tm.Type, tm.Format)
	}
	owners := defs[meta+"ObjectMeta"].Properties["ownerReferences"]
	if owners.Extensions[`x-kubernetes-patch-merge-key`] != "uid" || owners.Extensions["x-kubernetes-list-type"] != "map" {
		t.Errorf("ownerReferences extensions: %v", owners.Extensions)
	}
}

func TestMetaDefinitionsAreCopies(t *testing.T) {
	a := schema.MetaDefinitions()
	a["io.k8s.apimachinery.pkg.apis.meta.v1.Status"].Description = "changed"
	if b := schema.MetaDefinitions(); b["io.k8s.apimachinery.pkg.apis.meta.v1.Status"].Description == "changed" {
		t.Error("MetaDefinitions returns shared, mutable data")
	}
}

func refsIn(s *spec.Schema) []string {
	var out []string
	var walk func(s *spec.Schema)
	walk = func(s *spec.Schema) {
		if r := s.Ref.String(); r != "" {
			out = append(out, r)
		}
		for _, p := range s.Properties {
			walk(&p)
		}
		for i := range s.AllOf {
			walk(&s.AllOf[i])
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(s.Items.Schema)
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			walk(s.AdditionalProperties.Schema)
		}
	}
	walk(s)
	return out
}
