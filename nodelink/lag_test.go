package nodelink

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

func TestLagMonitor(t *testing.T) {
	const every = 500 * time.Millisecond
	type sweep struct {
		after           time.Duration // since the previous sweep
		sock            *sockStats
		late, connected int
		want            string // substring of why; "" for no sign
	}
	for _, tc := range []struct {
		name   string
		sweeps []sweep
	}{
		{"quiet", []sweep{{every, &sockStats{Buffer: 32 << 20, Drops: 7}, 0, 5000, ""}, {every, &sockStats{Queued: 1 << 20, Buffer: 32 << 20, Drops: 7}, 2, 5000, ""}}},
		{"drops since the last sweep", []sweep{{every, &sockStats{Buffer: 32 << 20, Drops: 7}, 0, 10, ""}, {every, &sockStats{Buffer: 32 << 20, Drops: 19}, 0, 10, "dropped 12 datagrams"}}},
		{"drops counter wraps", []sweep{{every, &sockStats{Buffer: 32 << 20, Drops: ^uint32(0)}, 0, 10, ""}, {every, &sockStats{Buffer: 32 << 20, Drops: 1}, 0, 10, "dropped 2 datagrams"}}},
		{"drops before the first sweep are history", []sweep{{every, &sockStats{Buffer: 32 << 20, Drops: 40000}, 0, 10, ""}}},
		{"deep queue", []sweep{{every, &sockStats{Queued: 9 << 20, Buffer: 32 << 20}, 0, 10, "9216 KiB wait in the socket"}}},
		{"missed sweep", []sweep{{every, nil, 0, 10, ""}, {every + 300*time.Millisecond, nil, 0, 10, ""}, {3 * every, nil, 0, 10, "the watchdog ran 1s late"}}},
		{"one stuck node is its own fault", []sweep{{every, nil, 1, 3, ""}, {every, nil, 2, 5000, ""}}},
		{"many silent at once", []sweep{{every, nil, 3, 3, "3 of 3 nodes are silent at once"}, {every, nil, 250, 5000, "250 of 5000"}}},
		{"under a twentieth is not many", []sweep{{every, nil, 249, 5000, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stats sockStats
			m := &lagMonitor{every: every, hold: 6 * time.Second}
			m.sock = func() (sockStats, bool) { return stats, true }
			now := time.Unix(1000, 0).UnixNano()
			for i, sw := range tc.sweeps {
				now += int64(sw.after)
				if sw.sock != nil {
					stats = *sw.sock
				}
				why := m.observe(now, sw.late, sw.connected)
				if (why == "") != (sw.want == "") || !strings.Contains(why, sw.want) {
					t.Fatalf("sweep %d: why %q, want %q", i, why, sw.want)
				}
				if sw.want != "" && !m.lagging(now) {
					t.Fatalf("sweep %d saw a sign but the link is not lagging", i)
				}
			}
		})
	}
}

// One sign keeps the link lagging for hold, and no longer.
func TestLagMonitorHold(t *testing.T) {
	m := &lagMonitor{every: time.Second, hold: 6 * time.Second}
	now := time.Unix(1000, 0).UnixNano()
	if m.lagging(now) {
		t.Fatal("lagging before any sweep")
	}
	m.observe(now, 10, 10)
	for _, c := range []struct {
		after time.Duration
		want  bool
	}{{0, true}, {5 * time.Second, true}, {6 * time.Second, false}} {
		if got := m.lagging(now + int64(c.after)); got != c.want {
			t.Fatalf("%s after the sign: lagging %v, want %v", c.after, got, c.want)
		}
	}
}

// While the link lags, a node silent for twice its limit is spared. (Its connection
// is nil: cutting it would panic.)
func TestCutLateStretch(t *testing.T) {
	sc := &serverConn{}
	sc.beatLimit.Store(int64(time.Second))
	sc.lastBeat.Store(time.Now().Add(-2 * time.Second).UnixNano())
	if n := cutLate([]*serverConn{sc}, lagStretch, new(atomic.Uint64)); n != 0 || sc.beatLimit.Load() == 0 {
		t.Fatal("a node within the stretched limit was cut")
	}
}

// Five nodes that fall silent together are a sign the kernel or the network is
// behind, not five stuck agents: they are cut, but only after lagStretch times their
// limit, and the link says it lags meanwhile.
func TestMassSilenceIsCutLater(t *testing.T) {
	// Sweeps every 25 ms; the nodes promise a heartbeat every 400 ms, so each
	// alone would be cut 1.2 s after its last one, and together after 4.8 s.
	e := newEnv(t, func(cfg *ServerConfig) { cfg.HeartbeatInterval = 100 * time.Millisecond })
	const n = 5
	var streams []*quic.Stream
	for i := range n {
		_, st := rawNode(t, e, fmt.Sprintf("node-mass-%d", i))
		if err := writeJSON(st, frameHello, helloMsg{Versions: []int{ProtocolVersion}, HeartbeatMillis: 400}, DefaultMaxFrameSize); err != nil {
			t.Fatal(err)
		}
		if err := newFrameReader(st, DefaultMaxFrameSize).expect(frameHelloAck, nil); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	// One heartbeat each, as close together as the test can send them, then silence.
	for _, st := range streams {
		if err := writeJSON(st, frameHeartbeat, heartbeatMsg{Seq: 1}, DefaultMaxFrameSize); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	eventually(t, 10*time.Second, "the link to report lag", e.srv.Lagging)
	for range n {
		select {
		case <-e.onDisconnect:
		case <-time.After(15 * time.Second):
			t.Fatalf("silent nodes not all cut; stats %+v", e.srv.Stats())
		}
	}
	if took := time.Since(start); took < 2400*time.Millisecond {
		t.Fatalf("the last silent node was cut %s after its last heartbeat, before twice its limit", took)
	}
	st := e.srv.Stats()
	if st.HeartbeatCuts != n || st.Spared == 0 {
		t.Fatalf("stats %+v: want %d cuts and some spared", st, n)
	}
}
