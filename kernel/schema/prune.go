package schema

import (
	"slices"
	"strconv"
	"strings"
)

// Prune drops the fields the schema does not know, in place, and returns
// their paths sorted, in Kubernetes' format (spec.foo,
// spec.containers[0].bar, metadata.baz) for fieldValidation=Warn/Strict.
//
// It follows apiextensions-apiserver: x-kubernetes-preserve-unknown-fields
// keeps unknown fields (known ones below are still pruned), an
// x-kubernetes-embedded-resource keeps apiVersion and kind and has its
// metadata pruned to ObjectMeta, and nulls in non-nullable properties
// without a default are dropped silently, as Kubernetes does before
// defaulting and validation.
func (s *Structural) Prune(obj map[string]any) []string {
	p := newPruner()
	p.prune(obj, s.root)
	slices.Sort(p.pruned)
	return p.pruned
}

// pruner walks an object; its path is a stack of segments so that a path
// string is built only for fields that are actually dropped.
type pruner struct {
	segs   []seg
	pruned []string
	buf    [16]seg
}

func newPruner() *pruner {
	p := &pruner{}
	p.segs = p.buf[:0]
	return p
}

func (p *pruner) prune(x any, n *node) {
	if n.preserveUnknown {
		p.pruneKnown(x, n)
		return
	}
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			switch c := n.props[k]; {
			case c != nil:
				if v == nil && !c.nullable && !c.hasDefault {
					delete(t, k)
					continue
				}
				p.descend(seg{key: k}, v, c)
			case n.additional != nil:
				p.descend(seg{key: k}, v, n.additional)
			case n.anyAdditional:
			default:
				p.record(k)
				delete(t, k)
			}
		}
	case []any:
		if n.items == nil {
			return
		}
		for i, v := range t {
			p.descend(seg{index: i, kind: segIndex}, v, n.items)
		}
	}
}

// pruneKnown is prune below x-kubernetes-preserve-unknown-fields: unknown
// fields stay, but known ones are still pruned by their own schemas.
func (p *pruner) pruneKnown(x any, n *node) {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			if c := n.props[k]; c != nil {
				if v == nil && !c.nullable && !c.hasDefault {
					delete(t, k)
					continue
				}
				p.descend(seg{key: k}, v, c)
			} else if n.additional != nil {
				p.descend(seg{key: k}, v, n.additional)
			}
		}
	case []any:
		if n.items == nil {
			return
		}
		for i, v := range t {
			p.descend(seg{index: i, kind: segIndex}, v, n.items)
		}
	}
}

// descend prunes a child; scalars have nothing to prune, so they cost
// neither a push nor a call.
func (p *pruner) descend(s seg, v any, n *node) {
	switch v.(type) {
	case map[string]any, []any:
		p.segs = append(p.segs, s)
		p.prune(v, n)
		p.segs = p.segs[:len(p.segs)-1]
	}
}

func (p *pruner) record(key string) {
	var b strings.Builder
	for _, s := range p.segs {
		if s.kind == segIndex {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(key)
	p.pruned = append(p.pruned, b.String())
}
