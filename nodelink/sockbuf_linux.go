package nodelink

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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

// socketStats reads the socket's queue, buffer and drop count with SO_MEMINFO, one
// system call that walks nothing (unlike /proc/net/udp, which lists every UDP
// socket on the machine: thousands when weft sim runs beside the kernel).
func socketStats(pc net.PacketConn) func() (sockStats, bool) {
	udp, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	raw, err := udp.SyscallConn()
	if err != nil {
		return nil
	}
	return func() (sockStats, bool) {
		var mem [unix.SK_MEMINFO_VARS]uint32
		var errno syscall.Errno
		size := uint32(unsafe.Sizeof(mem))
		if raw.Control(func(fd uintptr) {
			_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
				uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
		}) != nil || errno != 0 || size < uint32(unsafe.Sizeof(mem)) {
			return sockStats{}, false
		}
		return sockStats{
			Queued: int(mem[unix.SK_MEMINFO_RMEM_ALLOC]),
			Buffer: int(mem[unix.SK_MEMINFO_RCVBUF]),
			Drops:  mem[unix.SK_MEMINFO_DROPS],
		}, true
	}
}
