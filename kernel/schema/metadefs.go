package schema

import (
	"embed"
	"encoding/json"
	"fmt"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// generated holds schemas that plugins/internal/schemagen derives from
// k8s.io/apimachinery's meta/v1 Go types. Embedded bytes are the only
// package-level state, and every accessor decodes a fresh copy, so callers
// may modify what they get.
//
//go:embed generated/*.json
var generated embed.FS

// MetaDefinitionPrefix is how published definitions refer to each other.
const MetaDefinitionPrefix = "#/components/schemas/"

// MetaDefinitions returns the meta/v1 definitions a Kubernetes-like OpenAPI
// v3 document needs (ObjectMeta, ListMeta, Status, DeleteOptions,
// WatchEvent, APIResourceList, ...), keyed by Kubernetes' names such as
// io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta and linked with $ref
// MetaDefinitionPrefix+name. The map is a fresh copy on every call.
//
// It panics if the embedded data is corrupt, which is a build defect that
// the package's tests catch.
func MetaDefinitions() map[string]*spec.Schema {
	var defs map[string]*spec.Schema
	if err := decodeGenerated("meta_definitions.json", &defs); err != nil {
		panic(err)
	}
	return defs
}

// objectMetaSchema is the inlined, structural ObjectMeta schema that Compile
// puts under metadata.
func objectMetaSchema() (*spec.Schema, error) {
	s := &spec.Schema{}
	return s, decodeGenerated("objectmeta.json", s)
}

// typeMetaSchema provides apiVersion and kind, with Kubernetes' descriptions.
func typeMetaSchema() (*spec.Schema, error) {
	s := &spec.Schema{}
	return s, decodeGenerated("typemeta.json", s)
}

func decodeGenerated(name string, v any) error {
	data, err := generated.ReadFile("generated/" + name)
	if err != nil {
		return fmt.Errorf("schema: embedded %s: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("schema: decode embedded %s: %w", name, err)
	}
	return nil
}
