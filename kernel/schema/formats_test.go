package schema

import (
	"encoding/base64"
	"testing"
)

func TestIsBase64(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"aGk=", true},
		{"aGVsbG8gd29ybGQ=", true},
		{"YWJj", true},
		{"YQ==", true},
		{"+/+/", true},
		{"aGk", false},    // unpadded
		{"a===", false},   // too much padding
		{"aG=k", false},   // padding inside
		{"aGk!", false},   // not in the alphabet
		{"aGk=\n", false}, // Go clients never send newlines
		{"-_-_", false},   // URL alphabet
	}
	for _, tc := range tests {
		if got := isBase64(tc.in); got != tc.want {
			t.Errorf("isBase64(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if tc.want {
			if _, err := base64.StdEncoding.DecodeString(tc.in); err != nil {
				t.Errorf("%q is accepted but a Go client cannot decode it: %v", tc.in, err)
			}
		}
	}
}

func TestStringFormats(t *testing.T) {
	tests := []struct {
		format, value string
		want          bool
	}{
		{"date-time", "2024-05-01T10:00:00Z", true},
		{"date-time", "2024-05-01T10:00:00.123456+02:00", true},
		{"datetime", "2024-05-01T10:00:00Z", true},
		{"date-time", "2024-05-01", false},
		{"date", "2024-05-01", true},
		{"date", "05/01/2024", false},
		{"uuid", "0e7a3c1e-4f7b-4a1e-9f0e-1c2d3e4f5a6b", true},
		{"uuid", "nope", false},
		{"hostname", "example.com", true},
		{"ipv4", "10.0.0.1", true},
		{"ipv4", "10.0.0.256", false},
		{"ipv6", "::1", true},
		{"cidr", "10.0.0.0/8", true},
		{"uri", "https://example.com/x", true},
		{"k8s-short-name", "web-1", true},
		{"k8s-short-name", "Web", false},
		{"duration", "5s", true},
		{"duration", "soon", false},
	}
	for _, tc := range tests {
		check := stringFormat(tc.format)
		if check == nil {
			t.Errorf("%s: not validated", tc.format)
			continue
		}
		if got := check(tc.value); got != tc.want {
			t.Errorf("%s %q: got %v, want %v", tc.format, tc.value, got, tc.want)
		}
	}
	for _, unchecked := range []string{"", "password", "int32", "quantity", "made-up"} {
		if stringFormat(unchecked) != nil {
			t.Errorf("format %q should not be checked on strings", unchecked)
		}
	}
}

func TestJSONEqualAndCanonicalKey(t *testing.T) {
	tests := []struct {
		a, b any
		want bool
	}{
		{int64(1), float64(1), true},
		{int64(1), float64(1.5), false},
		{"1", int64(1), false},
		{nil, nil, true},
		{map[string]any{"a": int64(1)}, map[string]any{"a": float64(1)}, true},
		{map[string]any{"a": int64(1)}, map[string]any{"b": int64(1)}, false},
		{[]any{"x", true}, []any{"x", true}, true},
		{[]any{"x"}, []any{"x", "y"}, false},
		{map[string]any{}, map[string]any(nil), false},
		{[]any{}, []any(nil), false},
		{map[string]any(nil), nil, true},
		{[]any(nil), map[string]any(nil), true},
		{int64(1<<53 + 1), float64(1 << 53), false},
		{int64(1 << 53), float64(1 << 53), true},
		{float64(1 << 62), int64(1 << 62), true},
	}
	for _, tc := range tests {
		if got := JSONEqual(tc.a, tc.b); got != tc.want {
			t.Errorf("JSONEqual(%#v, %#v) = %v", tc.a, tc.b, got)
		}
		if keysEqual := canonicalKey(tc.a) == canonicalKey(tc.b); keysEqual != tc.want {
			t.Errorf("canonicalKey disagrees with JSONEqual on %#v, %#v", tc.a, tc.b)
		}
	}
}

// Long lists take the canonical-key path; it must find the same duplicates
// as the pairwise one.
func TestDuplicatesLongAndShortAgree(t *testing.T) {
	var long []any
	for i := range 40 {
		long = append(long, int64(i%15))
	}
	long = append(long, float64(3))
	got := duplicateElements(long)
	var want []int
	for i := 15; i < 30; i++ {
		want = append(want, i)
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if short := duplicateElements([]any{int64(1), "1", float64(1), int64(1)}); len(short) != 1 || short[0] != 2 {
		t.Errorf("short list: got %v, want [2]", short)
	}
}
