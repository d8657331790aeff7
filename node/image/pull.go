package image

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	refdocker "github.com/containerd/containerd/reference/docker"
	"github.com/containerd/containerd/remotes/docker"
)

// PullPolicy is a container's imagePullPolicy.
type PullPolicy string

// The Kubernetes pull policies.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// DefaultPullPolicy is what Kubernetes defaults an empty policy to: Always for
// ":latest" or untagged references, IfNotPresent otherwise.
func DefaultPullPolicy(ref string) PullPolicy {
	r, err := refdocker.ParseNormalizedNamed(ref)
	if err != nil {
		return PullAlways
	}
	if _, ok := r.(refdocker.Digested); ok {
		return PullIfNotPresent
	}
	if t, ok := r.(refdocker.Tagged); ok && t.Tag() != "latest" {
		return PullIfNotPresent
	}
	return PullAlways
}

// Normalize turns a reference as users write it ("busybox", "nginx:1.25") into the
// fully qualified name containerd stores ("docker.io/library/busybox:latest").
func Normalize(ref string) (string, error) {
	r, err := refdocker.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return r.String(), nil
}

// Resolver reaches registries over HTTPS, except loopback ones (localhost, 127.0.0.1,
// ::1) which are allowed plain HTTP, as test and dev registries are.
func Resolver() docker.ResolverOptions {
	return docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	}
}

// Pull fetches ref through containerd's client-side resolver and unpacks it.
func Pull(ctx context.Context, client *containerd.Client, namespace, ref string, opts ...Options) (containerd.Image, error) {
	ctx = namespaces.WithNamespace(ctx, namespace)
	full, err := Normalize(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPull, err)
	}
	sn, err := first(opts).snapshotter(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPull, err)
	}
	img, err := client.Pull(ctx, full,
		containerd.WithResolver(docker.NewResolver(Resolver())),
		containerd.WithPlatformMatcher(platforms.Default()),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(sn),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPull, full, err)
	}
	return img, nil
}

// LocalOnly reports whether ref names a node-local image: one in the bare "localhost"
// domain (no port), the convention podman and buildah use for images that were built
// or imported on the machine and exist in no registry. Pulling them cannot succeed,
// so Ensure treats every policy as Never for them; otherwise the default Always of a
// ":latest" tag would make `kubectl run --image=localhost/busybox` fail.
func LocalOnly(ref string) bool {
	r, err := refdocker.ParseDockerRef(ref)
	return err == nil && refdocker.Domain(r) == "localhost"
}

// Ensure makes ref available and unpacked according to policy (empty means
// DefaultPullPolicy), pulling only when the policy says so. See LocalOnly for the
// exception.
func Ensure(ctx context.Context, client *containerd.Client, namespace, ref string, policy PullPolicy, opts ...Options) (containerd.Image, error) {
	if policy == "" {
		policy = DefaultPullPolicy(ref)
	}
	if LocalOnly(ref) {
		policy = PullNever
	}
	if policy == PullAlways {
		return Pull(ctx, client, namespace, ref, opts...)
	}
	nctx := namespaces.WithNamespace(ctx, namespace)
	full, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	img, err := client.GetImage(nctx, full)
	switch {
	case errdefs.IsNotFound(err) && policy == PullNever:
		return nil, fmt.Errorf("%w: %s and imagePullPolicy is Never", ErrNotPresent, full)
	case errdefs.IsNotFound(err):
		return Pull(ctx, client, namespace, ref, opts...)
	case err != nil:
		return nil, err
	}
	sn, err := first(opts).snapshotter(nctx, client)
	if err != nil {
		return nil, err
	}
	if ok, err := img.IsUnpacked(nctx, sn); err != nil || !ok {
		if err := img.Unpack(nctx, sn); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", full, err)
		}
	}
	return img, nil
}
