package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// DefaultPluginDir is where Debian's containernetworking-plugins package installs
// the plugin binaries (not the upstream /opt/cni/bin).
const DefaultPluginDir = "/usr/lib/cni"

// maxIfNameLen is IFNAMSIZ-1: Linux rejects longer interface names.
const maxIfNameLen = 15

// Sentinel errors; callers match them with errors.Is.
var (
	// ErrInvalidConfig reports a Config that New refuses.
	ErrInvalidConfig = errors.New("cni: invalid config")
	// ErrInvalidPodID reports a pod ID that cannot name a CNI container or a netns file.
	ErrInvalidPodID = errors.New("cni: invalid pod ID")
	// ErrInvalidPeer reports a Peer that EnsureRoutes refuses.
	ErrInvalidPeer = errors.New("cni: invalid peer")
	// ErrNotFound reports that a pod has no sandbox on this node.
	ErrNotFound = errors.New("cni: sandbox not found")
)

// Config describes one node agent's pod network. Every path is owned by that agent
// alone, so two agents on one machine never share IPAM or cache state.
type Config struct {
	// PluginDir holds the CNI plugin binaries. Empty means DefaultPluginDir.
	PluginDir string
	// PodCIDR is the IPv4 range the kernel allocated to this node, e.g. 10.88.1.0/24.
	// The first address becomes the bridge's gateway address.
	PodCIDR netip.Prefix
	// Bridge is the Linux bridge the pods attach to. It must be unique per agent on a
	// machine; BridgeName derives one from the node name.
	Bridge string
	// IPAMDir is host-local's dataDir: one file per reserved pod IP.
	IPAMDir string
	// CacheDir is libcni's cache of ADD results, which DEL and restarts rely on.
	CacheDir string
	// NetNSDir holds the bind mounts that keep each pod's network namespace alive.
	NetNSDir string
	// MTU of the bridge and veths; 0 lets the kernel choose (1500).
	MTU int
	// HostNetNS is the path of the network namespace the agent's node lives in. Empty
	// means the calling process's namespace. Tests set it to run several "hosts" in
	// one process.
	HostNetNS string
}

// BridgeName derives a bridge name for a node that fits IFNAMSIZ and differs between
// agents that share a machine (and so a network namespace, outside tests).
func BridgeName(nodeName string) string {
	sum := sha256.Sum256([]byte(nodeName))
	return "weft" + hex.EncodeToString(sum[:])[:8]
}

// withDefaults fills optional fields; it never overrides what the caller set.
func (c Config) withDefaults() Config {
	if c.PluginDir == "" {
		c.PluginDir = DefaultPluginDir
	}
	return c
}

// validate reports every problem at once so an operator fixes a config in one go.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	switch {
	case !c.PodCIDR.IsValid():
		bad("pod CIDR is missing")
	case !c.PodCIDR.Addr().Is4():
		bad("pod CIDR %s is not IPv4", c.PodCIDR)
	case c.PodCIDR != c.PodCIDR.Masked():
		bad("pod CIDR %s has host bits set (want %s)", c.PodCIDR, c.PodCIDR.Masked())
	case c.PodCIDR.Bits() > 30:
		// A /31 or /32 leaves no room for both the gateway and a pod.
		bad("pod CIDR %s is too small", c.PodCIDR)
	}
	if err := validIfName(c.Bridge); err != nil {
		bad("bridge: %v", err)
	}
	for _, d := range []struct{ name, path string }{
		{"plugin dir", c.PluginDir},
		{"IPAM dir", c.IPAMDir},
		{"cache dir", c.CacheDir},
		{"netns dir", c.NetNSDir},
	} {
		if !filepath.IsAbs(d.path) {
			bad("%s %q is not an absolute path", d.name, d.path)
		}
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		// 68 is the IPv4 minimum (RFC 791).
		bad("MTU %d is outside 68..65535", c.MTU)
	}
	if c.HostNetNS != "" && !filepath.IsAbs(c.HostNetNS) {
		bad("host netns %q is not an absolute path", c.HostNetNS)
	}
	return errors.Join(errs...)
}

func validIfName(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case len(name) > maxIfNameLen:
		return fmt.Errorf("name %q is longer than %d bytes", name, maxIfNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("name %q is reserved", name)
	case strings.ContainsAny(name, "/: \t\n"):
		return fmt.Errorf("name %q contains '/', ':' or whitespace", name)
	}
	return nil
}

// validPodID applies the CNI spec's container ID rule, which also keeps the ID safe
// as a file name in NetNSDir and in libcni's cache.
func validPodID(id string) error {
	if id == "" || len(id) > 253 {
		return fmt.Errorf("%w: %q must be 1..253 characters", ErrInvalidPodID, id)
	}
	for i, r := range id {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i == 0 && !alnum || !alnum && r != '_' && r != '.' && r != '-' {
			return fmt.Errorf("%w: %q may hold only letters, digits, '_', '.', '-' and must start with a letter or digit", ErrInvalidPodID, id)
		}
	}
	return nil
}
