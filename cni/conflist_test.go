package cni

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
)

func TestConfList(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, `{
  "cniVersion": "1.0.0",
  "name": "weft0",
  "plugins": [
    {"type": "bridge", "bridge": "weft0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "/var/lib/weft/cni/ipam",
              "ranges": [[{"subnet": "10.88.1.0/24", "gateway": "10.88.1.1"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
    {"type": "loopback"}
  ]
}`},
		{"MTU and another node", func(c *Config) {
			c.MTU = 1450
			c.Bridge = "weftab12cd34"
			c.PodCIDR = netip.MustParsePrefix("10.88.128.0/17")
			c.IPAMDir = "/data/n2/ipam"
		}, `{
  "cniVersion": "1.0.0",
  "name": "weftab12cd34",
  "plugins": [
    {"type": "bridge", "bridge": "weftab12cd34", "isGateway": true, "ipMasq": false, "hairpinMode": true, "mtu": 1450,
     "ipam": {"type": "host-local", "dataDir": "/data/n2/ipam",
              "ranges": [[{"subnet": "10.88.128.0/17", "gateway": "10.88.128.1"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
    {"type": "loopback"}
  ]
}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(n.ConfList(), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("conflist =\n%s\nwant\n%s", n.ConfList(), tt.want)
			}
		})
	}
}

// TestInstalledPluginsAcceptConfList asks the installed plugins (VERSION) whether
// they support the pinned cniVersion; it needs the binaries but not root.
func TestInstalledPluginsAcceptConfList(t *testing.T) {
	requirePlugins(t)
	n := newUnitNetwork(t)
	if _, err := n.cni.ValidateNetworkList(context.Background(), n.list); err != nil {
		t.Fatalf("plugins in %s reject the conflist: %v", n.cfg.PluginDir, err)
	}
}
