package cni

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{
		PodCIDR:  netip.MustParsePrefix("10.88.1.0/24"),
		Bridge:   "weft0",
		IPAMDir:  "/var/lib/weft/cni/ipam",
		CacheDir: "/var/lib/weft/cni/cache",
		NetNSDir: "/run/weft/node-1/netns",
	}
}

// newUnitNetwork builds a Network for tests that touch no system state.
func newUnitNetwork(t *testing.T) *Network {
	t.Helper()
	n, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // substring; empty means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"valid with MTU and host netns", func(c *Config) { c.MTU = 1450; c.HostNetNS = "/run/netns/n1" }, ""},
		{"missing CIDR", func(c *Config) { c.PodCIDR = netip.Prefix{} }, "pod CIDR is missing"},
		{"IPv6 CIDR", func(c *Config) { c.PodCIDR = netip.MustParsePrefix("fd00::/64") }, "not IPv4"},
		{"host bits", func(c *Config) { c.PodCIDR = netip.MustParsePrefix("10.88.1.7/24") }, "host bits"},
		{"too small", func(c *Config) { c.PodCIDR = netip.MustParsePrefix("10.88.1.0/31") }, "too small"},
		{"no bridge", func(c *Config) { c.Bridge = "" }, "bridge: name is empty"},
		{"long bridge", func(c *Config) { c.Bridge = "weft-0123456789a" }, "longer than 15"},
		{"bridge with slash", func(c *Config) { c.Bridge = "weft/0" }, "contains"},
		{"relative IPAM dir", func(c *Config) { c.IPAMDir = "ipam" }, "IPAM dir"},
		{"missing cache dir", func(c *Config) { c.CacheDir = "" }, "cache dir"},
		{"missing netns dir", func(c *Config) { c.NetNSDir = "" }, "netns dir"},
		{"relative plugin dir", func(c *Config) { c.PluginDir = "cni" }, "plugin dir"},
		{"MTU too small", func(c *Config) { c.MTU = 60 }, "MTU 60"},
		{"relative host netns", func(c *Config) { c.HostNetNS = "n1" }, "host netns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			n, err := New(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if n.Config().PluginDir != DefaultPluginDir {
					t.Fatalf("PluginDir = %q, want the default %q", n.Config().PluginDir, DefaultPluginDir)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New err = %v, want ErrInvalidConfig mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{Bridge: "much-too-long-bridge"})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"pod CIDR", "bridge", "IPAM dir", "cache dir", "netns dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func TestBridgeName(t *testing.T) {
	a, b := BridgeName("node-1"), BridgeName("node-2")
	for _, name := range []string{a, b, BridgeName(strings.Repeat("x", 300)), BridgeName("")} {
		if err := validIfName(name); err != nil {
			t.Errorf("BridgeName gave an unusable name: %v", err)
		}
		if !strings.HasPrefix(name, "weft") {
			t.Errorf("BridgeName = %q, want a weft prefix so operators can tell whose it is", name)
		}
	}
	if a == b {
		t.Errorf("BridgeName gives %q to two nodes", a)
	}
	if again := BridgeName("node-1"); again != a {
		t.Errorf("BridgeName(node-1) = %q then %q; it must be stable across restarts", a, again)
	}
}

func TestValidPodID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"pod-a", true},
		{"0f8e5c1a-7b6d-4c3e-9a2b-1d0e9f8a7b6c", true},
		{"ns_name.v1", true},
		{"", false},
		{"-leading-dash", false},
		{"../escape", false},
		{"a/b", false},
		{"has space", false},
		{strings.Repeat("a", 254), false},
	}
	for _, tt := range tests {
		err := validPodID(tt.id)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidPodID)) {
			t.Errorf("validPodID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}
