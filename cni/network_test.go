package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestPodLifecycle walks two pods through Setup and Teardown on one bridge and
// checks that Teardown leaves nothing behind.
func TestPodLifecycle(t *testing.T) {
	requireNetworkTests(t)
	host := newTestHost(t, "node")
	n := newTestNetwork(t, host, "10.88.1.0/24", "weftlc0")

	const hostPortNum, podPort = 18080, 8080
	a := setupPod(t, n, "pod-a", SetupOptions{PortMappings: []PortMapping{
		{HostPort: hostPortNum, ContainerPort: podPort, Protocol: "tcp"},
	}})
	b := setupPod(t, n, "pod-b", SetupOptions{})
	if a.IPs[0] == b.IPs[0] {
		t.Fatalf("both pods got %s", a.IPs[0])
	}
	serveIn(t, a.NetNS, ":8080", "pod-a")
	serveIn(t, b.NetNS, ":8080", "pod-b")

	t.Run("lo is up in pods", func(t *testing.T) {
		// ADD skips the loopback plugin; Setup brings lo up itself.
		for _, sb := range []Sandbox{a, b} {
			testHost{sb.NetNS}.netlink(t, func(nl *netlink.Handle) error {
				lo, err := nl.LinkByName("lo")
				if err == nil && lo.Attrs().Flags&net.FlagUp == 0 {
					t.Errorf("lo is down in %s", sb.PodID)
				}
				return err
			})
		}
		mustReach(t, a.NetNS, "127.0.0.1:8080", "pod-a")
	})
	t.Run("host reaches pod", func(t *testing.T) {
		mustReach(t, host.path, hostPort(a.IPs[0], podPort), "pod-a")
	})
	t.Run("pods reach each other", func(t *testing.T) {
		mustReach(t, a.NetNS, hostPort(b.IPs[0], podPort), "pod-b")
		mustReach(t, b.NetNS, hostPort(a.IPs[0], podPort), "pod-a")
	})
	t.Run("hostPort reaches pod", func(t *testing.T) {
		// The gateway is a local address of the node, so this goes through
		// portmap's OUTPUT DNAT rule.
		mustReach(t, host.path, hostPort(gatewayOf(n.cfg.PodCIDR), hostPortNum), "pod-a")
	})
	t.Run("status and list see both", func(t *testing.T) {
		got, err := n.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].PodID != "pod-a" || got[1].PodID != "pod-b" || !got[0].Complete() || !got[1].Complete() {
			t.Fatalf("List = %+v, want complete pod-a and pod-b", got)
		}
		if got[0].IPs[0] != a.IPs[0] || got[0].HostVeth != a.HostVeth {
			t.Fatalf("List[0] = %+v, want %+v", got[0], a)
		}
	})

	rules := iptablesSave(t, host.path)
	if !portmapMentions(rules, a) {
		t.Fatalf("portmap left no rules mentioning pod-a; the leak check below would prove nothing:\n%s", rules)
	}

	teardownPod(t, n, "pod-a")
	assertNoLeftovers(t, n, host, a)
	teardownPod(t, n, "pod-a") // twice is fine
	assertNoLeftovers(t, n, host, a)

	// pod-b is untouched by pod-a's teardown.
	mustReach(t, host.path, hostPort(b.IPs[0], podPort), "pod-b")
	teardownPod(t, n, "pod-b")
	assertNoLeftovers(t, n, host, b)
}

// kernelCleanupTimeout bounds the wait for the kernel to destroy a namespace nobody
// holds; its cleanup is batched behind RCU grace periods and can lag under load.
const kernelCleanupTimeout = 20 * time.Second

// assertNoLeftovers checks every place a pod's network leaves state.
func assertNoLeftovers(t *testing.T, n *Network, host testHost, sb Sandbox) {
	t.Helper()
	if _, err := os.Lstat(sb.NetNS); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns file %s still exists (err=%v)", sb.NetNS, err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), sb.NetNS) {
		t.Errorf("netns %s is still mounted", sb.NetNS)
	}
	// When a crash took the namespace away before Teardown, the kernel deletes the
	// veth pair itself, asynchronously (netns cleanup runs from a workqueue); so wait
	// for it, within a bound, instead of sampling once.
	host.netlink(t, func(nl *netlink.Handle) error {
		deadline := time.Now().Add(kernelCleanupTimeout)
		for {
			_, err := nl.LinkByName(sb.HostVeth)
			if errors.As(err, new(netlink.LinkNotFoundError)) {
				return nil
			}
			if time.Now().After(deadline) {
				t.Errorf("host veth %s still exists (err=%v)", sb.HostVeth, err)
				return nil
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	ipamDir := filepath.Join(n.cfg.IPAMDir, n.list.Name)
	if _, err := os.Lstat(filepath.Join(ipamDir, sb.IPs[0].String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host-local still reserves %s (err=%v)", sb.IPs[0], err)
	}
	files, _ := os.ReadDir(ipamDir)
	for _, f := range files {
		data, _ := os.ReadFile(filepath.Join(ipamDir, f.Name()))
		if strings.Contains(string(data), sb.PodID) {
			t.Errorf("host-local file %s still names %s", f.Name(), sb.PodID)
		}
	}
	if rules := iptablesSave(t, host.path); portmapMentions(rules, sb) {
		t.Errorf("iptables still has portmap rules for %s:\n%s", sb.PodID, rules)
	}
	if _, err := n.Status(context.Background(), sb.PodID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status(%s) err = %v, want ErrNotFound", sb.PodID, err)
	}
}

// portmapMentions reports whether iptables-save output holds a rule portmap made for
// the pod: its comment names the container ID, and its DNAT targets the pod IP.
func portmapMentions(rules string, sb Sandbox) bool {
	return strings.Contains(rules, `id: \"`+sb.PodID+`\"`) ||
		strings.Contains(rules, "--to-destination "+sb.IPs[0].String()+":")
}

// TestConcurrentPods sets up and tears down pods in parallel, as an agent starting a
// Deployment does: the plugins share a bridge, host-local's store and the iptables
// chains, and must not trip over each other.
func TestConcurrentPods(t *testing.T) {
	requireNetworkTests(t)
	host := newTestHost(t, "node")
	n := newTestNetwork(t, host, "10.88.6.0/24", "weftcc0")

	const pods = 8
	sandboxes := make([]Sandbox, pods)
	errs := make([]error, pods)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sandboxes[i], errs[i] = n.Setup(ctx, fmt.Sprintf("pod-%d", i), SetupOptions{PortMappings: []PortMapping{
				{HostPort: 19000 + i, ContainerPort: 8080, Protocol: "tcp"},
			}})
		})
	}
	wg.Wait()
	seen := map[netip.Addr]string{}
	for i, sb := range sandboxes {
		if errs[i] != nil {
			t.Fatalf("Setup(pod-%d): %v", i, errs[i])
		}
		if other, dup := seen[sb.IPs[0]]; dup {
			t.Fatalf("%s and %s both got %s", other, sb.PodID, sb.IPs[0])
		}
		seen[sb.IPs[0]] = sb.PodID
		serveIn(t, sb.NetNS, ":8080", sb.PodID)
		mustReach(t, host.path, hostPort(gatewayOf(n.cfg.PodCIDR), 19000+i), sb.PodID)
	}

	for i := range pods {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errs[i] = n.Teardown(ctx, sandboxes[i].PodID)
		})
	}
	wg.Wait()
	for i, sb := range sandboxes {
		if errs[i] != nil {
			t.Fatalf("Teardown(%s): %v", sb.PodID, errs[i])
		}
		assertNoLeftovers(t, n, host, sb)
	}
}

// TestSetupFailureLeavesNothing makes portmap, the second plugin, refuse ADD after
// bridge and host-local have done their work, and checks Setup undoes that work.
func TestSetupFailureLeavesNothing(t *testing.T) {
	requireNetworkTests(t)
	host := newTestHost(t, "node")
	n := newTestNetwork(t, host, "10.88.7.0/24", "weftsf0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := n.Setup(ctx, "pod-f", SetupOptions{PortMappings: []PortMapping{
		{HostPort: 18084, ContainerPort: 0, Protocol: "tcp"},
	}})
	if err == nil || !strings.Contains(err.Error(), "portmap") {
		t.Fatalf("Setup with container port 0: err = %v, want portmap to fail", err)
	}
	if _, err := n.Status(ctx, "pod-f"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status after failed Setup: err = %v, want ErrNotFound", err)
	}
	if _, err := os.Lstat(n.netns.path("pod-f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns mount point left behind (err=%v)", err)
	}
	host.netlink(t, func(nl *netlink.Handle) error {
		br, err := nl.LinkByName(n.cfg.Bridge)
		if err != nil {
			return fmt.Errorf("bridge plugin never ran, so this test proves nothing: %w", err)
		}
		links, err := nl.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				t.Errorf("veth %s still on the bridge", l.Attrs().Name)
			}
		}
		return err
	})
}

// TestMTU checks Config.MTU reaches the pod's interface and the bridge.
func TestMTU(t *testing.T) {
	requireNetworkTests(t)
	host := newTestHost(t, "node")
	dir := t.TempDir()
	n, err := New(Config{
		PodCIDR:   netip.MustParsePrefix("10.88.9.0/24"),
		Bridge:    "weftmtu0",
		IPAMDir:   dir + "/ipam",
		CacheDir:  dir + "/cache",
		NetNSDir:  dir + "/netns",
		MTU:       1400,
		HostNetNS: host.path,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountDir(t, n.cfg.NetNSDir) })
	sb := setupPod(t, n, "pod-m", SetupOptions{})
	t.Cleanup(func() { teardownPod(t, n, "pod-m") })
	for _, c := range []struct {
		where testHost
		link  string
	}{{testHost{sb.NetNS}, podIfName}, {host, n.cfg.Bridge}, {host, sb.HostVeth}} {
		c.where.netlink(t, func(nl *netlink.Handle) error {
			l, err := nl.LinkByName(c.link)
			if err == nil && l.Attrs().MTU != 1400 {
				t.Errorf("%s MTU = %d, want 1400", c.link, l.Attrs().MTU)
			}
			return err
		})
	}
}
