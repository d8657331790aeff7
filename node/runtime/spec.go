package runtime

import (
	"fmt"
	"path/filepath"
	"strings"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Spec is what the pod manager asks for. Command and Args follow Kubernetes: Command
// replaces the image's entrypoint, Args its cmd; Args alone keep the entrypoint.
type Spec struct {
	ID         string
	Image      string // a reference already present and unpacked, see node/image
	Command    []string
	Args       []string
	Env        []string // KEY=value, over the image's environment
	WorkingDir string
	Hostname   string
	// NetNSPath joins an existing network namespace (the pod's). Empty gives the
	// container a new one of its own, unless HostNetwork is set.
	NetNSPath   string
	HostNetwork bool
	Mounts      []Mount
	Limits      Limits
	// LogPath receives stdout and stderr in CRI format; empty discards output.
	LogPath string
	Labels  map[string]string
	// ShimGroup, when set, puts the container in the containerd shim process of every
	// other container with the same group (the runc v2 shim's grouping annotation)
	// instead of a shim of its own. The shim lives while any of them exists, and
	// if it dies, all of them die.
	ShimGroup string
}

// shimGroupAnnotation is the annotation containerd's runc v2 shim (1.6 too) groups
// containers by.
const shimGroupAnnotation = "io.containerd.runc.v2.group"

// Mount is a bind mount from the node into the container.
type Mount struct {
	Source      string
	Destination string
	ReadOnly    bool
}

// Limits become the container's cgroup settings; zero values mean unlimited.
type Limits struct {
	CPUShares   uint64
	CPUQuota    int64 // microseconds per CPUPeriod
	CPUPeriod   uint64
	MemoryLimit int64 // bytes
}

func (s Spec) validate() error {
	switch {
	case s.ID == "":
		return fmt.Errorf("%w: empty id", ErrInvalidSpec)
	case s.Image == "":
		return fmt.Errorf("%w: %s: empty image", ErrInvalidSpec, s.ID)
	case s.LogPath != "" && !filepath.IsAbs(s.LogPath):
		return fmt.Errorf("%w: %s: log path %q is not absolute", ErrInvalidSpec, s.ID, s.LogPath)
	case s.NetNSPath != "" && s.HostNetwork:
		return fmt.Errorf("%w: %s: both a netns path and host network", ErrInvalidSpec, s.ID)
	}
	for k := range s.Labels {
		if strings.HasPrefix(k, "weft.dev/runtime.") {
			return fmt.Errorf("%w: %s: label %q is reserved", ErrInvalidSpec, s.ID, k)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("%w: %s: mount %s:%s must use absolute paths", ErrInvalidSpec, s.ID, m.Source, m.Destination)
		}
	}
	return nil
}

func specOpts(img containerd.Image, spec Spec) []oci.SpecOpts {
	opts := []oci.SpecOpts{oci.WithImageConfig(img)}
	switch {
	case len(spec.Command) > 0:
		opts = append(opts, oci.WithProcessArgs(append(append([]string{}, spec.Command...), spec.Args...)...))
	case len(spec.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(img, spec.Args))
	}
	if spec.ShimGroup != "" {
		opts = append(opts, oci.WithAnnotations(map[string]string{shimGroupAnnotation: spec.ShimGroup}))
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.WorkingDir))
	}
	if spec.Hostname != "" {
		opts = append(opts, oci.WithHostname(spec.Hostname))
	}
	switch {
	case spec.HostNetwork:
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	case spec.NetNSPath != "":
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: spec.NetNSPath}))
	}
	if len(spec.Mounts) > 0 {
		mounts := make([]specs.Mount, 0, len(spec.Mounts))
		for _, m := range spec.Mounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			mounts = append(mounts, specs.Mount{
				Destination: m.Destination,
				Type:        "bind",
				Source:      m.Source,
				Options:     []string{"rbind", "rprivate", mode},
			})
		}
		opts = append(opts, oci.WithMounts(mounts))
	}
	l := spec.Limits
	if l.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(l.CPUShares))
	}
	if l.CPUQuota > 0 {
		period := l.CPUPeriod
		if period == 0 {
			period = 100000
		}
		opts = append(opts, oci.WithCPUCFS(l.CPUQuota, period))
	}
	if l.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(l.MemoryLimit)))
	}
	return opts
}
