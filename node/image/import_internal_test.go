package image

import "testing"

func TestOCIRefName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"localhost/busybox:v1", "localhost/busybox:v1"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"latest", ""},
		{"v1.2", ""},
		{"Bad/Ref:x", ""},
	} {
		if got := ociRefName(tc.in); got != tc.want {
			t.Errorf("ociRefName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
