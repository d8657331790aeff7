//go:build !linux

package nodelink

import "net"

func growReceiveBuffer(pc net.PacketConn, size int) {
	if udp, ok := pc.(*net.UDPConn); ok {
		_ = udp.SetReadBuffer(size)
	}
}
