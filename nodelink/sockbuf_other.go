//go:build !linux

package nodelink

import "net"

const serverReceiveBuffer = 64 << 20

func growReceiveBuffer(pc net.PacketConn, size int) {
	if udp, ok := pc.(*net.UDPConn); ok {
		_ = udp.SetReadBuffer(size)
	}
}
