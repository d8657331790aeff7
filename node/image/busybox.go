package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxBinary is Debian's busybox-static: statically linked, so the image needs no
// libc.
const BusyboxBinary = "/bin/busybox"

// BusyboxRef is the name `make run` imports the image under.
const BusyboxRef = "localhost/busybox:latest"

// busyboxApplets become symlinks to /bin/busybox; the list covers what pod specs,
// probes and tests commonly call.
var busyboxApplets = []string{
	"sh", "ash", "cat", "echo", "ls", "sleep", "httpd", "wget", "nc", "env", "ps",
	"mkdir", "rm", "cp", "mv", "touch", "true", "false", "test", "[", "id", "hostname",
	"grep", "sed", "head", "tail", "wc", "kill", "date", "printf", "pwd", "uname", "ip",
	"ifconfig", "ping", "mount", "df", "du", "find", "top", "vi", "nslookup", "tee",
	"chmod", "chown", "ln", "seq", "xargs", "stat", "dd", "sync", "whoami", "which",
	"readlink", "cut", "awk", "sort", "uniq", "basename", "dirname", "netstat", "timeout",
	"tr", "base64", "md5sum", "sha256sum", "free", "uptime", "tar", "gzip", "zcat",
}

// buildTime is fixed so that the same busybox binary always gives the same digests.
var buildTime = time.Unix(0, 0).UTC()

// Busybox builds the busybox image from the static busybox at binary.
func Busybox(binary string) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w", err)
	}
	layerTar, err := busyboxLayer(bin)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("busybox layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: buildTime}
	cf.Config.Cmd = []string{"sh"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}

// BuildBusybox writes the busybox image as a docker-archive tarball (which containerd
// imports) tagged ref.
func BuildBusybox(w io.Writer, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("busybox ref %q: %w", ref, err)
	}
	img, err := Busybox(BusyboxBinary)
	if err != nil {
		return err
	}
	return tarball.Write(tag, img, w)
}

func busyboxLayer(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: buildTime})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: buildTime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("bin", 0o755) },
		func() error { return dir("etc", 0o755) },
		func() error { return dir("root", 0o700) },
		func() error { return dir("tmp", 0o1777) },
		func() error { return dir("var", 0o755) },
		func() error { return dir("var/www", 0o755) },
		func() error { return file("bin/busybox", 0o755, bin) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
		},
		func() error { return file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")) },
	}
	for _, applet := range busyboxApplets {
		steps = append(steps, func() error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: buildTime})
		})
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("busybox layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
