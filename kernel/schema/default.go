package schema

// Default applies the schema's defaults to obj in place, with
// apiextensions-apiserver's semantics: a property's default is set when the
// property is absent, or null without nullable: true; defaults apply inside
// objects that exist (a missing parent is not created unless it has a
// default itself), inside array items and additionalProperties values, and
// inside default values that were just set.
//
// Only the parts of the schema that hold defaults are visited.
func (s *Structural) Default(obj map[string]any) {
	applyDefaults(obj, s.root)
}

func applyDefaults(x any, n *node) {
	if !n.defaultsBelow {
		return
	}
	switch t := x.(type) {
	case map[string]any:
		for _, d := range n.defaulted {
			if v, ok := t[d.name]; !ok || v == nil && !d.node.nullable {
				t[d.name] = DeepCopyJSON(d.node.def)
			}
		}
		for _, d := range n.descend {
			if v, ok := t[d.name]; ok && v != nil {
				applyDefaults(v, d.node)
			}
		}
		if a := n.additional; a != nil && (a.hasDefault || a.defaultsBelow) {
			for k, v := range t {
				if v == nil && a.hasDefault && !a.nullable {
					v = DeepCopyJSON(a.def)
					t[k] = v
				}
				applyDefaults(v, a)
			}
		}
	case []any:
		it := n.items
		if it == nil {
			return
		}
		for i, v := range t {
			if v == nil && it.hasDefault && !it.nullable {
				v = DeepCopyJSON(it.def)
				t[i] = v
			}
			applyDefaults(v, it)
		}
	}
}

// DefaultsUnder reports whether the object's property prop has a default, or holds
// a field that has one.
func (s *Structural) DefaultsUnder(prop string) bool {
	n := s.root.props[prop]
	return n != nil && (n.hasDefault || n.defaultsBelow)
}
