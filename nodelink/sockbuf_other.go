//go:build !linux

package nodelink

import "net"

func growReceiveBuffer(pc net.PacketConn, size int) {
	if udp, ok := pc.(*net.UDPConn); ok {
		_ = udp.SetReadBuffer(size)
	}
}

// socketStats: other systems do not say, so the watchdog judges lag by its own
// lateness and by how many nodes fall silent at once.
func socketStats(net.PacketConn) func() (sockStats, bool) { return nil }
