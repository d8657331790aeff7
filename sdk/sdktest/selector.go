package sdktest

import (
	"fmt"
	"slices"
	"strings"
)

// Selector is a parsed label selector.
type Selector []requirement

type requirement struct {
	key    string
	op     string // =, !=, in, notin, exists, !
	values []string
}

// ParseSelector parses the label-selector query syntax: "k=v", "k==v", "k!=v",
// "k in (a,b)", "k notin (a,b)", "k" and "!k", joined by commas. The empty
// string selects everything.
func ParseSelector(s string) (Selector, error) {
	var out Selector
	for _, part := range splitTop(s) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var r requirement
		switch {
		case strings.HasPrefix(part, "!"):
			r = requirement{key: strings.TrimSpace(part[1:]), op: "!"}
		case strings.Contains(part, "!="):
			k, v, _ := strings.Cut(part, "!=")
			r = requirement{key: strings.TrimSpace(k), op: "!=", values: []string{strings.TrimSpace(v)}}
		case strings.Contains(part, "=="):
			k, v, _ := strings.Cut(part, "==")
			r = requirement{key: strings.TrimSpace(k), op: "=", values: []string{strings.TrimSpace(v)}}
		case strings.Contains(part, "="):
			k, v, _ := strings.Cut(part, "=")
			r = requirement{key: strings.TrimSpace(k), op: "=", values: []string{strings.TrimSpace(v)}}
		case strings.Contains(part, "("):
			open := strings.Index(part, "(")
			if !strings.HasSuffix(part, ")") {
				return nil, fmt.Errorf("unclosed ( in %q", part)
			}
			fields := strings.Fields(part[:open])
			if len(fields) != 2 || (fields[1] != "in" && fields[1] != "notin") {
				return nil, fmt.Errorf("bad set requirement %q", part)
			}
			r = requirement{key: fields[0], op: fields[1]}
			for v := range strings.SplitSeq(part[open+1:len(part)-1], ",") {
				if v = strings.TrimSpace(v); v != "" {
					r.values = append(r.values, v)
				}
			}
		default:
			if strings.ContainsAny(part, " ()") {
				return nil, fmt.Errorf("bad requirement %q", part)
			}
			r = requirement{key: part, op: "exists"}
		}
		if r.key == "" {
			return nil, fmt.Errorf("empty key in %q", part)
		}
		out = append(out, r)
	}
	return out, nil
}

// splitTop splits s at commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// Matches reports whether labels satisfy every requirement.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s {
		v, has := labels[r.key]
		switch r.op {
		case "=":
			if !has || v != r.values[0] {
				return false
			}
		case "!=":
			if has && v == r.values[0] {
				return false
			}
		case "in":
			if !has || !slices.Contains(r.values, v) {
				return false
			}
		case "notin":
			if has && slices.Contains(r.values, v) {
				return false
			}
		case "exists":
			if !has {
				return false
			}
		case "!":
			if has {
				return false
			}
		}
	}
	return true
}
