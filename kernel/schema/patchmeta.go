package schema

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// PatchMeta returns the strategic-merge-patch metadata of the schema: patch
// strategies and merge keys from x-kubernetes-patch-strategy and
// x-kubernetes-patch-merge-key, exactly the information Kubernetes reads
// from Go struct tags for its built-in kinds.
//
// Unlike strategicpatch.PatchMetaFromOpenAPIV3 it walks the compiled tree
// (no $ref resolution, no per-call splitting), descends into
// additionalProperties values, and treats the inside of
// x-kubernetes-preserve-unknown-fields as plain JSON merge. A field the
// schema does not know, in an object that does not preserve unknown
// fields, is an error as it is for Kubernetes' built-in kinds.
func (s *Structural) PatchMeta() strategicpatch.LookupPatchMeta {
	return patchMeta{n: s.root}
}

// patchMeta is a position in the schema. A nil node means "below anything
// the schema describes": no metadata, plain merge.
type patchMeta struct {
	n *node
}

var _ strategicpatch.LookupPatchMeta = patchMeta{}

func (p patchMeta) child(key string) (*node, error) {
	n := p.n
	switch {
	case n == nil:
		return nil, nil
	case n.props[key] != nil:
		return n.props[key], nil
	case n.additional != nil:
		return n.additional, nil
	case n.preserveUnknown || n.anyAdditional || n.typ == typeUnset:
		return nil, nil
	}
	return nil, fmt.Errorf("unable to find api field in struct %s for the json field %q", p.Name(), key)
}

func meta(n *node) strategicpatch.PatchMeta {
	var m strategicpatch.PatchMeta
	if n == nil {
		return m
	}
	if n.patchStrategy != "" {
		m.SetPatchStrategies(strings.Split(n.patchStrategy, ","))
	}
	m.SetPatchMergeKey(n.patchMergeKey)
	return m
}

// LookupPatchMetadataForStruct implements strategicpatch.LookupPatchMeta.
func (p patchMeta) LookupPatchMetadataForStruct(key string) (strategicpatch.LookupPatchMeta, strategicpatch.PatchMeta, error) {
	c, err := p.child(key)
	if err != nil {
		return nil, strategicpatch.PatchMeta{}, err
	}
	return patchMeta{n: c}, meta(c), nil
}

// LookupPatchMetadataForSlice implements strategicpatch.LookupPatchMeta:
// the metadata is the list's, the returned position its items'.
func (p patchMeta) LookupPatchMetadataForSlice(key string) (strategicpatch.LookupPatchMeta, strategicpatch.PatchMeta, error) {
	c, err := p.child(key)
	if err != nil {
		return nil, strategicpatch.PatchMeta{}, err
	}
	var items *node
	if c != nil {
		items = c.items
	}
	return patchMeta{n: items}, meta(c), nil
}

// Name implements strategicpatch.LookupPatchMeta; SMP uses it in messages.
func (p patchMeta) Name() string {
	switch {
	case p.n == nil:
		return "<unknown>"
	case p.n.where == "":
		return "<root>"
	}
	return strings.TrimPrefix(p.n.where, ".")
}
