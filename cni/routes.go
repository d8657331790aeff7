package cni

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// routeProtocol tags the routes EnsureRoutes installs (see `ip route show proto 0x57`),
// so stale ones can be found and removed without touching anyone else's routes.
const routeProtocol netlink.RouteProtocol = 0x57 // 'W'

// Peer is another node: its pod CIDR is reached through its node IP (host-gw), which
// must be on a subnet this node is directly attached to.
type Peer struct {
	PodCIDR netip.Prefix
	NodeIP  netip.Addr
}

// EnsureRoutes makes the node's routes to other nodes' pod CIDRs match peers exactly:
// missing routes are added, changed ones replaced, and Weft routes to CIDRs no
// longer listed are deleted. It also turns on IPv4 forwarding, which host-gw needs.
func (n *Network) EnsureRoutes(ctx context.Context, peers []Peer) error {
	want, err := n.desiredRoutes(peers)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := n.hostNetlink()
	if err != nil {
		return err
	}
	defer h.Close()

	if err := n.inHost(enableForwarding); err != nil {
		return err
	}
	for _, r := range want {
		if err := h.RouteReplace(&r); err != nil {
			return fmt.Errorf("cni: route %s via %s: %w", r.Dst, r.Gw, err)
		}
	}
	have, err := h.RouteListFiltered(unix.AF_INET,
		&netlink.Route{Protocol: routeProtocol, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("cni: list routes: %w", err)
	}
	for _, r := range have {
		if r.Dst == nil || keep(want, r) {
			continue
		}
		if err := h.RouteDel(&r); err != nil {
			return fmt.Errorf("cni: delete stale route %s: %w", r.Dst, err)
		}
	}
	return nil
}

func (n *Network) desiredRoutes(peers []Peer) ([]netlink.Route, error) {
	seen := make(map[netip.Prefix]bool, len(peers))
	routes := make([]netlink.Route, 0, len(peers))
	for _, p := range peers {
		switch {
		case !p.PodCIDR.IsValid() || !p.PodCIDR.Addr().Is4() || p.PodCIDR != p.PodCIDR.Masked():
			return nil, fmt.Errorf("%w: pod CIDR %s must be a masked IPv4 prefix", ErrInvalidPeer, p.PodCIDR)
		case !p.NodeIP.IsValid() || !p.NodeIP.Is4():
			return nil, fmt.Errorf("%w: node IP %s for %s must be IPv4", ErrInvalidPeer, p.NodeIP, p.PodCIDR)
		case p.PodCIDR.Overlaps(n.cfg.PodCIDR):
			return nil, fmt.Errorf("%w: pod CIDR %s overlaps this node's %s", ErrInvalidPeer, p.PodCIDR, n.cfg.PodCIDR)
		case seen[p.PodCIDR]:
			return nil, fmt.Errorf("%w: pod CIDR %s listed twice", ErrInvalidPeer, p.PodCIDR)
		}
		seen[p.PodCIDR] = true
		routes = append(routes, netlink.Route{
			Dst:      &net.IPNet{IP: p.PodCIDR.Addr().AsSlice(), Mask: net.CIDRMask(p.PodCIDR.Bits(), 32)},
			Gw:       p.NodeIP.AsSlice(),
			Protocol: routeProtocol,
			Table:    unix.RT_TABLE_MAIN,
		})
	}
	return routes, nil
}

func keep(want []netlink.Route, r netlink.Route) bool {
	for _, w := range want {
		if w.Dst.String() == r.Dst.String() && w.Gw.Equal(r.Gw) {
			return true
		}
	}
	return false
}

// hostNetlink opens a netlink socket in the node's namespace; the socket stays bound
// to it, so no thread has to switch namespaces while we use it.
func (n *Network) hostNetlink() (*netlink.Handle, error) {
	if n.cfg.HostNetNS == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, fmt.Errorf("cni: netlink: %w", err)
		}
		return h, nil
	}
	nsh, err := netns.GetFromPath(n.cfg.HostNetNS)
	if err != nil {
		return nil, fmt.Errorf("cni: open host netns: %w", err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return nil, fmt.Errorf("cni: netlink in host netns: %w", err)
	}
	return h, nil
}

// enableForwarding must run in the node's namespace: /proc/sys/net shows the
// namespace of the thread that opens it.
func enableForwarding() error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("cni: enable IPv4 forwarding: %w", err)
	}
	return nil
}
