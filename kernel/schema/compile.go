package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// ErrNotStructural is returned (wrapped) by Compile for a schema that breaks
// the structural-schema rules.
var ErrNotStructural = errors.New("schema is not structural")

var errNotStringList = errors.New("not a list of strings")

// Structural is a compiled structural schema for one kind. It is immutable
// and safe for concurrent use.
type Structural struct {
	root *node
	// metaCheck holds the kind's own constraints on metadata.name and
	// metadata.generateName (the only ones a CRD may declare); nil if none.
	// The rest of ObjectMeta is the kernel's to validate.
	metaCheck *node
	full      *spec.Schema
}

// Compile checks that s is a structural schema for a whole object (CRD rules:
// every node specifies a type, or x-kubernetes-int-or-string /
// x-kubernetes-preserve-unknown-fields; no $ref; properties, items and
// additionalProperties consistent; metadata at the root may only constrain
// name and generateName) and returns a compiled, immutable,
// concurrency-safe form.
//
// Compile adds the standard root fields itself: apiVersion and kind
// (strings) and metadata (the full ObjectMeta structural schema, inlined),
// so kind authors give only their own fields (spec, status, data, ...). It
// does the same inside every x-kubernetes-embedded-resource, as
// apiextensions-apiserver does when it publishes such a schema. s is not
// modified.
func Compile(s *spec.Schema) (*Structural, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no schema", ErrNotStructural)
	}
	full, err := deepCopySchema(s)
	if err != nil {
		return nil, err
	}
	p := field.NewPath("openAPIV3Schema")
	errs := checkStructural(full, p, rootLevel)
	if len(full.Type) == 1 && full.Type[0] != "object" {
		errs = append(errs, field.Invalid(p.Child("type"), full.Type[0], "must be object at the root"))
	}
	nameRules, metaErrs := takeRootMetadata(full, p)
	errs = append(errs, metaErrs...)
	for _, k := range []string{"apiVersion", "kind"} {
		if prop, ok := full.Properties[k]; ok && (len(prop.Type) != 1 || prop.Type[0] != "string") {
			errs = append(errs, field.Invalid(p.Child("properties").Key(k).Child("type"), prop.Type, "must be string"))
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, fmt.Errorf("%w: %w", ErrNotStructural, errs.ToAggregate())
	}

	objectMeta, err := objectMetaSchema()
	if err != nil {
		return nil, err
	}
	typeMeta, err := typeMetaSchema()
	if err != nil {
		return nil, err
	}
	mergeNameRules(objectMeta, nameRules)
	addObjectFields(full, typeMeta, objectMeta)
	addEmbeddedFields(full, typeMeta, objectMeta)

	root, err := buildNode(full, "")
	if err != nil {
		return nil, err
	}
	root.isRoot = true
	out := &Structural{root: root, full: full}
	if nameRules != nil {
		if out.metaCheck, err = buildNode(nameRules, ".metadata"); err != nil {
			return nil, err
		}
	}
	if errs := checkDefaults(root, p); len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrNotStructural, errs.ToAggregate())
	}
	return out, nil
}

// Schema returns the full schema, root fields included, for publishing. It
// is shared, not copied: treat it as read-only.
func (s *Structural) Schema() *spec.Schema {
	return s.full
}

func deepCopySchema(s *spec.Schema) (*spec.Schema, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("schema: copy: %w", err)
	}
	out := &spec.Schema{}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("schema: copy: %w", err)
	}
	return out, nil
}

// takeRootMetadata removes a kind's own root metadata schema and returns it
// reduced to the name and generateName constraints, which is all a CRD may
// say about metadata.
func takeRootMetadata(full *spec.Schema, p *field.Path) (*spec.Schema, field.ErrorList) {
	m, ok := full.Properties["metadata"]
	if !ok {
		return nil, nil
	}
	delete(full.Properties, "metadata")
	mp := p.Child("properties").Key("metadata")
	rules := &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{}}}
	rest := m
	if len(rest.Type) == 1 && rest.Type[0] == "object" {
		rest.Type = nil
	}
	rest.Properties = nil
	for k, prop := range m.Properties {
		if k != "name" && k != "generateName" {
			return nil, field.ErrorList{field.Forbidden(mp, "must not specify anything other than name and generateName, but metadata is implicitly specified")}
		}
		rules.Properties[k] = prop
	}
	if !reflect.DeepEqual(rest, spec.Schema{}) {
		return nil, field.ErrorList{field.Forbidden(mp, "must not specify anything other than name and generateName, but metadata is implicitly specified")}
	}
	if len(rules.Properties) == 0 {
		return nil, nil
	}
	return rules, nil
}

// mergeNameRules copies a kind's name constraints into the published
// ObjectMeta, so clients can see them.
func mergeNameRules(objectMeta, rules *spec.Schema) {
	if rules == nil {
		return
	}
	for k, r := range rules.Properties {
		prop := objectMeta.Properties[k]
		prop.Pattern, prop.MaxLength, prop.MinLength = r.Pattern, r.MaxLength, r.MinLength
		prop.Format, prop.Enum = r.Format, r.Enum
		prop.AllOf, prop.AnyOf, prop.OneOf, prop.Not = r.AllOf, r.AnyOf, r.OneOf, r.Not
		objectMeta.Properties[k] = prop
	}
}

// addObjectFields adds apiVersion, kind and metadata where they are absent.
func addObjectFields(s, typeMeta, objectMeta *spec.Schema) {
	if s.Properties == nil {
		s.Properties = map[string]spec.Schema{}
	}
	for k, v := range typeMeta.Properties {
		if _, ok := s.Properties[k]; !ok {
			s.Properties[k] = v
		}
	}
	if _, ok := s.Properties["metadata"]; !ok {
		s.Properties["metadata"] = *objectMeta
	}
}

// addEmbeddedFields gives every x-kubernetes-embedded-resource below s the
// object fields too, so that pruning keeps their metadata coerced to
// ObjectMeta and apply tracks it like any object's.
func addEmbeddedFields(s, typeMeta, objectMeta *spec.Schema) {
	if b, _ := s.Extensions[extEmbedded].(bool); b {
		addObjectFields(s, typeMeta, objectMeta)
	}
	for k, v := range s.Properties {
		addEmbeddedFields(&v, typeMeta, objectMeta)
		s.Properties[k] = v
	}
	if s.Items != nil && s.Items.Schema != nil {
		addEmbeddedFields(s.Items.Schema, typeMeta, objectMeta)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		addEmbeddedFields(s.AdditionalProperties.Schema, typeMeta, objectMeta)
	}
}
