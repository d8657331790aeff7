package ujson

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Marshal returns the JSON encoding of v, byte for byte what json.Marshal returns.
// It encodes into a pooled buffer and returns an exact-size copy: growing a fresh
// buffer to a pod's size took three allocations and twice the bytes, and the
// members slice each encoding sorts objects in was grown anew every time.
func Marshal(v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	e.b, e.err = e.b[:0], nil
	e.value(v)
	out, err := bytes.Clone(e.b), e.err
	if cap(e.b) <= maxPooledBuffer {
		encoders.Put(e)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxPooledBuffer: an encoder that grew past this for one huge object is dropped
// rather than kept for the small ones.
const maxPooledBuffer = 256 << 10

var encoders = sync.Pool{New: func() any { return &encoder{b: make([]byte, 0, 4096)} }}

// Append appends the JSON encoding of v to b.
func Append(b []byte, v any) ([]byte, error) {
	e := encoder{b: b}
	e.value(v)
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

type encoder struct {
	b       []byte
	err     error
	members []member // reused for sorting each object's members
}

type member struct {
	k string
	v any
}

func (e *encoder) value(v any) {
	switch v := v.(type) {
	case nil:
		e.b = append(e.b, "null"...)
	case string:
		e.b = appendString(e.b, v)
	case bool:
		e.b = strconv.AppendBool(e.b, v)
	case int64:
		e.b = strconv.AppendInt(e.b, v, 10)
	case int:
		e.b = strconv.AppendInt(e.b, int64(v), 10)
	case int32:
		e.b = strconv.AppendInt(e.b, int64(v), 10)
	case float64:
		e.float(v)
	case map[string]any:
		e.object(v)
	case []any:
		if v == nil {
			e.b = append(e.b, "null"...)
			return
		}
		e.b = append(e.b, '[')
		for i, x := range v {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.value(x)
			if e.err != nil {
				return
			}
		}
		e.b = append(e.b, ']')
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			e.err = err
			return
		}
		e.b = append(e.b, raw...)
	}
}

func (e *encoder) object(m map[string]any) {
	if m == nil {
		e.b = append(e.b, "null"...)
		return
	}
	// Members are sorted in a stretch of e.members of this call's own: nested objects
	// use the stretch past its end.
	start := len(e.members)
	for k, v := range m {
		e.members = append(e.members, member{k, v})
	}
	ms := e.members[start:]
	if len(ms) <= 12 {
		// Most objects are small: an insertion sort comparing in place beats the
		// generic sort's calls through a comparison function.
		for i := 1; i < len(ms); i++ {
			for j := i; j > 0 && ms[j].k < ms[j-1].k; j-- {
				ms[j], ms[j-1] = ms[j-1], ms[j]
			}
		}
	} else {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.k, b.k) })
	}
	e.b = append(e.b, '{')
	for i, kv := range ms {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendString(e.b, kv.k)
		e.b = append(e.b, ':')
		e.value(kv.v)
		if e.err != nil {
			break
		}
	}
	e.b = append(e.b, '}')
	clear(e.members[start:])
	e.members = e.members[:start]
}

// float formats as encoding/json's float64 encoder does (ES6 number formatting).
func (e *encoder) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		e.err = &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	e.b = b
}

const hex = "0123456789abcdef"

// safe marks the ASCII bytes that need no escape in encoding/json's HTML-safe mode.
var safe = func() (s [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		s[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return s
}()

// appendString quotes s as encoding/json does by default: HTML-safe, invalid UTF-8 as
// U+FFFD, and U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
