package nodelink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"weft.dev/weft/kernel/pki"
)

func TestJoinFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "join.json")
	in := JoinInfo{Server: "10.0.0.1:7443", Token: "tok", CAFingerprint: strings.Repeat("AB", 32)}
	if err := WriteJoinFile(path, in); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("join file mode %v, err %v; want 0600", st.Mode().Perm(), err)
	}
	out, err := ReadJoinFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in.CAFingerprint = strings.ToLower(in.CAFingerprint)
	if out != in {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
	if err := WriteJoinFile(path, JoinInfo{Server: "x:1", Token: "t", CAFingerprint: "short"}); err == nil {
		t.Fatal("bad fingerprint accepted")
	}
}

func TestJoinWithGoodToken(t *testing.T) {
	e := newEnv(t, nil)
	path := filepath.Join(t.TempDir(), "join.json")
	if err := WriteJoinFile(path, e.join); err != nil {
		t.Fatal(err)
	}
	cfg := e.clientConfig("node-a")
	cfg.Join, cfg.JoinFile = JoinInfo{}, path
	c := e.dial(cfg)

	eventually(t, 5*time.Second, "OnConnect", func() bool { return e.srv.Connected("node-a") })
	cert := e.srv.PeerCertificate("node-a")
	if cert.Subject.CommonName != "system:node:node-a" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:nodes" {
		t.Fatalf("node certificate subject %v", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: e.ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("node certificate does not verify: %v", err)
	}
	st, err := os.Stat(filepath.Join(cfg.CertDir, nodeFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("node key file: %v %v", st, err)
	}
	c.Close()
	eventually(t, 5*time.Second, "disconnect", func() bool { return !e.srv.Connected("node-a") })

	// A restarted node reuses its certificate: a wrong token no longer matters.
	cfg.JoinFile = ""
	cfg.Join = e.join
	cfg.Join.Token = "wrong"
	e.dial(cfg)
	eventually(t, 5*time.Second, "reconnect", func() bool { return e.srv.Connected("node-a") })
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tokenChecks != 1 {
		t.Fatalf("token checked %d times, want 1 (the restart must not rejoin)", e.tokenChecks)
	}
}

func TestJoinBadTokenRefused(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.clientConfig("node-b")
	cfg.Join.Token = "guess"
	_, err := Dial(testCtx(t, 10*time.Second), cfg)
	if !errors.Is(err, ErrJoinRejected) {
		t.Fatalf("want ErrJoinRejected, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "invalid join token") || !strings.Contains(msg, `refused node "node-b"`) {
		t.Fatalf("unclear error: %q", msg)
	}
	t.Logf("node sees: %v", err)
	if _, err := os.Stat(filepath.Join(cfg.CertDir, nodeFile)); !os.IsNotExist(err) {
		t.Fatalf("refused node stored credentials: %v", err)
	}
}

func TestCAPinningFailure(t *testing.T) {
	e := newEnv(t, nil)
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.clientConfig("node-c")
	cfg.Join.CAFingerprint = other.Fingerprint()
	_, err = Dial(testCtx(t, 10*time.Second), cfg)
	if !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("want ErrCAMismatch, got %v", err)
	}
	if !strings.Contains(err.Error(), e.ca.Fingerprint()) || !strings.Contains(err.Error(), other.Fingerprint()) {
		t.Fatalf("error should name both fingerprints: %v", err)
	}
	t.Logf("node sees: %v", err)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tokenChecks != 0 {
		t.Fatal("the token was sent to an unverified server")
	}
}

func TestMTLSRequiredAfterJoin(t *testing.T) {
	e := newEnv(t, nil)
	other, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreignPEM, foreignKey, err := other.Issue(pki.Leaf{CommonName: "system:node:evil", Organization: []string{NodesGroup}})
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := tls.X509KeyPair(foreignPEM, foreignKey)
	// Signed by the cluster CA but not a node identity.
	adminPEM, adminKey, _ := e.ca.Issue(pki.Leaf{CommonName: "weft-admin", Organization: []string{"system:masters"}})
	admin, _ := tls.X509KeyPair(adminPEM, adminKey)

	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
	}{{"no certificate", nil}, {"foreign CA", []tls.Certificate{foreign}}, {"not a node", []tls.Certificate{admin}}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 5*time.Second)
			conn, err := quic.DialAddr(ctx, e.join.Server, &tls.Config{
				NextProtos: []string{alpnNode}, InsecureSkipVerify: true, Certificates: tc.certs,
			}, &quic.Config{HandshakeIdleTimeout: 2 * time.Second})
			if err == nil {
				// TLS 1.3 clients finish before the server judges their certificate; the
				// refusal arrives as a close.
				_, err = conn.AcceptStream(ctx)
			}
			if err == nil || ctx.Err() != nil {
				t.Fatalf("connection without a valid node certificate was served: %v", err)
			}
			t.Logf("refused: %v", err)
		})
	}
	if n := len(e.srv.Nodes()); n != 0 {
		t.Fatalf("%d nodes connected", n)
	}
}

func TestWatchResumeAfterDrop(t *testing.T) {
	e := newEnv(t, nil)
	e.src.add("pods", 100, 64)
	c := e.dial(e.clientConfig("node-w"))

	var rec recorder
	reached := make(chan struct{})
	handler := func(ev Event) error {
		rec.handle(ev)
		if ev.Revision == 50 {
			close(reached)
			// Hold the handler so the drop lands mid-stream.
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(testCtx(t, 20*time.Second))
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, "pods", 0, handler) }()

	<-reached
	e.srv.Disconnect("node-w", "test drop")
	e.src.add("pods", 100, 64)
	eventually(t, 10*time.Second, "200 events", func() bool { return rec.count() >= 200 })
	e.src.add("pods", 10, 64) // and the resumed watch stays live
	eventually(t, 5*time.Second, "210 events", func() bool { return rec.count() >= 210 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v", err)
	}
	contiguous(t, rec.snapshot(), e.src.revisions("pods"))
	calls := e.src.callsFor("pods")
	if len(calls) < 2 || calls[0] != 0 || calls[1] < 50 {
		t.Fatalf("watch requests from revisions %v: want 0, then a resume from >= 50", calls)
	}
}

func TestWatchCompacted(t *testing.T) {
	e := newEnv(t, nil)
	e.src.add("pods", 20, 16)
	e.src.mu.Lock()
	e.src.compacted["pods"] = 10
	e.src.mu.Unlock()
	c := e.dial(e.clientConfig("node-k"))
	err := c.Watch(testCtx(t, 10*time.Second), "pods", 5, func(Event) error { return nil })
	if !errors.Is(err, ErrCompacted) {
		t.Fatalf("want ErrCompacted, got %v", err)
	}
	t.Logf("node sees: %v", err)
	var rec recorder
	ctx, cancel := context.WithCancel(testCtx(t, 10*time.Second))
	go c.Watch(ctx, "pods", 10, rec.handle)
	eventually(t, 5*time.Second, "events after the compacted revision", func() bool { return rec.count() == 10 })
	cancel()
}

func TestOversizedFrame(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.clientConfig("node-o")
	cfg.MaxFrameSize = 64 << 10
	c := e.dial(cfg)
	e.src.add("pods", 5, 128)
	e.src.add("big", 1, 100<<10)

	var pods recorder
	ctx, cancel := context.WithCancel(testCtx(t, 20*time.Second))
	defer cancel()
	go c.Watch(ctx, "pods", 0, pods.handle)
	eventually(t, 5*time.Second, "first pods", func() bool { return pods.count() == 5 })

	// Server to node: the node refuses the frame, and only that watch ends.
	err := c.Watch(ctx, "big", 0, func(Event) error { return nil })
	if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "exceeds the 65536-byte limit") {
		t.Fatalf("want a clear ErrFrameTooLarge, got %v", err)
	}
	t.Logf("node sees: %v", err)
	e.src.add("pods", 5, 128)
	eventually(t, 5*time.Second, "pods after the big frame", func() bool { return pods.count() == 10 })

	// Node to server: the server answers on that stream and keeps serving.
	c.mu.Lock()
	conn := c.sess.conn
	c.mu.Unlock()
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr := []byte{byte(frameWatch), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], 64<<20)
	if _, err := st.Write(hdr); err != nil {
		t.Fatal(err)
	}
	err = newFrameReader(st, 1<<20).expect(frameWatch, nil)
	if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "67108864 bytes exceeds") {
		t.Fatalf("server's answer to an oversized frame: %v", err)
	}
	e.src.add("pods", 5, 128)
	eventually(t, 5*time.Second, "pods after the node's big frame", func() bool { return pods.count() == 15 })
	if !c.Connected() {
		t.Fatal("connection dropped")
	}
	contiguous(t, pods.snapshot(), e.src.revisions("pods"))
}

func TestKernelOpenedStream(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.clientConfig("node-s")
	cfg.Handlers = map[string]StreamHandler{
		"echo": func(ctx context.Context, header []byte, s io.ReadWriteCloser) error {
			if _, err := s.Write(append(header, ':')); err != nil {
				return err
			}
			_, err := io.Copy(s, s)
			return err
		},
	}
	e.dial(cfg)
	ctx := testCtx(t, 10*time.Second)
	eventually(t, 5*time.Second, "connect", func() bool { return e.srv.Connected("node-s") })

	s, err := e.srv.OpenStream(ctx, "node-s", "echo", []byte("hdr"))
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB through the stream
	go func() {
		s.Write(payload)
		s.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append([]byte("hdr:"), payload...)) {
		t.Fatalf("echo returned %d bytes, want %d", len(got), len(payload)+4)
	}
	s.Close()

	if _, err := e.srv.OpenStream(ctx, "node-s", "exec", nil); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("unknown kind: want ErrNoHandler, got %v", err)
	}
	if _, err := e.srv.OpenStream(ctx, "nobody", "echo", nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("unknown node: want ErrNotConnected, got %v", err)
	}
}

func TestCertificateRotation(t *testing.T) {
	t.Parallel()
	const lifetime = 3 * time.Second
	e := newEnv(t, func(c *ServerConfig) { c.CertLifetime = lifetime })
	c := e.dial(e.clientConfig("node-r"))
	first := c.Certificate().Leaf.SerialNumber

	var rec recorder
	ctx, cancel := context.WithCancel(testCtx(t, 20*time.Second))
	defer cancel()
	werr := make(chan error, 1)
	go func() { werr <- c.Watch(ctx, "pods", 0, rec.handle) }()
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				e.src.add("pods", 1, 256)
			}
		}
	}()

	// Run past the first certificate's expiry: the link must have moved to new ones.
	serials := map[string]bool{}
	deadline := time.Now().Add(lifetime + time.Second)
	for time.Now().Before(deadline) {
		if cert := e.srv.PeerCertificate("node-r"); cert != nil {
			serials[cert.SerialNumber.String()] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	<-stopped // no event is added after the count below
	if len(serials) < 2 {
		t.Fatalf("server saw %d distinct node certificates, want a rotation", len(serials))
	}
	if now := c.Certificate().Leaf.SerialNumber; now.Cmp(first) == 0 {
		t.Fatal("client still holds its first certificate")
	}
	if cert := e.srv.PeerCertificate("node-r"); cert == nil || time.Now().After(cert.NotAfter) {
		t.Fatalf("no live connection with a valid certificate: %v", cert)
	}
	want := len(e.src.revisions("pods"))
	eventually(t, 5*time.Second, "watch to catch up", func() bool { return rec.count() >= want })
	cancel()
	if err := <-werr; !errors.Is(err, context.Canceled) {
		t.Fatalf("watch lost during rotation: %v", err)
	}
	contiguous(t, rec.snapshot(), e.src.revisions("pods"))
	if calls := e.src.callsFor("pods"); len(calls) < 2 {
		t.Fatalf("watch requests %v: want a resume on the rotated connection", calls)
	}
}

func TestHeartbeatAndDisconnectDetection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.clientConfig("node-h")
	cfg.PacketConn = pc // default intervals: 2 s heartbeats, 10 s idle timeout
	e.dial(cfg)
	eventually(t, 5*time.Second, "a heartbeat", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.heartbeats >= 1
	})
	if d, ok := e.srv.Silent("node-h"); !ok || d > 500*time.Millisecond {
		t.Fatalf("silent for %s (%v) right after a heartbeat", d, ok)
	}

	// The node vanishes: its socket closes without a QUIC CONNECTION_CLOSE.
	gone := time.Now()
	pc.Close()
	select {
	case <-e.onDisconnect:
	case <-time.After(10 * time.Second):
		t.Fatal("vanished node not detected in 10 s")
	}
	took := time.Since(gone)
	t.Logf("vanished node detected after %s", took.Round(time.Millisecond))
	// The heartbeat watchdog (3 x 2 s, checked every 0.5 s) fires before the idle
	// timeout (10 s).
	if limit := missedHeartbeats*DefaultHeartbeatInterval + time.Second; took > limit {
		t.Fatalf("detection took %s, want under %s", took, limit)
	}
	if d, _ := e.srv.Silent("node-h"); d < 3*time.Second {
		t.Fatalf("Silent reports %s after the node vanished", d)
	}
}

// rawNode dials weft-node/1 by hand with a valid node certificate.
func rawNode(t *testing.T, e *testEnv, name string) (*quic.Conn, *quic.Stream) {
	t.Helper()
	certPEM, keyPEM, err := e.ca.Issue(pki.Leaf{CommonName: NodeUserPrefix + name, Organization: []string{NodesGroup}})
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	ctx := testCtx(t, 5*time.Second)
	conn, err := quic.DialAddr(ctx, e.join.Server, &tls.Config{NextProtos: []string{alpnNode}, InsecureSkipVerify: true, Certificates: []tls.Certificate{pair}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return conn, st
}

func TestVersionNegotiation(t *testing.T) {
	e := newEnv(t, nil)
	_, st := rawNode(t, e, "node-v")
	if err := writeJSON(st, frameHello, helloMsg{Versions: []int{99, 7}}, DefaultMaxFrameSize); err != nil {
		t.Fatal(err)
	}
	err := newFrameReader(st, DefaultMaxFrameSize).expect(frameHelloAck, nil)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "[99 7]") {
		t.Fatalf("want ErrVersion naming the offer, got %v", err)
	}
	if e.srv.Connected("node-v") {
		t.Fatal("node without a common version was registered")
	}

	_, st = rawNode(t, e, "node-v")
	writeJSON(st, frameHello, helloMsg{Versions: []int{99, ProtocolVersion}}, DefaultMaxFrameSize)
	var ack helloAckMsg
	if err := newFrameReader(st, DefaultMaxFrameSize).expect(frameHelloAck, &ack); err != nil || ack.Version != ProtocolVersion || ack.Node != "node-v" {
		t.Fatalf("hello: %+v %v", ack, err)
	}
}

func TestStuckAgentIsCut(t *testing.T) {
	e := newEnv(t, nil)
	conn, st := rawNode(t, e, "node-stuck")
	// It promises heartbeats every 100 ms, then sends none; QUIC keeps the link alive.
	writeJSON(st, frameHello, helloMsg{Versions: []int{ProtocolVersion}, HeartbeatMillis: 100}, DefaultMaxFrameSize)
	start := time.Now()
	select {
	case <-e.onDisconnect:
	case <-time.After(5 * time.Second):
		t.Fatal("stuck node not cut")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("cut after %s, want about 3 heartbeat intervals", took)
	}
	<-conn.Context().Done()
	var ae *quic.ApplicationError
	if !errors.As(context.Cause(conn.Context()), &ae) || ae.ErrorCode != connCodeHeartbeatTimeout {
		t.Fatalf("close reason %v", context.Cause(conn.Context()))
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	e := newEnv(t, nil)
	e.src.add("pods", 10, 32)
	c := e.dial(e.clientConfig("node-x"))
	var rec recorder
	ctx, cancel := context.WithCancel(testCtx(t, 20*time.Second))
	defer cancel()
	go c.Watch(ctx, "pods", 0, rec.handle)
	eventually(t, 5*time.Second, "first events", func() bool { return rec.count() == 10 })

	cfg := e.srv.cfg
	cfg.Addr = e.srv.Addr().String()
	e.srv.Close()
	eventually(t, 5*time.Second, "client to notice", func() bool { return !c.Connected() })
	e.src.add("pods", 10, 32)
	srv2, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go srv2.Serve(context.Background())
	defer srv2.Close()
	eventually(t, 10*time.Second, "reconnect", func() bool { return srv2.Connected("node-x") })
	eventually(t, 5*time.Second, "resumed events", func() bool { return rec.count() == 20 })
	contiguous(t, rec.snapshot(), e.src.revisions("pods"))
	if calls := e.src.callsFor("pods"); calls[len(calls)-1] != 10 {
		t.Fatalf("resumed from %v, want 10", calls)
	}
}

func TestNodeRequest(t *testing.T) {
	e := newEnv(t, func(cfg *ServerConfig) {
		cfg.MaxFrameSize = 64 << 10
		cfg.Request = func(ctx context.Context, node string, req []byte) ([]byte, error) {
			switch {
			case string(req) == "fail":
				return nil, errors.New("refused on purpose")
			case string(req) == "big":
				return make([]byte, 100<<10), nil
			}
			return append([]byte(node+":"), req...), nil
		}
	})
	cfg := e.clientConfig("node-r")
	cfg.MaxFrameSize = 64 << 10
	c := e.dial(cfg)
	ctx := testCtx(t, 10*time.Second)

	got, err := c.Request(ctx, []byte("hello"))
	if err != nil || string(got) != "node-r:hello" {
		t.Fatalf("request: %q, %v", got, err)
	}
	// Concurrent requests run on their own streams.
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			msg := []byte{byte('a' + i)}
			got, err := c.Request(ctx, msg)
			if err == nil && string(got) != "node-r:"+string(msg) {
				err = errors.New("wrong answer " + string(got))
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Request(ctx, []byte("fail")); !errors.Is(err, ErrRequestFailed) || !strings.Contains(err.Error(), "refused on purpose") {
		t.Fatalf("refused request: %v", err)
	}
	if _, err := c.Request(ctx, []byte("big")); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized response: %v", err)
	}
	if _, err := c.Request(ctx, make([]byte, 65<<10)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized request: %v", err)
	}
	// The server's limit holds even for a client with a larger one.
	cfg2 := e.clientConfig("node-s")
	cfg2.MaxFrameSize = 1 << 20
	c2 := e.dial(cfg2)
	if _, err := c2.Request(ctx, make([]byte, 65<<10)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("request over the server's limit: %v", err)
	}
	// And the connection survives all of that.
	if got, err := c2.Request(ctx, []byte("still")); err != nil || string(got) != "node-s:still" {
		t.Fatalf("after refusals: %q %v", got, err)
	}
	if got, err := c.Request(ctx, []byte("still")); err != nil || string(got) != "node-r:still" {
		t.Fatalf("after refusals: %q %v", got, err)
	}
}

func TestNodeRequestWithoutHook(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(e.clientConfig("node-q"))
	_, err := c.Request(testCtx(t, 10*time.Second), []byte("x"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != codeBadRequest {
		t.Fatalf("request to a server without a hook: %v", err)
	}
}

// A node whose heartbeat lands between the watchdog's sweep and its cut is alive and
// keeps its connection. (The connection here is nil: cutting it would panic.)
func TestWatchdogSparesNodeThatBeatSinceTheSweep(t *testing.T) {
	sc := &serverConn{}
	sc.beatLimit.Store(int64(time.Second))
	sc.lastBeat.Store(time.Now().UnixNano())
	cutLate([]*serverConn{sc}, 1, new(atomic.Uint64))
	if sc.beatLimit.Load() == 0 {
		t.Fatal("the watchdog disarmed a node that had just beaten")
	}
}
