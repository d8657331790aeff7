package image

import (
	"context"
	"fmt"
	"io"
	"strings"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
)

// UnnamedRepo is the repository of images imported from archives that name none;
// they are stored as UnnamedRepo@<manifest digest>.
const UnnamedRepo = "localhost/import"

// Options tune Import, Pull and Ensure.
type Options struct {
	// Snapshotter to unpack into; empty picks one with Snapshotter.
	Snapshotter string
}

func (o Options) snapshotter(ctx context.Context, client *containerd.Client) (string, error) {
	if o.Snapshotter != "" {
		return o.Snapshotter, nil
	}
	return Snapshotter(ctx, client)
}

// Import loads an OCI or docker-archive tarball into namespace and unpacks every image
// it names for this platform, so containers can be created from them at once.
func Import(ctx context.Context, client *containerd.Client, namespace string, tarball io.Reader, opts ...Options) ([]images.Image, error) {
	ctx = namespaces.WithNamespace(ctx, namespace)
	o := first(opts)
	sn, err := o.snapshotter(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImport, err)
	}
	imgs, err := client.Import(ctx, tarball,
		containerd.WithImportPlatform(platforms.Default()),
		containerd.WithImageRefTranslator(ociRefName),
		// Without a name in the archive the image would be unreachable; the digest
		// ref keeps it addressable, in a form Normalize leaves as it is.
		containerd.WithDigestRef(func(d digest.Digest) string { return UnnamedRepo + "@" + d.String() }),
		containerd.WithSkipDigestRef(func(name string) bool { return name != "" }),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImport, err)
	}
	for _, img := range imgs {
		i := containerd.NewImageWithPlatform(client, img, platforms.Default())
		if err := i.Unpack(ctx, sn); err != nil {
			return nil, fmt.Errorf("%w: unpack %s into %s: %v", ErrImport, img.Name, sn, err)
		}
	}
	return imgs, nil
}

// ociRefName names an image from an OCI layout's org.opencontainers.image.ref.name.
// Tools disagree on that annotation: some store a full reference, some (skopeo) only
// a tag, which names no repository and would become an image called "latest"; those
// images get their digest ref instead.
func ociRefName(ref string) string {
	if !strings.ContainsAny(ref, "/:") {
		return ""
	}
	full, err := Normalize(ref)
	if err != nil {
		return ""
	}
	return full
}

func first(opts []Options) Options {
	if len(opts) > 0 {
		return opts[0]
	}
	return Options{}
}
