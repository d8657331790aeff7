package core

import "errors"

// A quantity is k8s.io/apimachinery's resource.Quantity, exactly: sign, decimal digits
// and a power of ten, with binary suffixes multiplied out. Only parsing and comparison
// are needed, so there is no canonical form.
type quantity struct {
	neg    bool
	digits []byte // no leading or trailing zeros; empty for zero
	exp    int    // value = digits × 10^exp
}

// The errors of resource.ParseQuantity.
var (
	errQuantityFormat = errors.New("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
	errQuantitySuffix = errors.New("unable to parse quantity's suffix")
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseQuantity parses a quantity: a decimal number, then a decimal SI suffix (n u m
// "" k M G T P E), a binary SI suffix (Ki Mi Gi Ti Pi Ei) or an exponent (e3, E-2).
func parseQuantity(s string) (quantity, error) {
	var q quantity
	if s == "" {
		return q, errQuantityFormat
	}
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		q.neg = s[i] == '-'
		i++
	}
	// As in Kubernetes, the number may be empty (".", "-" and "Mi" are zero).
	var mant []byte
	frac := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		mant = append(mant, s[i])
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && isDigit(s[i]); i++ {
			mant = append(mant, s[i])
			frac++
		}
	}
	suffix := s[i:]
	// What the regular expression allows after the number.
	j := 0
	for j < len(suffix) && isSuffixLetter(suffix[j]) {
		j++
	}
	if j < len(suffix) && (suffix[j] == '+' || suffix[j] == '-') {
		j++
	}
	for j < len(suffix) && isDigit(suffix[j]) {
		j++
	}
	if j != len(suffix) {
		return q, errQuantityFormat
	}
	exp, bin := -frac, 0
	switch suffix {
	case "":
	case "n":
		exp -= 9
	case "u":
		exp -= 6
	case "m":
		exp -= 3
	case "k":
		exp += 3
	case "M":
		exp += 6
	case "G":
		exp += 9
	case "T":
		exp += 12
	case "P":
		exp += 15
	case "E":
		exp += 18
	case "Ki":
		bin = 1
	case "Mi":
		bin = 2
	case "Gi":
		bin = 3
	case "Ti":
		bin = 4
	case "Pi":
		bin = 5
	case "Ei":
		bin = 6
	default:
		if len(suffix) < 2 || suffix[0] != 'e' && suffix[0] != 'E' {
			return q, errQuantitySuffix
		}
		e, k, neg := 0, 1, false
		if suffix[1] == '+' || suffix[1] == '-' {
			neg, k = suffix[1] == '-', 2
		}
		if k == len(suffix) {
			return q, errQuantitySuffix
		}
		for ; k < len(suffix); k++ {
			if !isDigit(suffix[k]) || e > 1e6 {
				return q, errQuantitySuffix
			}
			e = e*10 + int(suffix[k]-'0')
		}
		if neg {
			e = -e
		}
		exp += e
	}
	// Normalize: strip leading zeros, move trailing zeros into the exponent.
	for len(mant) > 0 && mant[0] == '0' {
		mant = mant[1:]
	}
	for len(mant) > 0 && mant[len(mant)-1] == '0' {
		mant = mant[:len(mant)-1]
		exp++
	}
	for ; bin > 0 && len(mant) > 0; bin-- {
		mant = mulSmall(mant, 1024)
	}
	for len(mant) > 0 && mant[len(mant)-1] == '0' {
		mant = mant[:len(mant)-1]
		exp++
	}
	if len(mant) == 0 {
		return quantity{}, nil
	}
	// Kubernetes keeps nine decimal places, rounding away from zero.
	if exp < -9 {
		cut := len(mant) - (-9 - exp) // digits kept
		if cut <= 0 {
			mant, exp = []byte{'1'}, -9
		} else {
			mant, exp = addOne(mant[:cut]), -9
			for len(mant) > 0 && mant[len(mant)-1] == '0' {
				mant = mant[:len(mant)-1]
				exp++
			}
		}
	}
	q.digits, q.exp = mant, exp
	return q, nil
}

func isSuffixLetter(c byte) bool {
	switch c {
	case 'e', 'E', 'i', 'n', 'u', 'm', 'k', 'K', 'M', 'G', 'T', 'P':
		return true
	}
	return false
}

// addOne adds one to a decimal digit string.
func addOne(d []byte) []byte {
	out := append([]byte(nil), d...)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] < '9' {
			out[i]++
			return out
		}
		out[i] = '0'
	}
	return append([]byte{'1'}, out...)
}

// mulSmall multiplies a decimal digit string by m.
func mulSmall(d []byte, m int) []byte {
	out := make([]byte, len(d)+5)
	carry := 0
	k := len(out)
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i]-'0')*m + carry
		k--
		out[k] = byte(v%10) + '0'
		carry = v / 10
	}
	for carry > 0 {
		k--
		out[k] = byte(carry%10) + '0'
		carry /= 10
	}
	return out[k:]
}

func (q quantity) sign() int {
	switch {
	case len(q.digits) == 0:
		return 0
	case q.neg:
		return -1
	}
	return 1
}

// cmp returns -1, 0 or 1 as q is less than, equal to or greater than r.
func (q quantity) cmp(r quantity) int {
	qs, rs := q.sign(), r.sign()
	if qs != rs {
		if qs < rs {
			return -1
		}
		return 1
	}
	if qs == 0 {
		return 0
	}
	c := cmpMagnitude(q, r)
	if qs < 0 {
		return -c
	}
	return c
}

func cmpMagnitude(q, r quantity) int {
	// The position of the leading digit decides, then the digits.
	qp, rp := len(q.digits)+q.exp, len(r.digits)+r.exp
	if qp != rp {
		if qp < rp {
			return -1
		}
		return 1
	}
	for i := 0; i < max(len(q.digits), len(r.digits)); i++ {
		a, b := byte('0'), byte('0')
		if i < len(q.digits) {
			a = q.digits[i]
		}
		if i < len(r.digits) {
			b = r.digits[i]
		}
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	return 0
}
