package schema

import (
	"net/url"
	"strings"
	"time"

	"k8s.io/kube-openapi/pkg/validation/strfmt"
)

// stringFormat returns the checker for a string format, or nil when the
// format is not validated. Kubernetes validates the formats listed in
// apiextensions-apiserver's supported set and silently ignores any other,
// and so do we. Names are normalised like go-openapi does ("date-time" and
// "datetime" are the same format).
//
// The checkers are resolved here, once, rather than through
// strfmt.Default.Validates on every value: that registry takes an exclusive
// lock per call, which would serialise concurrent writes.
func stringFormat(format string) func(string) bool {
	switch strings.ReplaceAll(format, "-", "") {
	case "byte":
		return isBase64
	case "datetime":
		return isDateTime
	case "date":
		return strfmt.IsDate
	case "duration":
		return strfmt.IsDuration
	case "uri":
		return isURI
	case "email":
		return strfmt.IsEmail
	case "hostname":
		return strfmt.IsHostname
	case "uuid":
		return strfmt.IsUUID
	case "uuid3":
		return strfmt.IsUUID3
	case "uuid4":
		return strfmt.IsUUID4
	case "uuid5":
		return strfmt.IsUUID5
	case "bsonobjectid":
		return strfmt.IsBSONObjectID
	case "k8sshortname":
		return strfmt.IsShortName
	case "k8slongname":
		return strfmt.IsLongName
	case "ipv4", "ipv6", "cidr", "mac", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor":
		// Rare in Kubernetes schemas; their checkers are only reachable
		// through the registry, whose lock is acceptable at this rate.
		return func(s string) bool { return strfmt.Default.Validates(format, s) }
	}
	// "password" accepts anything; int32, int64, float, double concern
	// numbers; "quantity" is handled by the validator itself.
	return nil
}

// isDateTime tries the layout nearly every client sends (RFC 3339, which is
// what metav1.Time marshals to) without allocating, before kube-openapi's
// more lenient and more expensive check.
func isDateTime(s string) bool {
	if _, err := time.Parse(time.RFC3339, s); err == nil {
		return true
	}
	return strfmt.IsDateTime(s)
}

func isURI(s string) bool {
	_, err := url.ParseRequestURI(s)
	return err == nil
}

// isBase64 accepts standard, padded base64, the encoding Go's encoding/json
// uses for []byte fields such as Secret.data, and rejects what a Go client
// could not decode. It runs on every Secret write, so it is a plain loop
// rather than a regular expression or a throwaway decode.
func isBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := 0
	if len(s) > 0 && s[len(s)-1] == '=' {
		pad++
		if s[len(s)-2] == '=' {
			pad++
		}
	}
	for i := 0; i < len(s)-pad; i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
