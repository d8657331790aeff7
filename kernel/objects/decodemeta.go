package objects

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/ujson"
	"weft.dev/weft/store"
)

// DecodeMeta turns a stored value of kind e into an object for a kernel controller
// that watches the store and reads only apiVersion, kind and metadata without
// managedFields (the garbage collector). The object must not be modified.
//
// A version decoded already is shared as is. Otherwise, if e's versions were lately
// read again while in the shared window, more readers are likely to follow (the
// scheduler after a pod change, the next renewal of a Lease when the window spans
// the interval), so the whole is decoded and shared. Else only the members above are
// decoded and nothing is shared, since other readers need the whole; the read is
// noted, so that a whole decode of the version that follows counts as a read again.
func (s *Service) DecodeMeta(e *registry.Entry, kv store.KV) (*unstructured.Unstructured, error) {
	u, whole := s.shared.getForMeta(sharedKey{kv.Key, kv.ModRevision}, e.Prefix)
	if u != nil {
		return u, nil
	}
	if whole || sealed(e, kv.Value) {
		return s.DecodeShared(e, kv)
	}
	u, err := s.decodeMeta(kv)
	if err == nil {
		s.shared.put(sharedKey{kv.Key, kv.ModRevision}, e.Prefix, 0, nil, nil)
	}
	return u, err
}

// DecodeListedMeta is DecodeMeta for a listing of the store: the versions are not
// ones other readers are about to ask for, so only what is shared already is reused
// and nothing is shared.
func (s *Service) DecodeListedMeta(e *registry.Entry, kv store.KV) (*unstructured.Unstructured, error) {
	if u := s.shared.get(sharedKey{kv.Key, kv.ModRevision}); u != nil {
		return u, nil
	}
	if sealed(e, kv.Value) {
		return s.decode(e, kv)
	}
	return s.decodeMeta(kv)
}

// sealed is decode's test for a value to open first; such values are rare (the kinds
// encrypted at rest), and are decoded whole.
func sealed(e *registry.Entry, raw []byte) bool {
	return e.EncryptAtRest || len(raw) == 0 || raw[0] != '{'
}

func (s *Service) decodeMeta(kv store.KV) (*unstructured.Unstructured, error) {
	part, err := metaMembers(kv.Value)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("decode %s: %w", kv.Key, err))
	}
	obj, err := ujson.UnmarshalObject(part)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("decode %s: %w", kv.Key, err))
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetResourceVersion(strconv.FormatInt(kv.ModRevision, 10))
	return u, nil
}

// piece is a part of the object metaMembers writes: the byte pre (if any), then
// raw[from:to].
type piece struct {
	pre      byte
	from, to int
}

// metaMembers returns a JSON object of the object raw's members apiVersion, kind and
// metadata, the last without its managedFields, as written and in their order, so
// that the service's decoder decodes them as it would in raw, duplicates included.
// managedFields are most of the metadata of a pod or a Lease, and most of its decode.
// The rest of raw is only checked, so that raw is refused exactly when the full
// decode would refuse it.
func metaMembers(raw []byte) ([]byte, error) {
	sc := scanner{data: raw}
	var buf [16]piece
	pieces := buf[:0]
	sep := byte('{')
	err := sc.object(1, func(key []byte, escaped bool, from int) error {
		if !isName(key, escaped, "apiVersion", "kind", "metadata") {
			return sc.value(1)
		}
		if sc.off >= len(raw) || raw[sc.off] != '{' || !isName(key, escaped, "metadata") {
			if err := sc.value(1); err != nil {
				return err
			}
			pieces = append(pieces, piece{sep, from, sc.off})
			sep = ','
			return nil
		}
		pieces = append(pieces, piece{sep, from, sc.off + 1})
		sep = ','
		inner := byte(0)
		err := sc.object(2, func(key []byte, escaped bool, from int) error {
			if err := sc.value(2); err != nil || isName(key, escaped, "managedFields") {
				return err
			}
			pieces = append(pieces, piece{inner, from, sc.off})
			inner = ','
			return nil
		})
		pieces = append(pieces, piece{pre: '}'})
		return err
	})
	if err != nil {
		return nil, err
	}
	sc.space()
	if sc.off < len(raw) {
		return nil, sc.fail("after top-level value")
	}
	size := 2
	for _, p := range pieces {
		size += 1 + p.to - p.from
	}
	out := make([]byte, 0, size)
	if len(pieces) == 0 {
		out = append(out, '{')
	}
	for _, p := range pieces {
		if p.pre != 0 {
			out = append(out, p.pre)
		}
		out = append(out, raw[p.from:p.to]...)
	}
	return append(out, '}'), nil
}

// isName reports whether a scanned key (quotes included) is one of names.
func isName(key []byte, escaped bool, names ...string) bool {
	k := key[1 : len(key)-1]
	if escaped {
		// Rare; the scanner has checked the escapes.
		var s string
		if json.Unmarshal(key, &s) != nil {
			return false
		}
		k = []byte(s)
	}
	for _, n := range names {
		if string(k) == n {
			return true
		}
	}
	return false
}

// maxDepth is encoding/json's nesting limit, which the full decode enforces.
const maxDepth = 10000

// scanner checks JSON by encoding/json's grammar and limits without building values.
type scanner struct {
	data []byte
	off  int
}

var errEOF = errors.New("unexpected end of JSON input")

func (sc *scanner) fail(where string) error {
	if sc.off >= len(sc.data) {
		return errEOF
	}
	return fmt.Errorf("invalid character %q %s at offset %d", sc.data[sc.off], where, sc.off)
}

func (sc *scanner) space() {
	for sc.off < len(sc.data) {
		switch sc.data[sc.off] {
		case ' ', '\t', '\n', '\r':
			sc.off++
		default:
			return
		}
	}
}

// object scans the object at sc.off, at nesting depth depth. member is called with
// each key (quotes included), whether it has escapes, and where the member starts,
// and must scan the value after the colon.
func (sc *scanner) object(depth int, member func(key []byte, escaped bool, from int) error) error {
	if depth > maxDepth {
		return errors.New("exceeded max depth")
	}
	sc.off++ // '{'
	sc.space()
	if sc.off < len(sc.data) && sc.data[sc.off] == '}' {
		sc.off++
		return nil
	}
	for {
		if sc.off >= len(sc.data) || sc.data[sc.off] != '"' {
			return sc.fail("looking for beginning of object key string")
		}
		from := sc.off
		escaped, err := sc.str()
		if err != nil {
			return err
		}
		key := sc.data[from:sc.off]
		sc.space()
		if sc.off >= len(sc.data) || sc.data[sc.off] != ':' {
			return sc.fail("after object key")
		}
		sc.off++
		sc.space()
		if member != nil {
			err = member(key, escaped, from)
		} else {
			err = sc.value(depth)
		}
		if err != nil {
			return err
		}
		sc.space()
		if sc.off >= len(sc.data) {
			return errEOF
		}
		switch sc.data[sc.off] {
		case ',':
			sc.off++
			sc.space()
		case '}':
			sc.off++
			return nil
		default:
			return sc.fail("after object key:value pair")
		}
	}
}

func (sc *scanner) array(depth int) error {
	if depth > maxDepth {
		return errors.New("exceeded max depth")
	}
	sc.off++ // '['
	sc.space()
	if sc.off < len(sc.data) && sc.data[sc.off] == ']' {
		sc.off++
		return nil
	}
	for {
		if err := sc.value(depth); err != nil {
			return err
		}
		sc.space()
		if sc.off >= len(sc.data) {
			return errEOF
		}
		switch sc.data[sc.off] {
		case ',':
			sc.off++
			sc.space()
		case ']':
			sc.off++
			return nil
		default:
			return sc.fail("after array element")
		}
	}
}

// value scans the value at sc.off, inside a container at nesting depth depth.
func (sc *scanner) value(depth int) error {
	if sc.off >= len(sc.data) {
		return errEOF
	}
	switch c := sc.data[sc.off]; {
	case c == '{':
		return sc.object(depth+1, nil)
	case c == '[':
		return sc.array(depth + 1)
	case c == '"':
		_, err := sc.str()
		return err
	case c == '-' || '0' <= c && c <= '9':
		return sc.number()
	case c == 't':
		return sc.literal("true")
	case c == 'f':
		return sc.literal("false")
	case c == 'n':
		return sc.literal("null")
	}
	return sc.fail("looking for beginning of value")
}

// plain marks the bytes a string holds as they are.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans the string at sc.off and reports whether it has escapes. Invalid UTF-8 is
// accepted, as the decoder replaces it.
func (sc *scanner) str() (escaped bool, err error) {
	sc.off++ // '"'
	for {
		for sc.off < len(sc.data) && plain[sc.data[sc.off]] {
			sc.off++
		}
		if sc.off >= len(sc.data) {
			return false, errEOF
		}
		switch sc.data[sc.off] {
		case '"':
			sc.off++
			return escaped, nil
		case '\\':
			escaped = true
			sc.off++
			if sc.off >= len(sc.data) {
				return false, errEOF
			}
			switch sc.data[sc.off] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				sc.off++
			case 'u':
				sc.off++
				for range 4 {
					if sc.off >= len(sc.data) {
						return false, errEOF
					}
					if !isHex(sc.data[sc.off]) {
						return false, sc.fail("in \\u hexadecimal character escape")
					}
					sc.off++
				}
			default:
				return false, sc.fail("in string escape code")
			}
		default:
			return false, sc.fail("in string literal")
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (sc *scanner) digits() {
	for sc.off < len(sc.data) && isDigit(sc.data[sc.off]) {
		sc.off++
	}
}

// number scans a number, and refuses one beyond float64's range as the decoder does.
func (sc *scanner) number() error {
	from := sc.off
	if sc.data[sc.off] == '-' {
		sc.off++
	}
	switch {
	case sc.off >= len(sc.data):
		return errEOF
	case sc.data[sc.off] == '0':
		sc.off++
	case isDigit(sc.data[sc.off]):
		sc.digits()
	default:
		return sc.fail("in numeric literal")
	}
	if sc.off < len(sc.data) && sc.data[sc.off] == '.' {
		sc.off++
		if sc.off >= len(sc.data) || !isDigit(sc.data[sc.off]) {
			return sc.fail("after decimal point in numeric literal")
		}
		sc.digits()
	}
	exp := false
	if sc.off < len(sc.data) && (sc.data[sc.off] == 'e' || sc.data[sc.off] == 'E') {
		exp = true
		sc.off++
		if sc.off < len(sc.data) && (sc.data[sc.off] == '+' || sc.data[sc.off] == '-') {
			sc.off++
		}
		if sc.off >= len(sc.data) || !isDigit(sc.data[sc.off]) {
			return sc.fail("in exponent of numeric literal")
		}
		sc.digits()
	}
	// Without an exponent only a number of over 308 digits can overflow.
	if exp || sc.off-from > 300 {
		if _, err := strconv.ParseFloat(string(sc.data[from:sc.off]), 64); err != nil {
			return fmt.Errorf("cannot unmarshal number %s into Go value of type float64", sc.data[from:sc.off])
		}
	}
	return nil
}

func (sc *scanner) literal(word string) error {
	for i := range len(word) {
		if sc.off >= len(sc.data) {
			return errEOF
		}
		if sc.data[sc.off] != word[i] {
			return sc.fail("in literal " + word)
		}
		sc.off++
	}
	return nil
}
