package image

import "testing"

func TestDefaultPullPolicy(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want PullPolicy
	}{
		{"busybox", PullAlways},
		{"busybox:latest", PullAlways},
		{"localhost/busybox:latest", PullAlways},
		{"busybox:1.36", PullIfNotPresent},
		{"127.0.0.1:5000/busybox:v1", PullIfNotPresent},
		{"127.0.0.1:5000/busybox", PullAlways},
		{"busybox@sha256:" + sha, PullIfNotPresent},
	} {
		if got := DefaultPullPolicy(tc.ref); got != tc.want {
			t.Errorf("DefaultPullPolicy(%q) = %s, want %s", tc.ref, got, tc.want)
		}
	}
}

const sha = "0000000000000000000000000000000000000000000000000000000000000000"

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"nginx:1.25", "docker.io/library/nginx:1.25"},
		{"localhost/busybox:latest", "localhost/busybox:latest"},
		{"127.0.0.1:5000/x/y", "127.0.0.1:5000/x/y:latest"},
	} {
		got, err := Normalize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := Normalize("no spaces allowed"); err == nil {
		t.Error("Normalize accepted an invalid reference")
	}
}

func TestLocalOnly(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want bool
	}{
		{"localhost/busybox:latest", true},
		{"localhost/import@sha256:" + sha, true},
		{"localhost:5000/busybox", false},
		{"127.0.0.1:5000/busybox", false},
		{"busybox", false},
		{"docker.io/localhost/busybox", false},
	} {
		if got := LocalOnly(tc.ref); got != tc.want {
			t.Errorf("LocalOnly(%q) = %v, want %v", tc.ref, got, tc.want)
		}
	}
}
