package nodes

import (
	"fmt"
	"math/big"
	"net"
)

// cidrAllocator hands out fixed-size subnets of the cluster CIDR. The Node objects are
// the record of what is taken (spec.podCIDR); the allocator only enumerates.
type cidrAllocator struct {
	base    *net.IPNet
	subBits int // mask size of a node's CIDR
	count   int
}

func newCIDRAllocator(cluster string, mask int) (*cidrAllocator, error) {
	_, base, err := net.ParseCIDR(cluster)
	if err != nil {
		return nil, fmt.Errorf("nodes: cluster CIDR %q: %w", cluster, err)
	}
	ones, bits := base.Mask.Size()
	if mask < ones || mask > bits || mask-ones > 24 {
		return nil, fmt.Errorf("nodes: node CIDR mask /%d does not fit cluster CIDR %s", mask, cluster)
	}
	return &cidrAllocator{base: base, subBits: mask, count: 1 << (mask - ones)}, nil
}

// nth is the i-th node subnet.
func (a *cidrAllocator) nth(i int) string {
	_, bits := a.base.Mask.Size()
	ip := new(big.Int).SetBytes(a.base.IP)
	ip.Add(ip, new(big.Int).Lsh(big.NewInt(int64(i)), uint(bits-a.subBits)))
	raw := ip.Bytes()
	out := make(net.IP, len(a.base.IP))
	copy(out[len(out)-len(raw):], raw)
	return (&net.IPNet{IP: out, Mask: net.CIDRMask(a.subBits, bits)}).String()
}

// first returns the first subnet not in used.
func (a *cidrAllocator) first(used map[string]bool) (string, error) {
	c, _, err := a.firstFrom(used, 0)
	return c, err
}

// firstFrom is first, scanning from index start and wrapping around, and it returns
// the index to start from next time, so that a cluster growing by thousands of nodes
// does not rescan every subnet it already gave out.
func (a *cidrAllocator) firstFrom(used map[string]bool, start int) (string, int, error) {
	for i := range a.count {
		j := (start + i) % a.count
		if c := a.nth(j); !used[c] {
			return c, (j + 1) % a.count, nil
		}
	}
	return "", 0, ErrCIDRExhausted
}

// contains reports whether cidr is a node subnet of the cluster CIDR.
func (a *cidrAllocator) contains(cidr string) bool {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil || !a.base.Contains(ip) {
		return false
	}
	ones, _ := n.Mask.Size()
	return ones == a.subBits
}
