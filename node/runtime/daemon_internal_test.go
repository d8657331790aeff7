package runtime

import (
	"strings"
	"testing"
)

func TestSocketPath(t *testing.T) {
	long := "/tmp/" + strings.Repeat("TestSomeVeryLongName", 6) + "/001"
	for _, tc := range []struct {
		dir      string
		fallback bool
	}{
		{"/var/lib/weft/containerd", false},
		{long, true},
	} {
		p := pathsFor(tc.dir)
		if len(p.socket)+len(".ttrpc") >= 108 {
			t.Errorf("%s: socket %q too long", tc.dir, p.socket)
		}
		if got := !strings.HasPrefix(p.socket, tc.dir); got != tc.fallback {
			t.Errorf("%s: socket %q, fallback %v want %v", tc.dir, p.socket, got, tc.fallback)
		}
		if again := pathsFor(tc.dir); again.socket != p.socket {
			t.Errorf("%s: socket path not stable: %q then %q", tc.dir, p.socket, again.socket)
		}
	}
	if pathsFor(long+"x").socket == pathsFor(long).socket {
		t.Error("two data dirs share a fallback socket")
	}
}

func TestRenderConfig(t *testing.T) {
	cfg := renderConfig(pathsFor("/var/lib/weft/containerd"))
	for _, want := range []string{
		`root = "/var/lib/weft/containerd/root"`,
		`address = "/var/lib/weft/containerd/containerd.sock"`,
		`"io.containerd.grpc.v1.cri"`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "/run/containerd") {
		t.Errorf("config points at the system containerd:\n%s", cfg)
	}
}

func TestSpecValidate(t *testing.T) {
	ok := Spec{ID: "c", Image: "busybox"}
	for _, tc := range []struct {
		name string
		edit func(*Spec)
	}{
		{"no id", func(s *Spec) { s.ID = "" }},
		{"no image", func(s *Spec) { s.Image = "" }},
		{"relative log", func(s *Spec) { s.LogPath = "logs/c.log" }},
		{"netns and host network", func(s *Spec) { s.NetNSPath = "/proc/1/ns/net"; s.HostNetwork = true }},
		{"reserved label", func(s *Spec) { s.Labels = map[string]string{labelLogPath: "x"} }},
		{"relative mount", func(s *Spec) { s.Mounts = []Mount{{Source: "data", Destination: "/data"}} }},
	} {
		s := ok
		tc.edit(&s)
		if err := s.validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if err := ok.validate(); err != nil {
		t.Errorf("valid spec rejected: %v", err)
	}
}
