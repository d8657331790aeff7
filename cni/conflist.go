package cni

import (
	"encoding/json"
	"net/netip"
)

// cniVersion is pinned: Debian's plugins (1.1.1) speak at most 1.0.0, and a newer
// version in the conflist would make every plugin refuse it.
const cniVersion = "1.0.0"

// podIfName is the interface name inside every pod, as Kubernetes expects.
const podIfName = "eth0"

// The conflist types mirror only the keys Weft sets, so the generated JSON is exactly
// what doc.go describes and the golden test pins.
type confList struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type bridgeConf struct {
	Type        string   `json:"type"`
	Bridge      string   `json:"bridge"`
	IsGateway   bool     `json:"isGateway"`
	IPMasq      bool     `json:"ipMasq"`
	HairpinMode bool     `json:"hairpinMode"`
	MTU         int      `json:"mtu,omitempty"`
	IPAM        ipamConf `json:"ipam"`
}

type ipamConf struct {
	Type    string        `json:"type"`
	DataDir string        `json:"dataDir"`
	Ranges  [][]rangeConf `json:"ranges"`
	Routes  []routeConf   `json:"routes"`
}

type rangeConf struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
}

type routeConf struct {
	Dst string `json:"dst"`
}

type portmapConf struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
	SNAT         bool            `json:"snat"`
}

type loopbackConf struct {
	Type string `json:"type"`
}

// conflistJSON renders the network configuration list for a validated Config.
func conflistJSON(c Config) ([]byte, error) {
	list := confList{
		CNIVersion: cniVersion,
		// The network name keys libcni's cache files and portmap's chain names; tying
		// it to the bridge keeps two agents in one namespace apart.
		Name: c.Bridge,
		Plugins: []any{
			bridgeConf{
				Type:      "bridge",
				Bridge:    c.Bridge,
				IsGateway: true,
				// Masquerading would rewrite cross-node pod traffic to the node IP and
				// break the flat pod network host-gw routes give us; egress NAT to the
				// outside world is not this package's job.
				IPMasq: false,
				// Hairpin lets a pod reach itself through its own hostPort.
				HairpinMode: true,
				MTU:         c.MTU,
				IPAM: ipamConf{
					Type:    "host-local",
					DataDir: c.IPAMDir,
					Ranges:  [][]rangeConf{{{Subnet: c.PodCIDR.String(), Gateway: gatewayOf(c.PodCIDR).String()}}},
					Routes:  []routeConf{{Dst: "0.0.0.0/0"}},
				},
			},
			portmapConf{
				Type:         "portmap",
				Capabilities: map[string]bool{"portMappings": true},
				SNAT:         true,
			},
			// Last, because loopback only passes the previous result through; as the
			// first plugin it would hand bridge a result bridge does not expect.
			loopbackConf{Type: "loopback"},
		},
	}
	return json.MarshalIndent(list, "", "  ")
}

// gatewayOf is the bridge's address: the first host address of the pod CIDR.
func gatewayOf(p netip.Prefix) netip.Addr {
	return p.Masked().Addr().Next()
}
