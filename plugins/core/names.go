package core

import "strconv"

// The name checks of k8s.io/apimachinery/pkg/util/validation, with its messages,
// written without regexp to keep the module small.

const (
	dns1123LabelMaxLength     = 63
	dns1123SubdomainMaxLength = 253

	dns1123LabelErrMsg  = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
	dns1123LabelFmt     = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
	configMapKeyErrMsg  = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
	configMapKeyFmt     = `[-._a-zA-Z0-9]+`
	relaxedEnvVarErrMsg = "a valid environment variable name must consist only of printable ASCII characters other than '='"
)

func maxLenError(n int) string { return "must be no more than " + strconv.Itoa(n) + " characters" }

// regexError is validation.RegexError.
func regexError(msg, format string, examples ...string) string {
	if len(examples) == 0 {
		return msg + " (regex used for validation is '" + format + "')"
	}
	msg += " (e.g. "
	for i, e := range examples {
		if i > 0 {
			msg += " or "
		}
		msg += "'" + e + "', "
	}
	return msg + "regex used for validation is '" + format + "')"
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isLabel reports whether s matches dns1123LabelFmt (length aside).
func isLabel(s string) bool {
	if s == "" || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

func isSubdomain(s string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if !isLabel(s[start:i]) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// isDNS1123Label is validation.IsDNS1123Label.
func isDNS1123Label(s string) []string {
	var errs []string
	if len(s) > dns1123LabelMaxLength {
		errs = append(errs, maxLenError(dns1123LabelMaxLength))
	}
	if !isLabel(s) {
		if isSubdomain(s) {
			errs = append(errs, "must not contain dots")
		} else {
			errs = append(errs, regexError(dns1123LabelErrMsg, dns1123LabelFmt, "my-name", "123-abc"))
		}
	}
	return errs
}

func hasChDirPrefix(s string) []string {
	switch {
	case s == ".":
		return []string{`must not be '.'`}
	case s == "..":
		return []string{`must not be '..'`}
	case len(s) >= 2 && s[:2] == "..":
		return []string{`must not start with '..'`}
	}
	return nil
}

// isConfigMapKey is validation.IsConfigMapKey.
func isConfigMapKey(s string) []string {
	var errs []string
	if len(s) > dns1123SubdomainMaxLength {
		errs = append(errs, maxLenError(dns1123SubdomainMaxLength))
	}
	ok := s != ""
	for i := 0; i < len(s) && ok; i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	if !ok {
		errs = append(errs, regexError(configMapKeyErrMsg, configMapKeyFmt, "key.name", "KEY_NAME", "key-name"))
	}
	return append(errs, hasChDirPrefix(s)...)
}

// isValidPortName is validation.IsValidPortName (IANA_SVC_NAME).
func isValidPortName(s string) []string {
	var errs []string
	if len(s) > 15 {
		errs = append(errs, maxLenError(15))
	}
	charset, letter := s != "", false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			letter = true
		} else if !(c >= '0' && c <= '9' || c == '-') {
			charset = false
		}
	}
	if !charset {
		errs = append(errs, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
	}
	if !letter {
		errs = append(errs, "must contain at least one letter (a-z)")
	}
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && s[i+1] == '-' {
			errs = append(errs, "must not contain consecutive hyphens")
			break
		}
	}
	if len(s) > 0 && (s[0] == '-' || s[len(s)-1] == '-') {
		errs = append(errs, "must not begin or end with a hyphen")
	}
	return errs
}

// isRelaxedEnvVarName is validation.IsRelaxedEnvVarName, the rule of Kubernetes since
// RelaxedEnvironmentVariableValidation went GA: printable ASCII but '='.
func isRelaxedEnvVarName(s string) []string {
	var errs []string
	if s == "" {
		errs = append(errs, "environment variable name must be non-empty")
	}
	for _, r := range s {
		if r > 0x7e || r < 0x20 || r == '=' {
			errs = append(errs, relaxedEnvVarErrMsg)
			break
		}
	}
	return errs
}

func inclusiveRangeError(lo, hi int64) string {
	return "must be between " + num(lo) + " and " + num(hi) + ", inclusive"
}

const isNegativeErrorMsg = "must be greater than or equal to 0"
