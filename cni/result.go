package cni

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
)

// teardownTimeout bounds the DEL that undoes a failed ADD; the plugins finish in tens
// of milliseconds, so this only matters when one hangs.
const teardownTimeout = 30 * time.Second

// sandboxFromResult extracts what the agent needs from a CNI result of any version.
func sandboxFromResult(podID, netnsPath, bridge string, r cnitypes.Result) (Sandbox, error) {
	res, err := types100.NewResultFromResult(r)
	if err != nil {
		return Sandbox{}, fmt.Errorf("cni: convert result for %s: %w", podID, err)
	}
	sb := Sandbox{PodID: podID, NetNS: netnsPath}
	for _, ipc := range res.IPs {
		addr, ok := netip.AddrFromSlice(ipc.Address.IP)
		if !ok {
			return Sandbox{}, fmt.Errorf("cni: result for %s has a malformed IP %v", podID, ipc.Address.IP)
		}
		sb.IPs = append(sb.IPs, addr.Unmap())
	}
	for _, iface := range res.Interfaces {
		// bridge reports the bridge, the host veth and the pod's eth0; only the host
		// veth has neither a sandbox nor the bridge's name.
		if iface.Sandbox == "" && iface.Name != "" && iface.Name != bridge {
			sb.HostVeth = iface.Name
		}
	}
	return sb, nil
}

// cachedSandbox returns the sandbox recorded in libcni's cache, or a zero Sandbox
// when there is no cached result. The NetNS it reports is rt's, not the cached one:
// the cache cannot know whether the mount survived.
func (n *Network) cachedSandbox(podID string, rt *libcni.RuntimeConf) (Sandbox, error) {
	r, err := n.cni.GetNetworkListCachedResult(n.list, rt)
	if err != nil {
		return Sandbox{}, fmt.Errorf("cni: read cached result for %s: %w", podID, err)
	}
	if r == nil {
		return Sandbox{}, nil
	}
	return sandboxFromResult(podID, rt.NetNS, n.cfg.Bridge, r)
}

// deleteHostVeth removes a pod's host-side veth when its namespace is already gone
// from our mount: if nothing else holds the namespace the kernel deletes the pair
// anyway, but only eventually (netns cleanup is asynchronous), and if a stray
// process still holds it, never.
func (n *Network) deleteHostVeth(name string) error {
	h, err := n.hostNetlink()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find host veth %s: %w", name, err)
	}
	if link.Type() != "veth" {
		// The name was reused by something that is not ours; leave it.
		return nil
	}
	if err := h.LinkDel(link); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
		return fmt.Errorf("delete host veth %s: %w", name, err)
	}
	return nil
}

// cachedPodIDs lists the pods libcni holds an ADD result for. The file names are
// "<network>-<containerID>-<ifname>" (libcni's layout), and the network name and
// interface are ours, so the ID is what lies between them.
func (n *Network) cachedPodIDs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(n.cfg.CacheDir, "results"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cni: list cache: %w", err)
	}
	prefix, suffix := n.list.Name+"-", "-"+podIfName
	var ids []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) || len(name) <= len(prefix)+len(suffix) {
			continue
		}
		id := name[len(prefix) : len(name)-len(suffix)]
		if validPodID(id) == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// reservedPodIDs lists the pods host-local holds an address for. A crash between
// host-local's ADD and libcni writing its cache leaves a reservation that neither the
// cache nor the namespace directory shows; without this, List would never offer it
// for Teardown and the address would leak. host-local names each file after the IP
// and writes "<containerID>\r\n<ifname>" into it (older versions: the ID alone).
func (n *Network) reservedPodIDs() (map[string]bool, error) {
	dir := filepath.Join(n.cfg.IPAMDir, n.list.Name)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cni: list IPAM reservations: %w", err)
	}
	ids := map[string]bool{}
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err != nil {
			continue // lock, last_reserved_ip.N
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // released while we were listing
		}
		if err != nil {
			return nil, fmt.Errorf("cni: read IPAM reservation: %w", err)
		}
		id, _, _ := strings.Cut(string(data), "\r\n")
		if id = strings.TrimSpace(id); validPodID(id) == nil {
			ids[id] = true
		}
	}
	return ids, nil
}
