package cni

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestRestartAdoptsSandbox plays an agent restart: a second Network over the same
// state finds the pod and Setup hands back the very same sandbox.
func TestRestartAdoptsSandbox(t *testing.T) {
	requireNetworkTests(t)
	host := newTestHost(t, "node")
	first := newTestNetwork(t, host, "10.88.3.0/24", "weftrs0")
	sb := setupPod(t, first, "pod-r", SetupOptions{})
	serveIn(t, sb.NetNS, ":8080", "still here")

	second, err := New(first.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	list, err := second.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].PodID != "pod-r" || !list[0].Complete() || list[0].IPs[0] != sb.IPs[0] {
		t.Fatalf("List after restart = %+v, want complete pod-r with %s", list, sb.IPs[0])
	}
	again, err := second.Setup(ctx, "pod-r", SetupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.IPs[0] != sb.IPs[0] || again.NetNS != sb.NetNS || again.HostVeth != sb.HostVeth {
		t.Fatalf("Setup after restart = %+v, want the adopted %+v", again, sb)
	}
	// The listener lives in the original namespace; it only answers if the namespace
	// was adopted rather than recreated.
	mustReach(t, host.path, hostPort(sb.IPs[0], 8080), "still here")
}

// TestTeardownAfterCrash damages a sandbox the way a crash can and checks Teardown
// still removes every trace.
func TestTeardownAfterCrash(t *testing.T) {
	requireNetworkTests(t)
	tests := []struct {
		name   string
		damage func(t *testing.T, n *Network, sb Sandbox)
	}{
		{"netns unmounted, file left", func(t *testing.T, n *Network, sb Sandbox) {
			if err := unix.Unmount(sb.NetNS, unix.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
		}},
		{"netns gone", func(t *testing.T, n *Network, sb Sandbox) {
			if err := n.netns.remove(sb.PodID); err != nil {
				t.Fatal(err)
			}
		}},
		{"cache gone", func(t *testing.T, n *Network, sb Sandbox) {
			removeCache(t, n, sb.PodID)
		}},
		{"only the IPAM and iptables state left", func(t *testing.T, n *Network, sb Sandbox) {
			removeCache(t, n, sb.PodID)
			if err := n.netns.remove(sb.PodID); err != nil {
				t.Fatal(err)
			}
			// A restarted agent learns of such a pod only from List.
			list, err := n.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].PodID != sb.PodID || list[0].Complete() {
				t.Fatalf("List = %+v, want the incomplete %s", list, sb.PodID)
			}
		}},
	}
	host := newTestHost(t, "node")
	n := newTestNetwork(t, host, "10.88.4.0/24", "weftcr0")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := setupPod(t, n, "pod-c", SetupOptions{PortMappings: []PortMapping{
				{HostPort: 18081, ContainerPort: 8080, Protocol: "tcp"},
			}})
			tt.damage(t, n, sb)
			teardownPod(t, n, "pod-c")
			assertNoLeftovers(t, n, host, sb)
		})
	}
}

// TestSetupReplacesPartialSandbox checks that a sandbox missing its CNI result is
// rebuilt rather than adopted half-working.
func TestSetupReplacesPartialSandbox(t *testing.T) {
	requireNetworkTests(t)
	host := newTestHost(t, "node")
	n := newTestNetwork(t, host, "10.88.5.0/24", "weftps0")
	old := setupPod(t, n, "pod-p", SetupOptions{})
	removeCache(t, n, "pod-p")

	sb := setupPod(t, n, "pod-p", SetupOptions{})
	if sb.HostVeth == old.HostVeth {
		t.Fatalf("Setup adopted a sandbox without a CNI result: %+v", sb)
	}
	serveIn(t, sb.NetNS, ":8080", "rebuilt")
	mustReach(t, host.path, hostPort(sb.IPs[0], 8080), "rebuilt")
}

func removeCache(t *testing.T, n *Network, podID string) {
	t.Helper()
	f := filepath.Join(n.cfg.CacheDir, "results", n.list.Name+"-"+podID+"-"+podIfName)
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
}

// TestCheck breaks a pod's network behind the plugins' back and expects CHECK to
// notice.
func TestCheck(t *testing.T) {
	requireNetworkTests(t)
	host := newTestHost(t, "node")
	n := newTestNetwork(t, host, "10.88.8.0/24", "weftck0")
	sb := setupPod(t, n, "pod-k", SetupOptions{PortMappings: []PortMapping{
		{HostPort: 18085, ContainerPort: 8080, Protocol: "tcp"},
	}})
	ctx := context.Background()
	if err := n.Check(ctx, "pod-k"); err != nil {
		t.Fatalf("Check on a healthy pod: %v", err)
	}
	testHost{path: sb.NetNS}.netlink(t, func(nl *netlink.Handle) error {
		eth0, err := nl.LinkByName(podIfName)
		if err != nil {
			return err
		}
		return nl.LinkDel(eth0)
	})
	if err := n.Check(ctx, "pod-k"); err == nil {
		t.Fatal("Check passed on a pod without eth0")
	}
	if err := n.Check(ctx, "no-such-pod"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Check(no-such-pod) err = %v, want ErrNotFound", err)
	}
}
