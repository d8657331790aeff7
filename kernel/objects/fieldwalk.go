package objects

import (
	"slices"
	"strconv"
	"strings"

	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"

	wschema "weft.dev/weft/kernel/schema"
)

// fieldWalker finds the fields a write adds or changes, over a kind's apply schema:
// what structured-merge-diff's Compare reports as Added and Modified, as a fieldsV1
// tree ready to store. The field manager converts both objects to typed values,
// compares them, and encodes and parses the resulting set; on the two commonest
// writes (a create, a pod's first status write) that was most of their ownership
// cost, for an answer this walk gives directly.
//
// It takes only the shapes our structural schemas produce and reports false for
// anything else (a type with several forms, a value of the wrong type, a list item
// without its keys, repeated items, a key that would need JSON escaping), so that
// the field manager decides every case it does not.
type fieldWalker struct{ s *smdschema.Schema }

// diff returns the fieldsV1 node for one path: lhs is the old value (hasL false if
// the path is new), rhs the new one. The node is nil if nothing at or under the path
// was added or changed. As in Compare, a new path is itself a member (".") and so is
// everything under it; a leaf (scalar, atomic or empty map or list) is a member when
// new or changed and is not descended into.
func (w fieldWalker) diff(tr smdschema.TypeRef, lhs any, hasL bool, rhs any) (map[string]any, bool) {
	a, ok := w.s.Resolve(tr)
	forms := 0
	for _, f := range []bool{a.Scalar != nil, a.List != nil, a.Map != nil} {
		if f {
			forms++
		}
	}
	if !ok || forms == 0 {
		return nil, false
	}
	if rhs == nil {
		switch {
		case !hasL:
			return map[string]any{}, true
		case lhs == nil:
			return nil, true
		}
		// A value cleared to null: Compare removes what was under it; rare enough to
		// leave to it.
		return nil, false
	}
	if hasL && lhs == nil {
		return nil, false
	}
	if forms > 1 {
		// Compare deduces the form from the value. Int-or-string and untyped
		// atomic values have only atomic forms, so whatever the value, it is a
		// leaf; a form that is not atomic (preserved unknown fields) is left to
		// Compare.
		switch rhs.(type) {
		case map[string]any:
			ok = a.Map != nil && a.Map.ElementRelationship == smdschema.Atomic
		case []any:
			ok = a.List != nil && a.List.ElementRelationship == smdschema.Atomic
		default:
			ok = a.Scalar != nil && isScalar(*a.Scalar, rhs)
		}
		if !ok {
			return nil, false
		}
		return leafChange(lhs, hasL, rhs), true
	}
	switch {
	case a.Scalar != nil:
		if !isScalar(*a.Scalar, rhs) || hasL && !isScalar(*a.Scalar, lhs) {
			return nil, false
		}
		return leafChange(lhs, hasL, rhs), true
	case a.Map != nil:
		rm, ok := rhs.(map[string]any)
		if !ok {
			return nil, false
		}
		var lm map[string]any
		if hasL {
			if lm, ok = lhs.(map[string]any); !ok {
				return nil, false
			}
		}
		if a.Map.ElementRelationship == smdschema.Atomic || len(rm) == 0 && len(lm) == 0 {
			return leafChange(lhs, hasL, rhs), true
		}
		out := make(map[string]any, len(rm)+1)
		for k, rv := range rm {
			ctr := a.Map.ElementType
			if f, ok := a.Map.FindField(k); ok {
				ctr = f.Type
			} else if ctr == (smdschema.TypeRef{}) || !plainKey(k, false) {
				return nil, false
			}
			lv, hl := lm[k]
			n, ok := w.diff(ctr, lv, hl, rv)
			if !ok {
				return nil, false
			}
			if n != nil {
				out["f:"+k] = n
			}
		}
		return member(out, hasL), true
	default:
		rl, ok := rhs.([]any)
		if !ok {
			return nil, false
		}
		var ll []any
		if hasL {
			if ll, ok = lhs.([]any); !ok {
				return nil, false
			}
		}
		if a.List.ElementRelationship == smdschema.Atomic || len(rl) == 0 && len(ll) == 0 {
			return leafChange(lhs, hasL, rhs), true
		}
		if a.List.ElementRelationship != smdschema.Associative {
			return nil, false
		}
		var old map[string]any
		if len(ll) > 0 {
			old = make(map[string]any, len(ll))
			for _, it := range ll {
				pe, ok := w.listElement(a.List, it)
				if _, dup := old[pe]; !ok || dup {
					return nil, false
				}
				old[pe] = it
			}
		}
		out := make(map[string]any, len(rl)+1)
		seen := make(map[string]bool, len(rl))
		for _, it := range rl {
			pe, ok := w.listElement(a.List, it)
			if !ok || seen[pe] {
				return nil, false
			}
			seen[pe] = true
			lv, hl := old[pe]
			n, ok := w.diff(a.List.ElementType, lv, hl, it)
			if !ok {
				return nil, false
			}
			if n != nil {
				out[pe] = n
			}
		}
		return member(out, hasL), true
	}
}

// member completes a map or list node: a new one is a member itself.
func member(out map[string]any, hasL bool) map[string]any {
	if !hasL {
		out["."] = map[string]any{}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// leafChange is a leaf's node: a member if it is new or its value changed.
func leafChange(lhs any, hasL bool, rhs any) map[string]any {
	if hasL && wschema.JSONEqual(lhs, rhs) {
		return nil
	}
	return map[string]any{}
}

// isScalar reports whether v is a value of scalar type t, as structured-merge-diff
// validates it.
func isScalar(t smdschema.Scalar, v any) bool {
	switch v.(type) {
	case int64, int, int32, float64:
		return t == smdschema.Numeric || t == smdschema.Untyped
	case string:
		return t == smdschema.String || t == smdschema.Untyped
	case bool:
		return t == smdschema.Boolean || t == smdschema.Untyped
	}
	return false
}

// listElement is an associative list item's path element as fieldsV1 spells it:
// k:{"key":value,...} with the keys sorted, or v:value for a set. A missing key
// takes its schema default, or is left out, as in structured-merge-diff.
func (w fieldWalker) listElement(t *smdschema.List, item any) (string, bool) {
	if len(t.Keys) == 0 {
		b, ok := appendKeyValue([]byte("v:"), item)
		return string(b), ok
	}
	m, ok := item.(map[string]any)
	if !ok {
		return "", false
	}
	keys := t.Keys
	if !slices.IsSorted(keys) {
		keys = slices.Sorted(slices.Values(keys))
	}
	b := append(make([]byte, 0, 32), `k:{`...)
	n := 0
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			if v, ok = w.keyDefault(t, k); !ok {
				return "", false
			}
			if v == nil {
				continue
			}
		}
		if !plainKey(k, true) {
			return "", false
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":`...)
		if b, ok = appendKeyValue(b, v); !ok {
			return "", false
		}
	}
	if n == 0 {
		return "", false // no key at all: an error in structured-merge-diff
	}
	return string(append(b, '}')), true
}

// keyDefault is the schema default of a list item's key field (nil if none).
func (w fieldWalker) keyDefault(t *smdschema.List, key string) (any, bool) {
	a, ok := w.s.Resolve(t.ElementType)
	if !ok || a.Map == nil {
		return nil, false
	}
	f, ok := a.Map.FindField(key)
	if !ok {
		return nil, false
	}
	return f.Default, true
}

// appendKeyValue appends a key's scalar value as structured-merge-diff writes it.
func appendKeyValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		if !plainKey(x, true) {
			return nil, false
		}
		b = append(b, '"')
		b = append(b, x...)
		return append(b, '"'), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case bool:
		return strconv.AppendBool(b, x), true
	}
	return nil, false // floats and the rest: their spelling is the JSON writer's
}

// plainKey reports whether s is printable ASCII that every JSON writer spells the
// same way; inJSON also excludes what would be escaped inside a JSON string.
func plainKey(s string, inJSON bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			return false
		}
		if inJSON && strings.IndexByte(`"\<>&`, c) >= 0 {
			return false
		}
	}
	return true
}
