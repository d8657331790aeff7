package nodelink

import (
	"fmt"
	"sync/atomic"
	"time"
)

// A node's silence means it is gone only if the kernel could have heard it. When the
// kernel falls behind (its socket overflows, its goroutines wait for a CPU), healthy
// nodes' heartbeats wait in queues or are retransmitted, and cutting those nodes
// makes it worse: each comes back with a handshake and a full watch resync. So the
// watchdog first judges whether the link lags, from three signs it can see cheaply,
// and while it does, it gives silent nodes lagStretch times longer.
const (
	// lagStretch multiplies the silence a node is allowed while the link lags. A
	// node whose agent is stuck is still cut, later; one that vanished is closed by
	// QUIC's idle timeout whatever the watchdog decides.
	lagStretch = 4
	// massSilence: this share of the connected nodes late in one sweep (and at least
	// massSilenceMin of them) is a common cause, the kernel or the network, not
	// agents that got stuck each on its own.
	massSilenceDiv = 20
	massSilenceMin = 3
	// deepQueueDiv: a receive queue holding this share of the socket's buffer is
	// a few hundred milliseconds of datagrams the kernel has not read yet.
	deepQueueDiv = 4
)

// sockStats is what the socket's kernel accounting says (SO_MEMINFO on Linux).
type sockStats struct {
	Queued int    // bytes waiting to be read
	Buffer int    // the receive buffer, as the OS counts it
	Drops  uint32 // datagrams dropped since the socket opened (wraps)
}

// lagMonitor judges, once per watchdog sweep, whether the link lags. observe runs on
// the watchdog's goroutine only; until is read by anyone.
type lagMonitor struct {
	sock  func() (sockStats, bool) // nil where the OS does not say
	every time.Duration            // the sweep's period
	hold  time.Duration            // how long one sign keeps the link lagging

	lastSweep int64 // unix nanos
	lastDrops uint32
	seenDrops bool
	until     atomic.Int64 // unix nanos; the link lags before this
}

// observe records one sweep at now that found late of connected nodes past their
// limit. It returns why the link lags, or "" when this sweep saw no sign.
func (m *lagMonitor) observe(now int64, late, connected int) string {
	var why string
	if m.lastSweep != 0 {
		// A scheduling hiccup of tens of milliseconds is not lag; a missed sweep is.
		if gap := time.Duration(now - m.lastSweep); gap > m.every+max(m.every, 250*time.Millisecond) {
			why = fmt.Sprintf("the watchdog ran %s late", (gap - m.every).Round(time.Millisecond))
		}
	}
	m.lastSweep = now
	if m.sock != nil {
		if st, ok := m.sock(); ok {
			dropped := st.Drops - m.lastDrops
			if m.seenDrops && dropped > 0 {
				why = join(why, fmt.Sprintf("the socket dropped %d datagrams", dropped))
			}
			m.lastDrops, m.seenDrops = st.Drops, true
			if st.Buffer > 0 && st.Queued >= st.Buffer/deepQueueDiv {
				why = join(why, fmt.Sprintf("%d KiB wait in the socket", st.Queued>>10))
			}
		}
	}
	if late >= massSilenceMin && late >= connected/massSilenceDiv {
		why = join(why, fmt.Sprintf("%d of %d nodes are silent at once", late, connected))
	}
	if why != "" {
		m.until.Store(now + int64(m.hold))
	}
	return why
}

// lagging reports whether a sign was seen within hold of now.
func (m *lagMonitor) lagging(now int64) bool { return now < m.until.Load() }

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
