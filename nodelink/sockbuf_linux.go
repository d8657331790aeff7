package nodelink

import (
	"net"
	"syscall"
)

// growReceiveBuffer raises the socket's receive buffer to size: past rmem_max where
// the process may (CAP_NET_ADMIN), else as far as rmem_max allows. quic-go keeps a
// buffer already larger than it wants.
func growReceiveBuffer(pc net.PacketConn, size int) {
	udp, ok := pc.(*net.UDPConn)
	if !ok {
		return
	}
	raw, err := udp.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size) != nil {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		}
	})
}
