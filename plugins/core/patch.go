package core

import (
	"strconv"
	"unicode/utf8"
)

// jsonPatch writes an RFC 6902 JSON Patch by hand: cheaper inside the guest than
// building values and marshalling them.
type jsonPatch struct {
	b []byte
}

func (p *jsonPatch) empty() bool { return len(p.b) == 0 }

// bytes returns the patch, a JSON array.
func (p *jsonPatch) bytes() []byte {
	if len(p.b) == 0 {
		return []byte("[]")
	}
	return append(p.b, ']')
}

// op starts an operation on the path prefix+suffix (two parts, to spare the caller
// a concatenation). Paths are written as they are: parts that come from the object
// (map keys) must go through pathKey.
func (p *jsonPatch) op(op, prefix, suffix string) {
	if len(p.b) == 0 {
		p.b = make([]byte, 0, 2048)
		p.b = append(p.b, '[')
	} else {
		p.b = append(p.b, ',')
	}
	p.b = append(p.b, `{"op":"`...)
	p.b = append(p.b, op...)
	p.b = append(p.b, `","path":"`...)
	p.b = append(p.b, prefix...)
	p.b = append(p.b, suffix...)
	p.b = append(p.b, '"')
}

// add adds (or, for an existing member, replaces) prefix+suffix with value, raw JSON.
func (p *jsonPatch) add(prefix, suffix, value string) {
	p.op("add", prefix, suffix)
	p.b = append(p.b, `,"value":`...)
	p.b = append(p.b, value...)
	p.b = append(p.b, '}')
}

func (p *jsonPatch) addRaw(prefix, suffix string, value []byte) {
	p.op("add", prefix, suffix)
	p.b = append(p.b, `,"value":`...)
	p.b = append(p.b, value...)
	p.b = append(p.b, '}')
}

func (p *jsonPatch) addString(prefix, suffix, value string) {
	p.op("add", prefix, suffix)
	p.b = append(p.b, `,"value":`...)
	p.b = appendString(p.b, value)
	p.b = append(p.b, '}')
}

func (p *jsonPatch) remove(path string) {
	p.op("remove", path, "")
	p.b = append(p.b, '}')
}

// pathKey is a map key as a path part: a JSON Pointer token (RFC 6901), escaped for
// a JSON string.
func pathKey(s string) string {
	t := pointerToken(s)
	for i := 0; i < len(t); i++ {
		if c := t[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return string(appendStringBody(nil, t))
		}
	}
	return t
}

// pointerToken escapes a JSON Pointer reference token (RFC 6901).
func pointerToken(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '~' || s[i] == '/' {
			out := make([]byte, 0, len(s)+4)
			for j := 0; j < len(s); j++ {
				switch s[j] {
				case '~':
					out = append(out, '~', '0')
				case '/':
					out = append(out, '~', '1')
				default:
					out = append(out, s[j])
				}
			}
			return string(out)
		}
	}
	return s
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does (less the
// HTML escapes, which a patch does not need).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s)
	return append(b, '"')
}

// appendStringBody appends s escaped, without the quotes.
func appendStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, `\u202`...)
				b = append(b, hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

func itoa(i int) string { return strconv.Itoa(i) }
