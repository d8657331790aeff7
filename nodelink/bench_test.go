package nodelink

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// genSource produces events on demand, so the benchmark measures the link, not a store.
type genSource struct {
	obj []byte
}

func (g genSource) Watch(ctx context.Context, _, _ string, from uint64, send func(Event) error) error {
	for rev := from + 1; ctx.Err() == nil; rev++ {
		if err := send(Event{Type: Modified, Revision: rev, Object: g.obj}); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkWatchEvents: events per second from a source to one node over loopback QUIC
// with mutual TLS 1.3, 1 KiB objects. The anchor, measured in the same run, is the same
// framing and event writer over TLS 1.3 on loopback TCP: what a kernel-side
// implementation would get without QUIC.
func BenchmarkWatchEvents(b *testing.B) {
	obj := make([]byte, 1024)
	e := newEnv(b, func(c *ServerConfig) { c.Watch = genSource{obj: obj} })
	c := e.dial(e.clientConfig("bench"))
	stop := errors.New("enough")
	n := 0
	b.SetBytes(int64(len(obj)))
	b.ResetTimer()
	start := time.Now()
	err := c.Watch(context.Background(), "pods", 0, func(ev Event) error {
		n++
		if n >= b.N {
			return stop
		}
		return nil
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if !errors.Is(err, stop) {
		b.Fatal(err)
	}
	ours := float64(n) / elapsed.Seconds()
	anchor := tcpAnchor(b, e, obj, b.N)
	b.ReportMetric(ours, "events/s")
	b.ReportMetric(anchor, "tls-tcp-events/s")
	b.ReportMetric(ours/anchor, "quic/tcp")
}

func tcpAnchor(b *testing.B, e *testEnv, obj []byte, n int) float64 {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{e.srv.cfg.Certificate}})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		w := newEventWriter(context.Background(), conn, DefaultMaxFrameSize, newWriteBuffers())
		genSource{obj: obj}.Watch(context.Background(), "", "", 0, func(ev Event) error {
			if ev.Revision > uint64(n) {
				return errors.New("done")
			}
			return w.send(ev)
		})
		w.close()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Handshake(); err != nil {
		b.Fatal(err)
	}
	fr := newFrameReader(conn, DefaultMaxFrameSize)
	start := time.Now()
	for i := 0; i < n; i++ {
		_, p, err := fr.next()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeEvent(p); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

var _ net.Conn = (*tls.Conn)(nil)
