package main

import (
	"fmt"
	"sort"
	"strings"
)

// markers are the "+name=value" comment tags of a type or field. A name may
// repeat (+listMapKey), so values accumulate in order.
type markers map[string][]string

func parseMarkers(lines []string) markers {
	m := markers{}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "+") {
			continue
		}
		name, value, _ := strings.Cut(line[1:], "=")
		m[name] = append(m[name], value)
	}
	return m
}

func (m markers) has(name string) bool {
	_, ok := m[name]
	return ok
}

// last returns the last value of a marker, openapi-gen's rule when a single
// value is expected.
func (m markers) last(name string) (string, bool) {
	v := m[name]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// first returns the value of the first of names that is present, so the
// long-standing openapi-gen marker wins over its newer +k8s: spelling.
func (m markers) first(names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := m.last(n); ok {
			return v, true
		}
	}
	return "", false
}

// description renders comment lines into an OpenAPI description exactly as
// openapi-gen does, so `kubectl explain` reads the same as on Kubernetes:
// text after a "---" line is private, markers and one-line TODOs are
// dropped, blank lines keep paragraphs, indented lines keep their layout.
func description(lines []string) string {
	var b strings.Builder
	dropLast := func() {
		s := b.String()
		if len(s) > 0 {
			b.Reset()
			b.WriteString(s[:len(s)-1])
		}
	}
	for _, line := range lines {
		if line == "---" {
			break
		}
		line = strings.TrimRight(line, " ")
		leading := strings.TrimLeft(line, " ")
		switch {
		case line == "":
			dropLast()
			b.WriteString("\n\n")
		case strings.HasPrefix(leading, "TODO"):
		case strings.HasPrefix(leading, "+"):
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
			dropLast()
			b.WriteString("\n" + line + "\n")
		default:
			b.WriteString(line + " ")
		}
	}
	return strings.TrimSpace(b.String())
}

// enumDescriptionLines appends openapi-gen's "Possible enum values" list.
func enumDescriptionLines(values []enumValue) []string {
	if len(values) == 0 {
		return nil
	}
	lines := make([]string, 0, len(values))
	for _, v := range values {
		c := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v.comment), v.name))
		c = strings.Join(strings.Fields(c), " ")
		lines = append(lines, fmt.Sprintf(" - `%q` %s", v.value, c))
	}
	sort.Strings(lines)
	return append([]string{"", "Possible enum values:"}, lines...)
}

// dedupeEnum keeps one entry per value; like openapi-gen it prefers the
// longer comment so re-exported aliases do not win over the documented one.
func dedupeEnum(values []enumValue) []enumValue {
	var out []enumValue
	for _, v := range values {
		dup := false
		for i, o := range out {
			if o.value == v.value {
				dup = true
				if len(o.comment) < len(v.comment) || (len(o.comment) == len(v.comment) && o.comment > v.comment) {
					out[i] = v
				}
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}
