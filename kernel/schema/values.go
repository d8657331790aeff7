package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	sigsjson "sigs.k8s.io/json"
)

// Objects reach this package decoded by sigs.k8s.io/json with
// UnmarshalCaseSensitivePreserveInts: integers are int64, other numbers
// float64, objects map[string]any and arrays []any.

// typeName is the OpenAPI name of a decoded JSON value's type, as
// kube-openapi reports it in "must be of type" messages.
func typeName(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64, int, int32:
		return "integer"
	case float64, float32:
		return "number"
	}
	return fmt.Sprintf("%T", x)
}

// asInt64 accepts the integer representations a caller may hand us; only
// int64 comes out of the kernel's decoder, the rest keeps direct callers
// honest.
func asInt64(x any) (int64, bool) {
	switch v := x.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	}
	return 0, false
}

func asFloat64(x any) (float64, bool) {
	switch v := x.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	}
	return 0, false
}

// isIntegral reports whether a float holds a whole number. kube-openapi
// accepts such floats (1.0) where an integer is expected, and so do we.
func isIntegral(f float64) bool {
	return f == math.Trunc(f) && !math.IsInf(f, 0)
}

// JSONEqual compares decoded JSON values, treating int64(1) and 1.0 as
// equal, as JSON does. A nil map or slice is null, not {} or []. It walks
// without allocating or reflecting, which makes it cheap enough for the write
// path (status writes, the generation check).
func JSONEqual(a, b any) bool {
	if isNull(a) || isNull(b) {
		return isNull(a) && isNull(b)
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !JSONEqual(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !JSONEqual(av[i], bv[i]) {
				return false
			}
		}
		return true
	case string:
		bv, ok := b.(string)
		return ok && av == bv
	case bool:
		bv, ok := b.(bool)
		return ok && av == bv
	}
	if ai, ok := asInt64(a); ok {
		if bi, ok := asInt64(b); ok {
			return ai == bi
		}
		bf, ok := asFloat64(b)
		return ok && intIsFloat(ai, bf)
	}
	if af, ok := asFloat64(a); ok {
		if bi, ok := asInt64(b); ok {
			return intIsFloat(bi, af)
		}
		bf, ok := asFloat64(b)
		return ok && af == bf
	}
	return false
}

// isNull reports whether x encodes as JSON null: nil, or a nil map or slice.
func isNull(x any) bool {
	switch v := x.(type) {
	case nil:
		return true
	case map[string]any:
		return v == nil
	case []any:
		return v == nil
	}
	return false
}

// intIsFloat reports whether f is exactly i: past 2^53, float64(i) rounds, and
// 2^53+1 would otherwise equal 2^53.
func intIsFloat(i int64, f float64) bool {
	return isIntegral(f) && math.Abs(f) < 1<<63 && int64(f) == i
}

// canonicalKey renders a value so that JSONEqual values get equal keys; it
// lets long lists be checked for duplicates in linear time.
func canonicalKey(x any) string {
	switch v := x.(type) {
	case nil:
		return "null"
	case string:
		return "s" + v
	case bool:
		return strconv.FormatBool(v)
	case map[string]any:
		if v == nil {
			return "null"
		}
		var b strings.Builder
		writeCanonical(&b, v)
		return b.String()
	case []any:
		if v == nil {
			return "null"
		}
		var b strings.Builder
		writeCanonical(&b, v)
		return b.String()
	}
	if i, ok := asInt64(x); ok {
		return "n" + strconv.FormatInt(i, 10)
	}
	if f, ok := asFloat64(x); ok {
		if isIntegral(f) && math.Abs(f) < 1<<63 {
			return "n" + strconv.FormatInt(int64(f), 10)
		}
		return "n" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprintf("?%v", x)
}

func writeCanonical(b *strings.Builder, x any) {
	switch v := x.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for _, k := range keys {
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeCanonical(b, v[k])
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for _, e := range v {
			writeCanonical(b, e)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	default:
		b.WriteString(strconv.Quote(canonicalKey(v)))
	}
}

// DeepCopyJSON copies a decoded JSON value, so defaults handed out to
// objects never alias the schema's copy.
func DeepCopyJSON(x any) any {
	switch v := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = DeepCopyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = DeepCopyJSON(e)
		}
		return out
	}
	return x
}

// normalizeJSON re-decodes a value that came from encoding/json (all numbers
// float64) the way the kernel decodes objects (integers int64), so defaults
// and enum values compare and serialise like request data.
func normalizeJSON(x any) (any, error) {
	data, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	var out any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &out); err != nil {
		return nil, fmt.Errorf("unmarshal: %w", err)
	}
	return out, nil
}
