package sdk

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSONReader is a small, allocation-light JSON pull parser for decoding fed objects
// by hand. encoding/json works by reflection, which inside a wasm guest costs dozens
// of times what it costs natively; walking the bytes into the few fields a
// controller reads does not.
//
// A decoder calls one method per value, in document order: Object and Array walk a
// container, calling back with the reader positioned before each member's value (the
// callback must consume that value, with a read method or Skip); String, Int, Bool
// and the rest read a scalar. Every value is checked as it is read or skipped, so a
// document that is read or skipped to its end, followed by End, has been validated as
// fully as encoding/json validates it.
//
// The reader stops at the first error: it records it (see Err), every later call
// reads nothing and returns zero values, and callbacks are no longer called. It never
// panics on malformed input. Errors are *JSONError, carrying the byte offset of the
// offending value or byte.
//
// The results match encoding/json's for the same Go types, with one deliberate
// difference: object keys match case-sensitively, as Kubernetes' decoder matches
// them (encoding/json would also match "Name" to a field tagged "name"). A JSON null
// reads as the zero value; a decoder that must tell null apart, or that leaves a
// pointer nil on null as encoding/json does, checks Null first.
//
// Strings are unescaped as encoding/json unescapes them: invalid UTF-8 and unpaired
// surrogates become U+FFFD. Byte slices the reader returns (keys, Bytes, Raw) alias
// the input when the text needed no unescaping and are freshly allocated otherwise;
// either way they stay valid as long as the input does, and must not be modified.
type JSONReader struct {
	b     []byte
	i     int
	depth int
	err   error
}

// JSONError is a malformed or unexpected value found by a JSONReader.
type JSONError struct {
	Offset int    // byte offset in the input
	Msg    string // what was wrong, e.g. "expected a string"
}

func (e *JSONError) Error() string {
	return "json: " + e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

// JSONKind is the kind of the next value in a JSONReader.
type JSONKind uint8

const (
	JSONInvalid JSONKind = iota // the end of input, or a byte no value starts with
	JSONNull
	JSONBool
	JSONNumber
	JSONString
	JSONArray
	JSONObject
)

// JSONMaxDepth bounds the nesting of arrays and objects, as encoding/json bounds it.
const JSONMaxDepth = 10000

// NewJSONReader returns a reader positioned before the first value of b.
func NewJSONReader(b []byte) *JSONReader { return &JSONReader{b: b} }

// Reset repositions r before the first value of b, clearing any error.
func (r *JSONReader) Reset(b []byte) { *r = JSONReader{b: b} }

// Err returns the first error the reader met, or nil.
func (r *JSONReader) Err() error { return r.err }

// Offset returns the reader's position in the input.
func (r *JSONReader) Offset() int { return r.i }

// Fail records an error at the start of the next value, unless one is recorded
// already, and stops the reader. Decoders use it for values that are well-formed
// JSON but not what they expect.
func (r *JSONReader) Fail(msg string) {
	r.ws()
	r.failAt(r.i, msg)
}

func (r *JSONReader) failAt(off int, msg string) {
	if r.err == nil {
		r.err = &JSONError{Offset: off, Msg: msg}
	}
	r.i = len(r.b)
}

func (r *JSONReader) fail(msg string) { r.failAt(r.i, msg) }

// End checks that only white space follows the values read, and returns Err.
func (r *JSONReader) End() error {
	if r.err == nil {
		if r.ws(); r.i < len(r.b) {
			r.fail("data after the value")
		}
	}
	return r.err
}

func (r *JSONReader) ws() {
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
func (r *JSONReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// Kind returns the kind of the next value, judged by its first byte, without
// consuming it.
func (r *JSONReader) Kind() JSONKind {
	switch c := r.peek(); {
	case c == '{':
		return JSONObject
	case c == '[':
		return JSONArray
	case c == '"':
		return JSONString
	case c == 't' || c == 'f':
		return JSONBool
	case c == 'n':
		return JSONNull
	case c == '-' || isJSONDigit(c):
		return JSONNumber
	}
	return JSONInvalid
}

func (r *JSONReader) literal(lit string) bool {
	if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
		r.i += len(lit)
		return true
	}
	return false
}

// Null consumes a null if one is next, and reports whether it did.
func (r *JSONReader) Null() bool {
	return r.peek() == 'n' && r.literal("null")
}

// Object calls f for each member of an object, in order, with the member's key
// (unescaped) and the reader positioned before its value, which f must consume. A
// null is read as an empty object; anything else is an error.
func (r *JSONReader) Object(f func(key []byte)) {
	if r.Null() {
		return
	}
	if r.peek() != '{' {
		r.fail("expected an object")
		return
	}
	if r.depth++; r.depth > JSONMaxDepth {
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
			r.fail("expected a string key")
			return
		}
		k := r.str(false)
		if r.peek() != ':' {
			r.fail("expected ':' after an object key")
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
			r.fail("expected ',' or '}' after an object member")
		}
	}
}

// Array calls f for each element of an array, with its index and the reader
// positioned before it; f must consume it. A null is read as an empty array;
// anything else is an error.
func (r *JSONReader) Array(f func(i int)) {
	if r.Null() {
		return
	}
	if r.peek() != '[' {
		r.fail("expected an array")
		return
	}
	if r.depth++; r.depth > JSONMaxDepth {
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
			r.fail("expected ',' or ']' after an array element")
		}
	}
}

// Str reads a string; null reads as "". (Not String: that would make the reader a
// fmt.Stringer that consumes input when formatted.)
func (r *JSONReader) Str() string {
	if r.Null() {
		return ""
	}
	return string(r.str(false))
}

// Bytes reads a string and returns it unescaped, without copying when it had no
// escapes (see JSONReader on aliasing); null reads as nil.
func (r *JSONReader) Bytes() []byte {
	if r.Null() {
		return nil
	}
	return r.str(false)
}

// str consumes a string and returns its contents, unescaped; with skip it only
// checks the string and returns nil.
func (r *JSONReader) str(skip bool) []byte {
	if r.peek() != '"' {
		r.fail("expected a string")
		return nil
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if skip {
				return nil
			}
			return r.b[start : r.i-1]
		case c == '\\':
			if !skip {
				return r.unescape(start)
			}
			if _, ok := r.escape(nil, false); !ok {
				return nil
			}
		case c < 0x20:
			r.fail("control character in string")
			return nil
		case c < utf8.RuneSelf:
			r.i++
		default:
			ru, n := utf8.DecodeRune(r.b[r.i:])
			if ru == utf8.RuneError && n == 1 && !skip {
				return r.unescape(start)
			}
			r.i += n
		}
	}
	r.fail("unterminated string")
	return nil
}

// unescape finishes a string from r.i, where an escape or invalid UTF-8 is, into a
// new slice holding b[start:r.i] so far.
func (r *JSONReader) unescape(start int) []byte {
	out := make([]byte, r.i-start, r.i-start+16)
	copy(out, r.b[start:r.i])
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return out
		case c == '\\':
			var ok bool
			if out, ok = r.escape(out, true); !ok {
				return nil
			}
		case c < 0x20:
			r.fail("control character in string")
			return nil
		case c < utf8.RuneSelf:
			out = append(out, c)
			r.i++
		default:
			ru, n := utf8.DecodeRune(r.b[r.i:])
			if ru == utf8.RuneError && n == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, r.b[r.i:r.i+n]...)
			}
			r.i += n
		}
	}
	r.fail("unterminated string")
	return nil
}

// escape consumes the escape at r.i, appending what it stands for to out when build
// is set. It reports false, having failed, if the escape is malformed.
func (r *JSONReader) escape(out []byte, build bool) ([]byte, bool) {
	at := r.i
	if r.i+1 >= len(r.b) {
		r.i = len(r.b)
		r.fail("unterminated string")
		return out, false
	}
	e := r.b[r.i+1]
	r.i += 2
	var c byte
	switch e {
	case '"', '\\', '/':
		c = e
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		c1, ok := hex4(r.b[r.i:])
		if !ok {
			r.failAt(at, "bad \\u escape in string")
			return out, false
		}
		r.i += 4
		if !build {
			return out, true
		}
		ru := rune(c1)
		if utf16.IsSurrogate(ru) {
			// A valid pair is one character; anything else is U+FFFD, and what
			// follows is read on its own, as encoding/json does.
			ru = utf8.RuneError
			if rest := r.b[r.i:]; len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
				if c2, ok := hex4(rest[2:]); ok {
					if d := utf16.DecodeRune(rune(c1), rune(c2)); d != utf8.RuneError {
						ru = d
						r.i += 6
					}
				}
			}
		}
		out = utf8.AppendRune(out, ru)
		return out, true
	default:
		r.failAt(at, "bad escape in string")
		return out, false
	}
	if build {
		out = append(out, c)
	}
	return out, true
}

func hex4(b []byte) (int, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v := 0
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func isJSONDigit(c byte) bool { return c >= '0' && c <= '9' }

// number consumes a number, strictly as JSON's grammar has it, and returns its text
// and whether it is an integer (has no fraction or exponent).
func (r *JSONReader) number() (text []byte, isInt, ok bool) {
	r.ws()
	start, i, b := r.i, r.i, r.b
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isJSONDigit(b[i]):
		for i < len(b) && isJSONDigit(b[i]) {
			i++
		}
	default:
		r.fail("expected a number")
		return nil, false, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isJSONDigit(b[i]) {
			r.fail("bad number")
			return nil, false, false
		}
		for i < len(b) && isJSONDigit(b[i]) {
			i++
		}
		isInt = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isJSONDigit(b[i]) {
			r.fail("bad number")
			return nil, false, false
		}
		for i < len(b) && isJSONDigit(b[i]) {
			i++
		}
		isInt = false
	}
	r.i = i
	return b[start:i], isInt, true
}

// Int reads an integer that fits in an int64; null reads as 0. A number with a
// fraction or exponent is an error, as encoding/json makes it for integer fields.
func (r *JSONReader) Int() int64 {
	v, _ := r.integer(64)
	return v
}

// Int32 reads an integer that fits in an int32; null reads as 0.
func (r *JSONReader) Int32() int32 {
	v, _ := r.integer(32)
	return int32(v)
}

func (r *JSONReader) integer(bits uint) (int64, bool) {
	if r.Null() {
		return 0, false
	}
	if r.peek() != '-' && !isJSONDigit(r.peek()) {
		r.fail("expected an integer")
		return 0, false
	}
	start := r.i
	t, isInt, ok := r.number()
	if !ok {
		return 0, false
	}
	if !isInt {
		r.failAt(start, "expected an integer, not "+string(t))
		return 0, false
	}
	neg := t[0] == '-'
	if neg {
		t = t[1:]
	}
	limit := uint64(1)<<(bits-1) - 1
	if neg {
		limit++
	}
	var u uint64
	for _, c := range t {
		d := uint64(c - '0')
		if u > (limit-d)/10 {
			r.failAt(start, "integer overflows int"+strconv.Itoa(int(bits)))
			return 0, false
		}
		u = u*10 + d
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// Float reads a number; null reads as 0. A number beyond float64's range is an
// error.
func (r *JSONReader) Float() float64 {
	if r.Null() {
		return 0
	}
	start := r.peek()
	if start != '-' && !isJSONDigit(start) {
		r.fail("expected a number")
		return 0
	}
	at := r.i
	t, _, ok := r.number()
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil {
		r.failAt(at, "number out of range")
		return 0
	}
	return f
}

// Bool reads true or false; null reads as false.
func (r *JSONReader) Bool() bool {
	switch r.peek() {
	case 't':
		if r.literal("true") {
			return true
		}
	case 'f':
		if r.literal("false") {
			return false
		}
	case 'n':
		if r.literal("null") {
			return false
		}
	}
	r.fail("expected a boolean")
	return false
}

// Raw consumes one value, checking it, and returns its text, as json.RawMessage
// would hold it (a null is the text "null"); nil after an error.
func (r *JSONReader) Raw() []byte {
	r.ws()
	start := r.i
	r.Skip()
	if r.err != nil {
		return nil
	}
	return r.b[start:r.i]
}

// Skip consumes the next value, checking it as fully as the other methods would.
// It walks nested values in one loop over a local position rather than through
// Object and Array and their callbacks: a guest skips most of what it is fed, and
// in wasm each call and each store of the position costs several times what it
// does natively.
func (r *JSONReader) Skip() {
	var stackBuf [32]bool // open containers, innermost last: true for an object
	stack := stackBuf[:0]
	b, i := r.b, r.i
	ok := true
	for {
		// A value.
		i = skipSpace(b, i)
		if i >= len(b) {
			r.failAt(i, "unexpected end of input")
			return
		}
		switch c := b[i]; {
		case c == '"':
			if i = r.skipString(i); r.err != nil {
				return
			}
		case c == '{' || c == '[':
			if r.depth+len(stack)+1 > JSONMaxDepth {
				r.failAt(i, "nested too deep")
				return
			}
			closer := byte(']')
			if c == '{' {
				closer = '}'
			}
			if i = skipSpace(b, i+1); i < len(b) && b[i] == closer {
				i++
				break
			}
			stack = append(stack, c == '{')
			if c == '{' {
				if i, ok = r.skipKey(i); !ok {
					return
				}
			}
			continue
		case c == 't' || c == 'f' || c == 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
				r.failAt(i, "bad literal")
				return
			}
			i += len(lit)
		case c == '-' || isJSONDigit(c):
			r.i = i
			if r.number(); r.err != nil {
				return
			}
			i = r.i
		default:
			r.failAt(i, "expected a value")
			return
		}
		// After a value: close what it ends, or go on to the next member.
		for {
			if len(stack) == 0 {
				r.i = i
				return
			}
			obj := stack[len(stack)-1]
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i++
				if obj {
					if i, ok = r.skipKey(i); !ok {
						return
					}
				}
				break
			}
			if i < len(b) && (obj && b[i] == '}' || !obj && b[i] == ']') {
				i++
				stack = stack[:len(stack)-1]
				continue
			}
			if obj {
				r.failAt(i, "expected ',' or '}' after an object member")
			} else {
				r.failAt(i, "expected ',' or ']' after an array element")
			}
			return
		}
	}
}

// skipSpace returns the position of the first byte at or after i that is not white
// space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipKey reads an object member's key and its colon from b[i] on, and returns the
// position after them; on malformed input it records the error.
func (r *JSONReader) skipKey(i int) (int, bool) {
	b := r.b
	if i = skipSpace(b, i); i >= len(b) || b[i] != '"' {
		r.failAt(i, "expected a string key")
		return i, false
	}
	if i = r.skipString(i); r.err != nil {
		return i, false
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		r.failAt(i, "expected ':' after an object key")
		return i, false
	}
	return i + 1, true
}

// skipString checks the string that starts at b[i] and returns the position after
// it; on a malformed string it records the error.
func (r *JSONReader) skipString(i int) int {
	b := r.b
	j := i + 1
	for j < len(b) && plainInString[b[j]] {
		j++
	}
	if j < len(b) && b[j] == '"' {
		return j + 1
	}
	r.i = i
	r.str(true)
	return r.i
}

// plainInString marks the bytes a string holds as they are: ASCII, neither a
// control character, a quote nor a backslash.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (r *JSONReader) lit(s string) {
	if !r.literal(s) {
		r.fail("bad literal")
	}
}

// Helpers for the SDK's own types. Each reads as encoding/json decodes into the
// type: members it does not know are skipped, null leaves a field as it was (and
// sets a map, slice or pointer to nil), maps are added to, and slices reuse their
// elements.

// ObjectMeta reads an object's metadata into m.
func (r *JSONReader) ObjectMeta(m *ObjectMeta) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "name":
			r.setString(&m.Name)
		case "generateName":
			r.setString(&m.GenerateName)
		case "namespace":
			r.setString(&m.Namespace)
		case "uid":
			r.setString(&m.UID)
		case "resourceVersion":
			r.setString(&m.ResourceVersion)
		case "generation":
			r.setInt(&m.Generation)
		case "creationTimestamp":
			r.setString(&m.CreationTimestamp)
		case "deletionTimestamp":
			r.setString(&m.DeletionTimestamp)
		case "deletionGracePeriodSeconds":
			if r.Null() {
				m.DeletionGracePeriodSeconds = nil
			} else {
				if m.DeletionGracePeriodSeconds == nil {
					m.DeletionGracePeriodSeconds = new(int64)
				}
				*m.DeletionGracePeriodSeconds = r.Int()
			}
		case "labels":
			r.StringMap(&m.Labels)
		case "annotations":
			r.StringMap(&m.Annotations)
		case "ownerReferences":
			JSONSlice(r, &m.OwnerReferences, r.ownerReference)
		case "finalizers":
			JSONSlice(r, &m.Finalizers, r.setString)
		default:
			r.Skip()
		}
	})
}

func (r *JSONReader) ownerReference(o *OwnerReference) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "apiVersion":
			r.setString(&o.APIVersion)
		case "kind":
			r.setString(&o.Kind)
		case "name":
			r.setString(&o.Name)
		case "uid":
			r.setString(&o.UID)
		case "controller":
			r.setBoolPtr(&o.Controller)
		case "blockOwnerDeletion":
			r.setBoolPtr(&o.BlockOwnerDeletion)
		default:
			r.Skip()
		}
	})
}

// LabelSelector reads a label selector into s.
func (r *JSONReader) LabelSelector(s *LabelSelector) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "matchLabels":
			r.StringMap(&s.MatchLabels)
		case "matchExpressions":
			JSONSlice(r, &s.MatchExpressions, r.requirement)
		default:
			r.Skip()
		}
	})
}

func (r *JSONReader) requirement(q *LabelSelectorRequirement) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "key":
			r.setString(&q.Key)
		case "operator":
			r.setString(&q.Operator)
		case "values":
			JSONSlice(r, &q.Values, r.setString)
		default:
			r.Skip()
		}
	})
}

// Conditions reads a list of conditions into cs.
func (r *JSONReader) Conditions(cs *[]Condition) { JSONSlice(r, cs, r.condition) }

func (r *JSONReader) condition(c *Condition) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "type":
			r.setString(&c.Type)
		case "status":
			r.setString(&c.Status)
		case "observedGeneration":
			r.setInt(&c.ObservedGeneration)
		case "lastUpdateTime":
			r.setString(&c.LastUpdateTime)
		case "lastTransitionTime":
			r.setString(&c.LastTransitionTime)
		case "reason":
			r.setString(&c.Reason)
		case "message":
			r.setString(&c.Message)
		default:
			r.Skip()
		}
	})
}

// StringMap reads an object of strings into *m, adding to the map (made if nil);
// null sets *m to nil.
func (r *JSONReader) StringMap(m *map[string]string) {
	if r.Null() {
		*m = nil
		return
	}
	if r.peek() != '{' {
		r.fail("expected an object")
		return
	}
	if *m == nil {
		*m = map[string]string{}
	}
	mm := *m
	r.Object(func(k []byte) {
		if r.Kind() != JSONString && r.Kind() != JSONNull {
			r.fail("expected a string")
			return
		}
		mm[string(k)] = r.Str()
	})
}

// JSONSlice reads an array into *s as encoding/json does: null sets *s to nil and []
// to an empty slice; otherwise each element is read by elem, called with the reader
// positioned before it, into the slice's existing element at that index if its
// capacity reaches it, else into a zero one appended.
func JSONSlice[T any](r *JSONReader, s *[]T, elem func(*T)) {
	if r.Null() {
		*s = nil
		return
	}
	if r.peek() != '[' {
		r.fail("expected an array")
		return
	}
	v, n := *s, 0
	r.Array(func(i int) {
		if i < cap(v) {
			v = v[:i+1]
		} else {
			var zero T
			v = append(v[:i], zero)
		}
		elem(&v[i])
		n = i + 1
	})
	if r.err != nil {
		return
	}
	if n == 0 {
		v = []T{}
	}
	*s = v[:n]
}

// setString reads a string into *p; null leaves it.
func (r *JSONReader) setString(p *string) {
	if !r.Null() {
		*p = string(r.str(false))
	}
}

// setInt reads an int64 into *p; null leaves it.
func (r *JSONReader) setInt(p *int64) {
	if !r.Null() {
		*p = r.Int()
	}
}

// setBoolPtr reads a boolean into **p, allocating it if nil; null sets *p to nil.
func (r *JSONReader) setBoolPtr(p **bool) {
	if r.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(bool)
	}
	**p = r.Bool()
}
