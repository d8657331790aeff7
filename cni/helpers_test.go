package cni

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ioTimeout bounds every connect and read in these tests; everything they talk to
// lives in namespaces on this machine, so it answers in milliseconds or not at all.
const ioTimeout = 5 * time.Second

// requireNetworkTests skips root-only tests with a clear reason, unless
// WEFT_E2E=require, where a missing prerequisite fails the run instead: CI must not
// report green because it silently skipped the networking tests.
func requireNetworkTests(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	requireOrSkip(t, append(missing, missingPlugins()...))
}

// requirePlugins is requireNetworkTests for tests that run the plugins without root.
func requirePlugins(t *testing.T) {
	t.Helper()
	requireOrSkip(t, missingPlugins())
}

func missingPlugins() []string {
	var missing []string
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(DefaultPluginDir, p)); err != nil {
			missing = append(missing, filepath.Join(DefaultPluginDir, p)+" (apt-get install containernetworking-plugins)")
		}
	}
	if _, err := exec.LookPath("iptables-save"); err != nil {
		missing = append(missing, "iptables-save (apt-get install iptables)")
	}
	return missing
}

func requireOrSkip(t *testing.T, missing []string) {
	t.Helper()
	if len(missing) == 0 {
		return
	}
	msg := "network integration test needs: " + strings.Join(missing, ", ")
	if os.Getenv("WEFT_E2E") == "require" {
		t.Fatal(msg + " (WEFT_E2E=require)")
	}
	t.Skip(msg)
}

// testHost is a network namespace standing in for a machine, so that bridges,
// routes and iptables rules never touch the real host's namespace.
type testHost struct {
	path string
}

// newTestHost creates a namespace that is removed at the end of the test, taking
// with it every bridge, veth and iptables rule inside.
func newTestHost(t *testing.T, name string) testHost {
	t.Helper()
	dir := newNSDir(filepath.Join(t.TempDir(), "hosts"))
	t.Cleanup(func() { unmountDir(t, dir.dir) })
	p, err := dir.create(name)
	if err != nil {
		t.Fatalf("create host netns: %v", err)
	}
	t.Cleanup(func() {
		if err := dir.remove(name); err != nil {
			t.Errorf("remove host netns: %v", err)
		}
	})
	h := testHost{path: p}
	h.netlink(t, func(nl *netlink.Handle) error {
		lo, err := nl.LinkByName("lo")
		if err != nil {
			return err
		}
		return nl.LinkSetUp(lo)
	})
	return h
}

// netlink runs fn with a netlink handle bound to the host's namespace.
func (h testHost) netlink(t *testing.T, fn func(*netlink.Handle) error) {
	t.Helper()
	nsh, err := netns.GetFromPath(h.path)
	if err != nil {
		t.Fatalf("open netns %s: %v", h.path, err)
	}
	defer nsh.Close()
	nl, err := netlink.NewHandleAt(nsh)
	if err != nil {
		t.Fatalf("netlink in %s: %v", h.path, err)
	}
	defer nl.Close()
	if err := fn(nl); err != nil {
		t.Fatalf("netlink in %s: %v", h.path, err)
	}
}

// unmountDir undoes the shared self-bind mount nsDir puts on its directory, so
// t.TempDir can remove it.
func unmountDir(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		t.Errorf("unmount %s: %v", dir, err)
	}
}

// newTestNetwork builds a Network whose state lives under t.TempDir and whose node is
// host. Cleanup tears down whatever pods the test left, so a failing test leaks
// nothing either.
func newTestNetwork(t *testing.T, host testHost, cidr, bridge string) *Network {
	t.Helper()
	dir := t.TempDir()
	n, err := New(Config{
		PodCIDR:   netip.MustParsePrefix(cidr),
		Bridge:    bridge,
		IPAMDir:   filepath.Join(dir, "ipam"),
		CacheDir:  filepath.Join(dir, "cache"),
		NetNSDir:  filepath.Join(dir, "netns"),
		HostNetNS: host.path,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		unmountDir(t, n.cfg.NetNSDir)
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		left, err := n.List(ctx)
		if err != nil {
			t.Errorf("cleanup: list sandboxes: %v", err)
		}
		for _, sb := range left {
			if err := n.Teardown(ctx, sb.PodID); err != nil {
				t.Errorf("cleanup: teardown %s: %v", sb.PodID, err)
			}
		}
	})
	return n
}

// setupPod runs Setup with a bounded context and checks the basics every caller
// relies on.
func setupPod(t *testing.T, n *Network, podID string, opts SetupOptions) Sandbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb, err := n.Setup(ctx, podID, opts)
	if err != nil {
		t.Fatalf("Setup(%s): %v", podID, err)
	}
	if len(sb.IPs) != 1 || !n.cfg.PodCIDR.Contains(sb.IPs[0]) {
		t.Fatalf("Setup(%s) IPs = %v, want one address in %s", podID, sb.IPs, n.cfg.PodCIDR)
	}
	if sb.NetNS == "" || sb.HostVeth == "" {
		t.Fatalf("Setup(%s) = %+v, want a netns path and a host veth", podID, sb)
	}
	return sb
}

func teardownPod(t *testing.T, n *Network, podID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Teardown(ctx, podID); err != nil {
		t.Fatalf("Teardown(%s): %v", podID, err)
	}
}

// serveIn starts a TCP server inside the namespace at nsPath that answers every
// connection with greeting. The socket is created inside the namespace and stays
// there, so the accept loop can run on any thread.
func serveIn(t *testing.T, nsPath, addr, greeting string) {
	t.Helper()
	var ln net.Listener
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", nsPath, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(ioTimeout))
			fmt.Fprintln(c, greeting)
			c.Close()
		}
	}()
}

// dialFrom connects from inside the namespace at nsPath and returns the greeting.
func dialFrom(nsPath, addr string) (string, error) {
	var conn net.Conn
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		conn, err = net.DialTimeout("tcp4", addr, ioTimeout)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("dial %s from %s: %w", addr, nsPath, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read from %s: %w", addr, err)
	}
	return strings.TrimSpace(line), nil
}

func mustReach(t *testing.T, fromNS, addr, want string) {
	t.Helper()
	got, err := dialFrom(fromNS, addr)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s answered %q, want %q", addr, got, want)
	}
}

// iptablesSave dumps the rules of the namespace at nsPath.
func iptablesSave(t *testing.T, nsPath string) string {
	t.Helper()
	var out []byte
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		var err error
		out, err = exec.CommandContext(ctx, "iptables-save").CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	return string(out)
}

func hostPort(ip netip.Addr, port int) string {
	return netip.AddrPortFrom(ip, uint16(port)).String()
}
