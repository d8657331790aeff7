package agent

import (
	"context"
	"net"
)

// RunWithPacketConn runs a with its link on pc, for tests that make a node go silent.
func RunWithPacketConn(ctx context.Context, a *Agent, pc net.PacketConn) error {
	a.cfg.Link.PacketConn = pc
	return a.Run(ctx)
}
