package cni

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestCrossNodePods builds two "machines" as namespaces joined by a veth pair, runs
// a Network on each, and proves host-gw routes carry pod-to-pod traffic and hostPort
// traffic between them.
func TestCrossNodePods(t *testing.T) {
	requireNetworkTests(t)
	hostA, hostB := newTestHost(t, "node-a"), newTestHost(t, "node-b")
	nodeA, nodeB := netip.MustParseAddr("10.250.0.1"), netip.MustParseAddr("10.250.0.2")
	linkHosts(t, hostA, hostB, nodeA, nodeB)

	netA := newTestNetwork(t, hostA, "10.88.10.0/24", "weftxa0")
	netB := newTestNetwork(t, hostB, "10.88.20.0/24", "weftxb0")
	ctx := context.Background()
	if err := netA.EnsureRoutes(ctx, []Peer{{PodCIDR: netB.cfg.PodCIDR, NodeIP: nodeB}}); err != nil {
		t.Fatal(err)
	}
	if err := netB.EnsureRoutes(ctx, []Peer{{PodCIDR: netA.cfg.PodCIDR, NodeIP: nodeA}}); err != nil {
		t.Fatal(err)
	}

	podA := setupPod(t, netA, "pod-a", SetupOptions{})
	podB := setupPod(t, netB, "pod-b", SetupOptions{PortMappings: []PortMapping{
		{HostPort: 18082, ContainerPort: 8080, Protocol: "tcp"},
	}})
	serveIn(t, podA.NetNS, ":8080", "pod-a")
	serveIn(t, podB.NetNS, ":8080", "pod-b")

	mustReach(t, podA.NetNS, hostPort(podB.IPs[0], 8080), "pod-b")
	mustReach(t, podB.NetNS, hostPort(podA.IPs[0], 8080), "pod-a")
	// hostPort from the other machine arrives through PREROUTING, unlike the local
	// OUTPUT path TestPodLifecycle takes.
	mustReach(t, hostA.path, hostPort(nodeB, 18082), "pod-b")

	// Withdrawing the peer removes its route, and the pods can no longer talk.
	if err := netA.EnsureRoutes(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := weftRoutes(t, hostA); len(got) != 0 {
		t.Fatalf("routes after withdrawing every peer = %v, want none", got)
	}
	if _, err := dialFrom(podA.NetNS, hostPort(podB.IPs[0], 8080)); err == nil {
		t.Fatal("pod-a still reaches pod-b after its route was withdrawn")
	}
}

// TestEnsureRoutesReconciles checks EnsureRoutes converges on the given peers: adds,
// replaces a moved node IP, deletes the stale, and leaves foreign routes alone.
func TestEnsureRoutesReconciles(t *testing.T) {
	requireNetworkTests(t)
	host, other := newTestHost(t, "node"), newTestHost(t, "other")
	linkHosts(t, host, other, netip.MustParseAddr("10.250.0.1"), netip.MustParseAddr("10.250.0.2"))
	n := newTestNetwork(t, host, "10.88.1.0/24", "weftrt0")

	// A route someone else owns, to a prefix EnsureRoutes will never be told about.
	foreign := netip.MustParsePrefix("10.99.0.0/16")
	host.netlink(t, func(nl *netlink.Handle) error {
		return nl.RouteAdd(&netlink.Route{Dst: ipNet(foreign), Gw: net.ParseIP("10.250.0.9")})
	})

	steps := []struct {
		name  string
		peers []Peer
	}{
		{"add two", []Peer{peer("10.88.2.0/24", "10.250.0.2"), peer("10.88.3.0/24", "10.250.0.3")}},
		{"move one node, drop the other", []Peer{peer("10.88.2.0/24", "10.250.0.4")}},
		{"idempotent", []Peer{peer("10.88.2.0/24", "10.250.0.4")}},
		{"none", nil},
	}
	for _, s := range steps {
		if err := n.EnsureRoutes(context.Background(), s.peers); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := weftRoutes(t, host)
		want := map[netip.Prefix]netip.Addr{}
		for _, p := range s.peers {
			want[p.PodCIDR] = p.NodeIP
		}
		if len(got) != len(want) {
			t.Fatalf("%s: routes = %v, want %v", s.name, got, want)
		}
		for dst, gw := range want {
			if got[dst] != gw {
				t.Fatalf("%s: routes = %v, want %v", s.name, got, want)
			}
		}
	}
	host.netlink(t, func(nl *netlink.Handle) error {
		routes, err := nl.RouteListFiltered(unix.AF_INET, &netlink.Route{Dst: ipNet(foreign)}, netlink.RT_FILTER_DST)
		if err == nil && len(routes) != 1 {
			err = errors.New("foreign route was removed")
		}
		return err
	})
}

func TestEnsureRoutesRejectsBadPeers(t *testing.T) {
	cfg := validConfig()
	// A namespace that cannot be opened: should validation ever let a peer through,
	// the test fails on that instead of changing this machine's routes.
	cfg.HostNetNS = "/nonexistent/weft-test/netns"
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		peer Peer
	}{
		{"missing CIDR", Peer{NodeIP: netip.MustParseAddr("10.250.0.2")}},
		{"missing node IP", Peer{PodCIDR: netip.MustParsePrefix("10.88.2.0/24")}},
		{"IPv6 CIDR", peer("fd00::/64", "10.250.0.2")},
		{"IPv6 node", peer("10.88.2.0/24", "fd00::2")},
		{"host bits", peer("10.88.2.1/24", "10.250.0.2")},
		{"overlaps own CIDR", peer("10.88.0.0/16", "10.250.0.2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := n.EnsureRoutes(context.Background(), []Peer{tt.peer})
			if !errors.Is(err, ErrInvalidPeer) {
				t.Fatalf("EnsureRoutes(%+v) err = %v, want ErrInvalidPeer", tt.peer, err)
			}
		})
	}
	t.Run("duplicate", func(t *testing.T) {
		p := peer("10.88.2.0/24", "10.250.0.2")
		if err := n.EnsureRoutes(context.Background(), []Peer{p, p}); !errors.Is(err, ErrInvalidPeer) {
			t.Fatalf("err = %v, want ErrInvalidPeer", err)
		}
	})
}

func peer(cidr, nodeIP string) Peer {
	return Peer{PodCIDR: netip.MustParsePrefix(cidr), NodeIP: netip.MustParseAddr(nodeIP)}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// linkHosts joins two test hosts with a veth pair, addressed ipA/24 and ipB/24. The
// pair dies with either namespace, so the hosts' cleanup removes it.
func linkHosts(t *testing.T, a, b testHost, ipA, ipB netip.Addr) {
	t.Helper()
	nsB, err := netns.GetFromPath(b.path)
	if err != nil {
		t.Fatal(err)
	}
	defer nsB.Close()
	a.netlink(t, func(nl *netlink.Handle) error {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: "uplink"},
			PeerName:      "uplink",
			PeerNamespace: netlink.NsFd(nsB),
		}
		if err := nl.LinkAdd(veth); err != nil {
			return err
		}
		return addrUp(nl, "uplink", ipA)
	})
	b.netlink(t, func(nl *netlink.Handle) error { return addrUp(nl, "uplink", ipB) })
}

func addrUp(nl *netlink.Handle, name string, ip netip.Addr) error {
	link, err := nl.LinkByName(name)
	if err != nil {
		return err
	}
	if err := nl.AddrAdd(link, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(ip, 24))}); err != nil {
		return err
	}
	return nl.LinkSetUp(link)
}

// weftRoutes returns the routes EnsureRoutes owns in the host's namespace.
func weftRoutes(t *testing.T, h testHost) map[netip.Prefix]netip.Addr {
	t.Helper()
	got := map[netip.Prefix]netip.Addr{}
	h.netlink(t, func(nl *netlink.Handle) error {
		routes, err := nl.RouteListFiltered(unix.AF_INET, &netlink.Route{Protocol: routeProtocol}, netlink.RT_FILTER_PROTOCOL)
		for _, r := range routes {
			ones, _ := r.Dst.Mask.Size()
			dst, _ := netip.AddrFromSlice(r.Dst.IP)
			gw, _ := netip.AddrFromSlice(r.Gw)
			got[netip.PrefixFrom(dst.Unmap(), ones)] = gw.Unmap()
		}
		return err
	})
	return got
}
