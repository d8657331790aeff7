package core

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// reader is a small JSON pull parser for the pod decoder. encoding/json works by
// reflection, which inside the guest costs dozens of times what it costs natively;
// walking the bytes by hand into the few fields the rules read does not. Keys match
// case-sensitively, as Kubernetes' decoder does; null leaves a field unset.
type reader struct {
	b     []byte
	i     int
	depth int
	err   error
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg + " at offset " + strconv.Itoa(r.i))
	}
	r.i = len(r.b)
}

func (r *reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (r *reader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// null consumes a null if one is next.
func (r *reader) null() bool {
	if r.peek() == 'n' && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// object calls f for each member of an object, with r before the member's value;
// f must consume the value. null is an empty object.
func (r *reader) object(f func(key []byte)) {
	if r.null() {
		return
	}
	if r.peek() != '{' {
		r.fail("expected an object")
		return
	}
	if r.depth++; r.depth > maxDepth {
		r.fail("nested too deep")
		return
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		r.depth--
		return
	}
	for r.err == nil {
		if r.peek() != '"' {
			r.fail("expected a key")
			return
		}
		k := r.rawString()
		if r.peek() != ':' {
			r.fail("expected ':'")
			return
		}
		r.i++
		f(k)
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			r.depth--
			return
		default:
			r.fail("expected ',' or '}'")
		}
	}
}

// array calls f for each element, with r before it; f must consume it. null is empty.
func (r *reader) array(f func(i int)) {
	if r.null() {
		return
	}
	if r.peek() != '[' {
		r.fail("expected an array")
		return
	}
	if r.depth++; r.depth > maxDepth {
		r.fail("nested too deep")
		return
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		r.depth--
		return
	}
	for n := 0; r.err == nil; n++ {
		f(n)
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			r.depth--
			return
		default:
			r.fail("expected ',' or ']'")
		}
	}
}

// rawString consumes a string and returns its contents, unescaped only if it had
// escapes (then freshly allocated).
func (r *reader) rawString() []byte {
	if r.peek() != '"' {
		r.fail("expected a string")
		return nil
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			return s
		case c == '\\':
			return r.escaped(start)
		case c < 0x20:
			r.fail("control character in string")
			return nil
		default:
			r.i++
		}
	}
	r.fail("unterminated string")
	return nil
}

func (r *reader) escaped(start int) []byte {
	out := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return out
		case c < 0x20:
			r.fail("control character in string")
			return nil
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			break
		}
		r.i += 2
		switch e := r.b[r.i-1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return nil
			}
			ru := rune(c1)
			if utf16.IsSurrogate(ru) {
				ru = utf8.RuneError
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					if c2, ok := r.hex4(); ok {
						if d := utf16.DecodeRune(rune(c1), rune(c2)); d != utf8.RuneError {
							ru = d
						} else {
							r.i = save
						}
					} else {
						return nil
					}
				}
			}
			out = utf8.AppendRune(out, ru)
		default:
			r.fail("bad escape")
			return nil
		}
	}
	r.fail("unterminated string")
	return nil
}

func (r *reader) hex4() (int, bool) {
	if len(r.b)-r.i < 4 {
		r.fail("bad \\u escape")
		return 0, false
	}
	v := 0
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v*16 + int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v*16 + int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v*16 + int(c-'A'+10)
		default:
			r.fail("bad \\u escape")
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

// str reads a string into *s; null leaves it.
func (r *reader) str(s *string) {
	if r.null() {
		return
	}
	*s = string(r.rawString())
}

// int reads an integer into *n; null leaves it.
func (r *reader) int(n *int64) {
	if r.null() {
		return
	}
	r.ws()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	for r.i < len(r.b) && isDigit(r.b[r.i]) {
		r.i++
	}
	v, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	if err != nil {
		r.i = start
		r.fail("expected an integer")
		return
	}
	*n = v
}

// intPtr reads an integer into a new *int64; null leaves *p nil.
func (r *reader) intPtr(p **int64) {
	if r.null() {
		*p = nil
		return
	}
	var v int64
	r.int(&v)
	*p = &v
}

// boolean reads true or false; null leaves *v.
func (r *reader) boolean(v *bool) {
	if r.null() {
		return
	}
	r.ws()
	switch {
	case len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "true":
		*v = true
		r.i += 4
	case len(r.b)-r.i >= 5 && string(r.b[r.i:r.i+5]) == "false":
		*v = false
		r.i += 5
	default:
		r.fail("expected a boolean")
	}
}

// present skips a value and reports whether it was other than null.
func (r *reader) present() bool {
	if r.null() {
		return false
	}
	r.skip()
	return true
}

// raw skips a value and returns its bytes.
func (r *reader) raw() []byte {
	r.ws()
	start := r.i
	r.skip()
	return r.b[start:r.i]
}

// skip consumes one value, checking it only as far as finding its end needs.
func (r *reader) skip() {
	switch c := r.peek(); {
	case c == '"':
		r.rawString()
	case c == '{':
		r.object(func([]byte) { r.skip() })
	case c == '[':
		r.array(func(int) { r.skip() })
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
				r.i += len(lit)
				return
			}
		}
		r.fail("bad literal")
	case c == '-' || isDigit(c):
		start := r.i
		r.i++
		for r.i < len(r.b) {
			d := r.b[r.i]
			if !isDigit(d) && d != '.' && d != 'e' && d != 'E' && d != '+' && d != '-' {
				break
			}
			r.i++
		}
		if _, err := strconv.ParseFloat(string(r.b[start:r.i]), 64); err != nil {
			r.i = start
			r.fail("bad number")
		}
	default:
		r.fail("expected a value")
	}
}

// end checks nothing but space follows the value read.
func (r *reader) end() error {
	if r.err == nil && r.peek() != 0 {
		r.fail("data after the value")
	}
	return r.err
}
