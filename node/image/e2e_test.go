package image_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/namespaces"
	"github.com/google/go-containerregistry/pkg/registry"

	"weft.dev/weft/node/image"
	"weft.dev/weft/node/runtime/runtimetest"
)

const ns = "weft-image-test"

func TestImportAndPull(t *testing.T) {
	runtimetest.Gate(t)
	d := runtimetest.StartDaemon(t, "")
	client := d.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sn, err := image.Snapshotter(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshotter %s", sn)

	bb, err := image.Busybox(image.BusyboxBinary)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		tarball func(t *testing.T) []byte
		want    string
	}{
		{"docker archive", func(t *testing.T) []byte {
			var buf bytes.Buffer
			if err := image.BuildBusybox(&buf, image.BusyboxRef); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}, image.BusyboxRef},
		{"oci layout with full ref", func(t *testing.T) []byte {
			return ociTarball(t, bb, "localhost/busybox-oci:v1")
		}, "localhost/busybox-oci:v1"},
		{"oci layout with bare tag", func(t *testing.T) []byte {
			return ociTarball(t, bb, "latest")
		}, image.UnnamedRepo + "@sha256:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imgs, err := image.Import(ctx, client, ns, bytes.NewReader(tc.tarball(t)))
			if err != nil {
				t.Fatal(err)
			}
			if len(imgs) != 1 || !strings.HasPrefix(imgs[0].Name, tc.want) {
				t.Fatalf("imported %+v, want one image named %s", imgs, tc.want)
			}
			img, err := client.GetImage(namespaces.WithNamespace(ctx, ns), imgs[0].Name)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := img.IsUnpacked(namespaces.WithNamespace(ctx, ns), sn); err != nil || !ok {
				t.Fatalf("imported image not unpacked in %s: %v %v", sn, ok, err)
			}
			// Every policy finds the local image without a registry: Never and
			// IfNotPresent because it is present, Always because localhost images
			// are local-only.
			for _, p := range []image.PullPolicy{image.PullNever, image.PullIfNotPresent, image.PullAlways, ""} {
				if _, err := image.Ensure(ctx, client, ns, imgs[0].Name, p); err != nil {
					t.Errorf("Ensure %q on a present local image: %v", p, err)
				}
			}
		})
	}

	t.Run("garbage", func(t *testing.T) {
		_, err := image.Import(ctx, client, ns, strings.NewReader("not a tarball"))
		if !errorsIs(err, image.ErrImport) {
			t.Fatalf("import of garbage: %v, want ErrImport", err)
		}
	})

	t.Run("pull", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()

		ref := ln.Addr().String() + "/test/busybox:v1"
		push(t, "http://"+ln.Addr().String(), "test/busybox", "v1", bb)

		_, err = image.Ensure(ctx, client, ns, ref, image.PullNever)
		if !errorsIs(err, image.ErrNotPresent) {
			t.Fatalf("Ensure Never on an absent image = %v, want ErrNotPresent", err)
		}
		img, err := image.Ensure(ctx, client, ns, ref, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(img.Name(), "/test/busybox:v1") {
			t.Fatalf("pulled %s", img.Name())
		}
		if ok, err := img.IsUnpacked(namespaces.WithNamespace(ctx, ns), sn); err != nil || !ok {
			t.Fatalf("pulled image not unpacked: %v %v", ok, err)
		}
		// IfNotPresent with the registry gone still works: nothing is fetched.
		srv.Close()
		if _, err := image.Ensure(ctx, client, ns, ref, image.PullIfNotPresent); err != nil {
			t.Fatalf("IfNotPresent after registry shutdown: %v", err)
		}
		if _, err := image.Ensure(ctx, client, ns, ref, image.PullAlways); err == nil {
			t.Fatal("Always pulled from a stopped registry")
		}
	})
}
