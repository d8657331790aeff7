package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestBusyboxImage checks the image's shape without containerd: the layer holds the
// binary and its applet links, the config says linux/amd64 and runs sh.
func TestBusyboxImage(t *testing.T) {
	if _, err := os.Stat(BusyboxBinary); err != nil {
		t.Skipf("needs %s (apt-get install busybox-static): %v", BusyboxBinary, err)
	}
	var buf bytes.Buffer
	if err := BuildBusybox(&buf, BusyboxRef); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(BusyboxRef)
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "sh" {
		t.Errorf("config = %s/%s cmd %q", cf.OS, cf.Architecture, cf.Config.Cmd)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	seen := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = h
	}
	for _, want := range []string{"bin/busybox", "bin/sh", "bin/httpd", "bin/sleep", "etc/passwd", "etc/group", "tmp/"} {
		if seen[want] == nil {
			t.Errorf("layer lacks %s", want)
		}
	}
	if h := seen["bin/sh"]; h != nil && (h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox") {
		t.Errorf("bin/sh = %+v, want symlink to busybox", h)
	}
	if h := seen["tmp/"]; h != nil && h.Mode&0o1777 != 0o1777 {
		t.Errorf("tmp mode = %o", h.Mode)
	}

	// Same input, same digest: tests and make run can rely on a stable image id.
	var again bytes.Buffer
	if err := BuildBusybox(&again, BusyboxRef); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("BuildBusybox is not reproducible")
	}
}

// TestBusyboxAppletsExist guards the applet list against names this busybox lacks,
// which would be dangling commands in every container.
func TestBusyboxAppletsExist(t *testing.T) {
	if _, err := os.Stat(BusyboxBinary); err != nil {
		t.Skipf("needs %s (apt-get install busybox-static): %v", BusyboxBinary, err)
	}
	out, err := exec.Command(BusyboxBinary, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, a := range strings.Fields(string(out)) {
		have[a] = true
	}
	for _, a := range busyboxApplets {
		if !have[a] {
			t.Errorf("%s is not a busybox applet here", a)
		}
	}
}
