package nodelink

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// The kernel's socket must hold a burst from thousands of nodes: with the
// privilege to pass rmem_max (root, as weft server runs), it gets the whole
// serverReceiveBuffer; without, as much as rmem_max allows, which is what quic-go
// alone would have set.
func TestServerReceiveBuffer(t *testing.T) {
	for _, given := range []bool{false, true} {
		t.Run(map[bool]string{false: "own socket", true: "given socket"}[given], func(t *testing.T) {
			testServerReceiveBuffer(t, given)
		})
	}
}

func testServerReceiveBuffer(t *testing.T, given bool) {
	var pc net.PacketConn
	e := newEnv(t, func(cfg *ServerConfig) {
		if given {
			udp, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { udp.Close() })
			cfg.Addr, cfg.PacketConn, pc = "", udp, udp
		}
	})
	if !given {
		pc = e.srv.ownPC
	}
	got := receiveBuffer(t, pc)
	// Linux reports twice the size asked for (the other half is its bookkeeping).
	if os.Geteuid() == 0 && got < 2*serverReceiveBuffer {
		t.Fatalf("the server's receive buffer is %d bytes, want %d", got, 2*serverReceiveBuffer)
	}
	raw, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("rmem_max unknown: %v", err)
	}
	var max int
	if _, err := fmt.Sscan(string(raw), &max); err == nil && got < 2*min(max, serverReceiveBuffer) {
		t.Fatalf("the server's receive buffer is %d bytes; rmem_max allows %d", got, 2*max)
	}
}

func receiveBuffer(t *testing.T, pc net.PacketConn) int {
	t.Helper()
	raw, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return size
}

// socketStats reads what the lag monitor judges by: datagrams nobody read yet are
// queued bytes, and those past a full buffer are drops.
func TestSocketStats(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.(*net.UDPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	stats := socketStats(pc)
	if stats == nil {
		t.Fatal("no socket stats on Linux")
	}
	before, ok := stats()
	if !ok || before.Queued != 0 || before.Buffer == 0 {
		t.Fatalf("fresh socket: %+v %v", before, ok)
	}
	out, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for range 200 {
		if _, err := out.Write(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
	}
	after, ok := stats()
	if !ok || after.Queued == 0 || after.Drops == before.Drops {
		t.Fatalf("after 200 unread datagrams into a %d-byte buffer: %+v %v", before.Buffer, after, ok)
	}
}
