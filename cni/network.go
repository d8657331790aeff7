package cni

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
)

// Network is one node agent's pod network. Its methods are safe to call
// concurrently for different pods; calls for the same pod must be serialised by the
// caller (the agent's per-pod worker does that anyway).
type Network struct {
	cfg  Config
	list *libcni.NetworkConfigList
	// checkList is list without the plugins whose CHECK is broken (see Check).
	checkList *libcni.NetworkConfigList
	// ADD runs addList, or addPortsList for pods with hostPorts: list without the
	// plugins that would only pass the result through, because each is a process and
	// many pods start at once. loopback is left out because nsDir.create brings lo up;
	// portmap does nothing without mappings. DEL and CHECK run them all the same.
	addList, addPortsList *libcni.NetworkConfigList
	cni                   *libcni.CNIConfig
	netns                 *nsDir
	// portsMu runs one portmap ADD at a time: Debian's portmap (1.1.1) checks for
	// its top-level chains and then creates them, and two at once fail with "chain
	// exists" (CHAIN_USER_ADD ... File exists).
	portsMu sync.Mutex
}

// PortMapping is a pod's hostPort, in the shape portmap's portMappings capability
// expects.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"` // "tcp" or "udp"
	HostIP        string `json:"hostIP,omitempty"`
}

// SetupOptions carries what a pod asks of the network.
type SetupOptions struct {
	PortMappings []PortMapping
}

// Sandbox is a pod's network as this node sees it.
type Sandbox struct {
	PodID string
	// NetNS is the bind-mounted namespace path; empty when the mount is gone.
	NetNS string
	// IPs are the pod's addresses from the last successful CNI ADD.
	IPs []netip.Addr
	// HostVeth is the host end of the pod's veth, on the bridge.
	HostVeth string
}

// Complete reports whether both the namespace and the CNI result survive, which is
// what an agent restart needs to adopt the sandbox rather than recreate it.
func (s Sandbox) Complete() bool { return s.NetNS != "" && len(s.IPs) > 0 }

// New validates cfg and prepares the conflist. It touches no system state, so it is
// cheap and needs no privileges; Setup creates directories on first use.
func New(cfg Config) (*Network, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	raw, err := conflistJSON(cfg)
	if err != nil {
		return nil, fmt.Errorf("cni: render conflist: %w", err)
	}
	list, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("cni: parse generated conflist: %w", err)
	}
	without := func(types ...string) *libcni.NetworkConfigList {
		l := *list
		l.Plugins = slices.DeleteFunc(slices.Clone(list.Plugins), func(p *libcni.PluginConfig) bool {
			return slices.Contains(types, p.Network.Type)
		})
		return &l
	}
	return &Network{
		cfg:          cfg,
		list:         list,
		checkList:    without("portmap"),
		addList:      without("portmap", "loopback"),
		addPortsList: without("loopback"),
		// An explicit exec, because libcni fills in a nil one lazily on every call,
		// which races when pods are set up concurrently.
		cni: libcni.NewCNIConfigWithCacheDir([]string{cfg.PluginDir}, cfg.CacheDir, &invoke.DefaultExec{
			RawExec:       &invoke.RawExec{Stderr: os.Stderr},
			PluginDecoder: version.PluginDecoder{},
		}),
		netns: newNSDir(cfg.NetNSDir),
	}, nil
}

// Config returns the configuration with defaults applied.
func (n *Network) Config() Config { return n.cfg }

// ConfList returns the generated conflist JSON, for logs and debugging.
func (n *Network) ConfList() []byte { return append([]byte(nil), n.list.Bytes...) }

// Setup gives a pod a network namespace and an address on the bridge. If a complete
// sandbox for podID already exists (an agent restart), Setup adopts it and returns
// it unchanged, opts included; a half-built one is torn down and rebuilt. If ADD
// fails, Setup undoes it before returning the error.
func (n *Network) Setup(ctx context.Context, podID string, opts SetupOptions) (Sandbox, error) {
	if err := validPodID(podID); err != nil {
		return Sandbox{}, err
	}
	existing, err := n.Status(ctx, podID)
	switch {
	case err == nil && existing.Complete():
		return existing, nil
	case err == nil:
		if err := n.Teardown(ctx, podID); err != nil {
			return Sandbox{}, fmt.Errorf("cni: clear partial sandbox %s: %w", podID, err)
		}
	case !errors.Is(err, ErrNotFound):
		return Sandbox{}, err
	}

	for _, dir := range []string{n.cfg.IPAMDir, n.cfg.CacheDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Sandbox{}, fmt.Errorf("cni: %w", err)
		}
	}
	sb, err := n.add(ctx, podID, opts)
	if err != nil && len(opts.PortMappings) > 0 && chainRace(err) {
		// Another process on this host (another agent, or kube's own CNI) set the
		// chains up at the same moment; they exist now.
		sb, err = n.add(ctx, podID, opts)
	}
	return sb, err
}

// chainRace reports portmap losing the race to create its top-level chains.
func chainRace(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "CHAIN_USER_ADD failed (File exists)") || strings.Contains(msg, "Chain already exists")
}

// add creates the pod's namespace and runs ADD, undoing both if ADD fails.
func (n *Network) add(ctx context.Context, podID string, opts SetupOptions) (Sandbox, error) {
	path, err := n.netns.create(podID)
	if err != nil {
		return Sandbox{}, fmt.Errorf("cni: setup %s: %w", podID, err)
	}
	rt := n.runtimeConf(podID, path)
	list := n.addList
	if len(opts.PortMappings) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": opts.PortMappings}
		list = n.addPortsList
		n.portsMu.Lock()
		defer n.portsMu.Unlock()
	}
	var res Sandbox
	err = n.inHost(func() error {
		r, err := n.cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return err
		}
		res, err = sandboxFromResult(podID, path, n.cfg.Bridge, r)
		return err
	})
	if err != nil {
		// libcni stops at the first failing plugin and leaves the earlier ones' work
		// in place; DEL undoes whatever part of the chain ran. A fresh context,
		// because the caller's may be the reason ADD failed.
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
		defer cancel()
		if terr := n.Teardown(cleanupCtx, podID); terr != nil {
			return Sandbox{}, fmt.Errorf("cni: add %s: %w (cleanup also failed: %v)", podID, err, terr)
		}
		return Sandbox{}, fmt.Errorf("cni: add %s: %w", podID, err)
	}
	return res, nil
}

// Teardown runs CNI DEL for podID and removes its namespace. It is idempotent and
// copes with half-present state: a missing or unmounted namespace, a missing cached
// result, or an IP reservation without either.
func (n *Network) Teardown(ctx context.Context, podID string) error {
	if err := validPodID(podID); err != nil {
		return err
	}
	path := ""
	if n.netns.mounted(podID) {
		path = n.netns.path(podID)
	}
	// With no namespace, an empty NetNS tells bridge and loopback to skip the
	// in-namespace cleanup while host-local still releases the IP and portmap still
	// drops its chains; the host veth is then deleted below.
	rt := n.runtimeConf(podID, path)
	// Read before DEL, which deletes the cache.
	cached, err := n.cachedSandbox(podID, rt)
	if err != nil {
		return err
	}
	rt.CapabilityArgs = map[string]any{"portMappings": n.delPortMappings(rt)}
	if err := n.inHost(func() error { return n.cni.DelNetworkList(ctx, n.list, rt) }); err != nil {
		// Keep the namespace so a retry can still clean inside it.
		return fmt.Errorf("cni: del %s: %w", podID, err)
	}
	if path == "" && cached.HostVeth != "" {
		if err := n.deleteHostVeth(cached.HostVeth); err != nil {
			return fmt.Errorf("cni: teardown %s: %w", podID, err)
		}
	}
	if err := n.netns.remove(podID); err != nil {
		return fmt.Errorf("cni: teardown %s: %w", podID, err)
	}
	return nil
}

// delPortMappings returns the mappings DEL must carry. portmap's DEL does nothing
// unless it receives at least one mapping, yet removes the pod's chains whatever the
// mappings say. So the mappings cached at ADD are used when they exist, and a
// placeholder otherwise: after a crash mid-ADD, or when ADD itself failed, the cache
// is missing while portmap's rules may not be.
func (n *Network) delPortMappings(rt *libcni.RuntimeConf) any {
	_, cached, err := n.cni.GetNetworkListCachedConfig(n.list, rt)
	if err == nil && cached != nil {
		if pm, ok := cached.CapabilityArgs["portMappings"].([]any); ok && len(pm) > 0 {
			return pm
		}
	}
	return []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "tcp"}}
}

func (n *Network) runtimeConf(podID, netnsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: podID, NetNS: netnsPath, IfName: podIfName}
}

// inHost runs fn with the calling thread in the node's network namespace. Plugins
// are child processes and inherit the namespace of the thread that forks them, so
// libcni calls made inside fn configure that namespace.
func (n *Network) inHost(fn func() error) error {
	if n.cfg.HostNetNS == "" {
		return fn()
	}
	return ns.WithNetNSPath(n.cfg.HostNetNS, func(ns.NetNS) error { return fn() })
}
