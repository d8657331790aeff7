package nodelink

import (
	"net"
	"syscall"
)

// serverReceiveBuffer is the kernel socket's receive buffer. Every node sends into
// the one socket; at 5000 nodes a burst of bindings brings back thousands of
// datagrams a second, and the 8 MiB quic-go settles for (twice rmem_max, 4 MiB on
// Debian) overflowed whenever the kernel's reader fell a second behind. A dropped
// datagram costs a retransmission and halves that node's congestion window. A much
// larger buffer only turns loss into seconds of delay, which sets off every node's
// probe timer at once (RATIONALE.md).
const serverReceiveBuffer = 16 << 20

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
