package nodelink

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"weft.dev/weft/kernel/pki"
)

// Liveness defaults. A node that stops heartbeating, whether it vanished or only its
// agent is stuck, is cut after three missed heartbeats (6 s at the 2 s default, checked
// every 0.5 s), so OnDisconnect fires within 6.5 s, well inside a 15 s NotReady budget.
// QUIC's idle timeout (10 s, RFC 9000 10.1) is what tells a node that the kernel is
// gone. Keep-alives fire only after half of it without a packet: the node's heartbeats
// and our acknowledgements of them keep both idle timers fresh, so a healthy link sends
// two packets per heartbeat and nothing else. At 5000 nodes, one-second keep-alives and
// a 5 s idle timeout had been most of the links' upkeep.
const (
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultIdleTimeout       = 10 * time.Second
	DefaultKeepAlive         = DefaultIdleTimeout / 2
	DefaultCertLifetime      = 24 * time.Hour
	missedHeartbeats         = 3

	joinTimeout  = 10 * time.Second
	helloTimeout = 10 * time.Second
)

// Signer issues certificates; *pki.CA satisfies it.
type Signer interface {
	Sign(leaf pki.Leaf, pub crypto.PublicKey) ([]byte, error)
}

// WatchSource feeds watch streams. Watch sends every event of kind after fromRevision
// (strictly greater), in revision order, until ctx ends or send fails. It returns an
// error that matches ErrCompacted when fromRevision is no longer in history. send may
// keep ev.Object until the event is written, so the source must not modify it.
type WatchSource interface {
	Watch(ctx context.Context, node, kind string, fromRevision uint64, send func(Event) error) error
}

// TokenValidator decides whether token admits node. It must compare in constant time;
// StaticTokens does.
type TokenValidator func(node, token string) error

// StaticTokens accepts any of tokens. Hashing first makes the comparison independent of
// the token lengths, and every candidate is compared so timing does not tell which.
func StaticTokens(tokens ...string) TokenValidator {
	sums := make([][32]byte, len(tokens))
	for i, t := range tokens {
		sums[i] = sha256.Sum256([]byte(t))
	}
	return func(_, token string) error {
		got := sha256.Sum256([]byte(token))
		ok := 0
		for i := range sums {
			ok |= subtle.ConstantTimeCompare(got[:], sums[i][:])
		}
		if ok != 1 || token == "" {
			return errors.New("invalid join token")
		}
		return nil
	}
}

// ServerConfig configures the kernel side. Zero durations take the defaults above.
type ServerConfig struct {
	Addr       string         // UDP listen address, e.g. ":7443"; ignored when PacketConn is set
	PacketConn net.PacketConn // optional, already bound

	CA     Signer            // signs node certificates
	CACert *x509.Certificate // the CA's certificate; taken from CA when it is a *pki.CA
	// Certificate is the server's TLS certificate. The CA certificate is appended to the
	// chain when missing: joining nodes have only a fingerprint and need to see the CA.
	Certificate tls.Certificate

	ValidateToken TokenValidator
	// Authorize may refuse a node's mutual-TLS connection (deleted node, revoked serial).
	Authorize func(node string, cert *x509.Certificate) error

	CertLifetime      time.Duration // node certificates; default 24 h
	HeartbeatInterval time.Duration // expected from nodes that do not announce theirs
	IdleTimeout       time.Duration
	KeepAlive         time.Duration
	MaxFrameSize      int

	Watch WatchSource
	// Request answers node-opened request streams: one request payload in, one
	// response payload out (both at most MaxFrameSize). An error reaches the node as
	// an error frame with code request_failed (ErrRequestFailed). ctx ends with the
	// connection or after RequestTimeout. Nil refuses request streams.
	Request func(ctx context.Context, node string, req []byte) ([]byte, error)
	// RequestTimeout bounds one Request call; default 30 s.
	RequestTimeout time.Duration

	// Hooks run on the connection's goroutines and must not block.
	OnConnect    func(node string)
	OnDisconnect func(node string)
	OnHeartbeat  func(node string)

	Logger *slog.Logger
}

// Server is the kernel's end of the node link.
type Server struct {
	cfg    ServerConfig
	caPEM  []byte
	caPool *x509.CertPool
	ln     *quic.Listener
	ownPC  net.PacketConn
	qconf  *quic.Config
	// writeBufs are the batch buffers of watch streams' event writers.
	writeBufs *sync.Pool

	lag    lagMonitor
	cuts   atomic.Uint64 // connections the watchdog cut
	spared atomic.Uint64 // late connections a sweep let be, because the link lagged

	mu     sync.Mutex
	nodes  map[string]*nodeState
	conns  map[*quic.Conn]struct{} // every accepted connection, joined or not
	closed bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type nodeState struct {
	conns    []*serverConn // newest last
	lastSeen time.Time
}

type serverConn struct {
	node       string
	conn       *quic.Conn
	cert       *x509.Certificate
	lastBeat   atomic.Int64 // unix nanos
	beatLimit  atomic.Int64 // nanos of silence after which the watchdog cuts; 0 before hello
	hello      chan struct{}
	helloOnce  sync.Once
	registered atomic.Bool
}

// Listen binds the server's UDP socket; Serve starts accepting.
func Listen(cfg ServerConfig) (*Server, error) {
	if cfg.CACert == nil {
		if ca, ok := cfg.CA.(*pki.CA); ok {
			cfg.CACert = ca.Cert
		}
	}
	if cfg.CA == nil || cfg.CACert == nil {
		return nil, errors.New("nodelink: server needs a CA and its certificate")
	}
	if len(cfg.Certificate.Certificate) == 0 {
		return nil, errors.New("nodelink: server needs a TLS certificate")
	}
	if cfg.ValidateToken == nil {
		return nil, errors.New("nodelink: server needs a token validator")
	}
	if cfg.CertLifetime <= 0 {
		cfg.CertLifetime = DefaultCertLifetime
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, nodes: map[string]*nodeState{}, conns: map[*quic.Conn]struct{}{}, writeBufs: newWriteBuffers()}
	s.caPEM = pemCert(cfg.CACert)
	s.caPool = x509.NewCertPool()
	s.caPool.AddCert(cfg.CACert)

	chain := cfg.Certificate
	chain.Certificate = slices.Clone(chain.Certificate)
	if !slices.ContainsFunc(chain.Certificate, func(der []byte) bool { return string(der) == string(cfg.CACert.Raw) }) {
		chain.Certificate = append(chain.Certificate, cfg.CACert.Raw)
	}
	s.qconf = &quic.Config{
		MaxIdleTimeout:       cfg.IdleTimeout,
		KeepAlivePeriod:      cfg.KeepAlive,
		HandshakeIdleTimeout: cfg.IdleTimeout,
		MaxIncomingStreams:   1000,
	}
	tlsConf := s.tlsConfig(chain)
	pc := cfg.PacketConn
	if pc == nil {
		// Our own socket, closed by Close, so a restarted server can bind the port again
		// at once.
		udp, err := net.ListenPacket("udp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("nodelink: listen: %w", err)
		}
		pc, s.ownPC = udp, udp
	}
	// Before quic-go, which keeps a buffer larger than the one it wants; it changes
	// a given socket's buffer too.
	growReceiveBuffer(pc, serverReceiveBuffer)
	s.lag.sock = socketStats(pc)
	s.lag.every = min(cfg.HeartbeatInterval/4, 500*time.Millisecond)
	s.lag.hold = missedHeartbeats * cfg.HeartbeatInterval
	var err error
	if s.ln, err = quic.Listen(pc, tlsConf, s.qconf); err != nil {
		if s.ownPC != nil {
			s.ownPC.Close()
		}
		return nil, fmt.Errorf("nodelink: listen: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// tlsConfig picks client authentication by ALPN: a joining node has no certificate yet,
// every other connection must present one. One port serves both.
func (s *Server) tlsConfig(chain tls.Certificate) *tls.Config {
	base := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{chain},
		NextProtos:   []string{alpnNode, alpnJoin},
	}
	node := base.Clone()
	node.NextProtos = []string{alpnNode}
	node.ClientAuth = tls.RequireAndVerifyClientCert
	node.ClientCAs = s.caPool
	node.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("nodelink: client certificate required")
		}
		name, err := nodeFromCert(cs.PeerCertificates[0])
		if err != nil {
			return err
		}
		if s.cfg.Authorize != nil {
			if err := s.cfg.Authorize(name, cs.PeerCertificates[0]); err != nil {
				return fmt.Errorf("node %q not authorized: %w", name, err)
			}
		}
		return nil
	}
	join := base.Clone()
	join.NextProtos = []string{alpnJoin}
	join.ClientAuth = tls.NoClientCert
	base.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		switch {
		case slices.Contains(chi.SupportedProtos, alpnNode):
			return node, nil
		case slices.Contains(chi.SupportedProtos, alpnJoin):
			return join, nil
		}
		return nil, fmt.Errorf("nodelink: client offered no known protocol (%v)", chi.SupportedProtos)
	}
	return base
}

// Addr is the bound UDP address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until ctx ends or Close is called.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	s.mu.Lock()
	if !s.closed {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watchdog()
		}()
	}
	s.mu.Unlock()
	for {
		conn, err := s.ln.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("nodelink: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.CloseWithError(connCodeShutdown, "server shutting down")
			return nil
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1) // under mu, so never concurrent with Close's Wait
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
			}()
			switch conn.ConnectionState().TLS.NegotiatedProtocol {
			case alpnJoin:
				s.serveJoin(conn)
			case alpnNode:
				s.serveNode(conn)
			default:
				_ = conn.CloseWithError(connCodeProtocol, "unknown protocol")
			}
		}()
	}
}

// Close closes every connection and the listener.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var all []*quic.Conn
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	for _, c := range all {
		_ = c.CloseWithError(connCodeShutdown, "server shutting down")
	}
	s.wg.Wait()
	if s.ownPC != nil {
		err = errors.Join(err, s.ownPC.Close())
	}
	return err
}

func (s *Server) serveJoin(conn *quic.Conn) {
	ctx, cancel := context.WithTimeout(conn.Context(), joinTimeout)
	defer cancel()
	st, err := conn.AcceptStream(ctx)
	if err != nil {
		_ = conn.CloseWithError(connCodeProtocol, "no join stream")
		return
	}
	_ = st.SetDeadline(time.Now().Add(joinTimeout))
	var m joinMsg
	fr := newFrameReaderSize(st, 64<<10, serverReadBuffer)
	if err := fr.expect(frameJoin, &m); err != nil {
		rejectStream(st, streamCodeProtocol, codeBadRequest, err.Error())
	} else if code, msg, cert := s.join(m); code != "" {
		s.cfg.Logger.Warn("node join refused", "node", m.Node, "remote", conn.RemoteAddr(), "reason", msg)
		_ = writeError(st, code, msg)
		_ = st.Close()
	} else {
		s.cfg.Logger.Info("node joined", "node", m.Node, "remote", conn.RemoteAddr())
		_ = writeJSON(st, frameJoinAck, cert, s.cfg.MaxFrameSize)
		_ = st.Close()
	}
	// The node closes once it has read the answer; closing first could lose it.
	select {
	case <-conn.Context().Done():
	case <-ctx.Done():
		_ = conn.CloseWithError(connCodeNormal, "join done")
	}
}

func (s *Server) join(m joinMsg) (code, msg string, out certMsg) {
	if _, ok := negotiate([]int{m.Version}); !ok {
		return codeVersion, fmt.Sprintf("join protocol version %d not supported (server speaks %v)", m.Version, supportedVersions), out
	}
	if err := validNodeName(m.Node); err != nil {
		return codeBadRequest, err.Error(), out
	}
	if err := s.cfg.ValidateToken(m.Node, m.Token); err != nil {
		return codeUnauthorized, fmt.Sprintf("join token rejected for node %q: %v", m.Node, err), out
	}
	certPEM, err := s.sign(m.Node, m.CSR)
	if err != nil {
		return codeBadRequest, err.Error(), out
	}
	return "", "", certMsg{Cert: certPEM, CA: s.caPEM}
}

// sign issues a node certificate for the CSR's key. The identity comes from the
// caller (the join request or the authenticated connection), never from the CSR subject.
func (s *Server) sign(node string, csr []byte) ([]byte, error) {
	pub, err := parseCSR(csr)
	if err != nil {
		return nil, err
	}
	return s.cfg.CA.Sign(pki.Leaf{
		CommonName:   NodeUserPrefix + node,
		Organization: []string{NodesGroup},
		Validity:     s.cfg.CertLifetime,
	}, pub)
}

func (s *Server) serveNode(conn *quic.Conn) {
	cert := conn.ConnectionState().TLS.PeerCertificates[0]
	node, _ := nodeFromCert(cert) // verified during the handshake
	sc := &serverConn{node: node, conn: conn, cert: cert, hello: make(chan struct{})}
	sc.lastBeat.Store(time.Now().UnixNano())

	// A connection never outlives the certificate that authenticated it, so rotation
	// and revocation-by-expiry actually take effect.
	expiry := time.AfterFunc(time.Until(cert.NotAfter), func() {
		_ = conn.CloseWithError(connCodeCertExpired, "client certificate expired")
	})
	defer expiry.Stop()
	defer s.unregister(sc)
	// Whatever ends the accept loop ends the connection: nothing would serve it.
	defer conn.CloseWithError(connCodeShutdown, "server shutting down")

	for {
		st, err := conn.AcceptStream(s.ctx)
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveStream(sc, st)
		}()
	}
}

// watchdog cuts nodes that keep their QUIC connection alive but stopped heartbeating:
// their agent is stuck, and the kernel should treat them as gone. One sweep serves
// every connection; a ticker per connection was 10,000 wake-ups a second at 5000 nodes.
// While the link lags (lag.go), silent nodes get lagStretch times longer.
func (s *Server) watchdog() {
	t := time.NewTicker(s.lag.every)
	defer t.Stop()
	var late []*serverConn
	wasLagging := false
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		late = late[:0]
		connected := 0
		s.mu.Lock()
		for _, st := range s.nodes {
			for _, sc := range st.conns {
				limit := sc.beatLimit.Load()
				if limit <= 0 {
					continue
				}
				connected++
				if now-sc.lastBeat.Load() > limit {
					late = append(late, sc)
				}
			}
		}
		s.mu.Unlock()
		why := s.lag.observe(now, len(late), connected)
		lagging := s.lag.lagging(now)
		switch {
		case why != "" && !wasLagging:
			s.cfg.Logger.Warn("node link lagging: silent nodes get longer before they are cut", "why", why, "stretch", lagStretch)
		case !lagging && wasLagging:
			s.cfg.Logger.Info("node link caught up")
		}
		wasLagging = lagging
		stretch := int64(1)
		if lagging {
			stretch = lagStretch
		}
		cut := cutLate(late, stretch, &s.cuts)
		if lagging {
			s.spared.Add(uint64(len(late) - cut))
		}
	}
}

// cutLate closes the connections the sweep found silent for stretch times their
// limit, unless a heartbeat came in since: under load the sweep and a node's
// heartbeat race, and a node that just proved alive was being cut (the log said "no
// heartbeat for -874ms"). It returns how many it cut, and counts each in cuts before
// closing it, so that whoever sees the node disconnected sees it counted.
func cutLate(late []*serverConn, stretch int64, cuts *atomic.Uint64) int {
	cut := 0
	for _, sc := range late {
		silent := time.Now().UnixNano() - sc.lastBeat.Load()
		if limit := sc.beatLimit.Load(); limit <= 0 || silent <= stretch*limit {
			continue
		}
		sc.beatLimit.Store(0)
		cut++
		cuts.Add(1)
		_ = sc.conn.CloseWithError(connCodeHeartbeatTimeout, fmt.Sprintf("no heartbeat for %s", time.Duration(silent).Round(time.Millisecond)))
	}
	return cut
}

func (s *Server) serveStream(sc *serverConn, st *quic.Stream) {
	// The first frame is read unbuffered: most streams are requests, whose first
	// frame is their last, and a 4 KiB buffer apiece was a twentieth of all the
	// kernel allocated while pods started.
	_ = st.SetReadDeadline(time.Now().Add(helloTimeout))
	t, p, err := readOne(st, s.cfg.MaxFrameSize)
	_ = st.SetReadDeadline(time.Time{})
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			rejectStream(st, streamCodeFrameTooLarge, codeFrameTooLarge, err.Error())
		} else {
			st.CancelRead(streamCodeProtocol)
			st.CancelWrite(streamCodeProtocol)
		}
		return
	}
	switch t {
	case frameHello:
		s.serveControl(sc, st, newFrameReaderSize(st, s.cfg.MaxFrameSize, serverReadBuffer), p)
	case frameWatch:
		s.serveWatch(sc, st, newFrameReaderSize(st, s.cfg.MaxFrameSize, serverReadBuffer), p)
	case frameRequest:
		s.serveRequest(sc, st, p)
	default:
		rejectStream(st, streamCodeProtocol, codeBadRequest, fmt.Sprintf("a node may not open a stream with a %s frame", t))
	}
}

func (s *Server) serveControl(sc *serverConn, st *quic.Stream, fr *frameReader, p []byte) {
	var h helloMsg
	if err := decodeAs(frameHello, p, frameHello, &h); err != nil {
		rejectStream(st, streamCodeProtocol, codeBadRequest, err.Error())
		return
	}
	first := false
	sc.helloOnce.Do(func() { first = true })
	if !first {
		rejectStream(st, streamCodeProtocol, codeBadRequest, "second control stream")
		return
	}
	v, ok := negotiate(h.Versions)
	if !ok {
		_ = writeError(st, codeVersion, fmt.Sprintf("node offers protocol versions %v, server speaks %v", h.Versions, supportedVersions))
		_ = st.Close()
		// Give the node time to read why before the close discards it.
		select {
		case <-sc.conn.Context().Done():
		case <-time.After(2 * time.Second):
		}
		_ = sc.conn.CloseWithError(connCodeProtocol, "no common protocol version")
		return
	}
	if err := writeJSON(st, frameHelloAck, helloAckMsg{Version: v, Node: sc.node}, s.cfg.MaxFrameSize); err != nil {
		return
	}
	// The node announces its interval so the kernel need not be configured per node;
	// absurd values fall back to the server's.
	interval := time.Duration(h.HeartbeatMillis) * time.Millisecond
	if interval < 50*time.Millisecond || interval > time.Minute {
		interval = s.cfg.HeartbeatInterval
	}
	sc.lastBeat.Store(time.Now().UnixNano())
	sc.beatLimit.Store(int64(missedHeartbeats * interval))
	s.register(sc)
	close(sc.hello)
	for {
		t, p, err := fr.next()
		if err != nil {
			// Without its control stream a connection has no liveness: drop it whole.
			if errors.Is(err, ErrFrameTooLarge) {
				rejectStream(st, streamCodeFrameTooLarge, codeFrameTooLarge, err.Error())
			}
			_ = sc.conn.CloseWithError(connCodeProtocol, "control stream: "+err.Error())
			return
		}
		switch t {
		case frameHeartbeat:
			s.heartbeat(sc)
		case frameRenew:
			var m renewMsg
			var reply error
			if err := json.Unmarshal(p, &m); err != nil {
				reply = writeError(st, codeBadRequest, err.Error())
			} else if certPEM, err := s.sign(sc.node, m.CSR); err != nil {
				reply = writeError(st, codeBadRequest, err.Error())
			} else {
				s.cfg.Logger.Info("node certificate renewed", "node", sc.node)
				reply = writeJSON(st, frameRenewAck, certMsg{Cert: certPEM, CA: s.caPEM}, s.cfg.MaxFrameSize)
			}
			if reply != nil {
				return
			}
		default:
			_ = sc.conn.CloseWithError(connCodeProtocol, fmt.Sprintf("unexpected %s frame on control stream", t))
			return
		}
	}
}

func (s *Server) heartbeat(sc *serverConn) {
	now := time.Now()
	sc.lastBeat.Store(now.UnixNano())
	s.mu.Lock()
	if st := s.nodes[sc.node]; st != nil {
		st.lastSeen = now
	}
	s.mu.Unlock()
	if s.cfg.OnHeartbeat != nil {
		s.cfg.OnHeartbeat(sc.node)
	}
}

func (s *Server) register(sc *serverConn) {
	s.mu.Lock()
	st := s.nodes[sc.node]
	if st == nil {
		st = &nodeState{}
		s.nodes[sc.node] = st
	}
	first := len(st.conns) == 0
	st.conns = append(st.conns, sc)
	st.lastSeen = time.Now()
	sc.registered.Store(true)
	s.mu.Unlock()
	s.cfg.Logger.Info("node connected", "node", sc.node, "remote", sc.conn.RemoteAddr())
	if first && s.cfg.OnConnect != nil {
		s.cfg.OnConnect(sc.node)
	}
}

func (s *Server) unregister(sc *serverConn) {
	if !sc.registered.Load() {
		return
	}
	s.mu.Lock()
	st := s.nodes[sc.node]
	st.conns = slices.DeleteFunc(st.conns, func(c *serverConn) bool { return c == sc })
	last := len(st.conns) == 0
	s.mu.Unlock()
	s.cfg.Logger.Info("node connection closed", "node", sc.node, "cause", context.Cause(sc.conn.Context()))
	if last && s.cfg.OnDisconnect != nil {
		s.cfg.OnDisconnect(sc.node)
	}
}

func (s *Server) serveWatch(sc *serverConn, st *quic.Stream, fr *frameReader, p []byte) {
	var m watchMsg
	if err := decodeAs(frameWatch, p, frameWatch, &m); err != nil {
		rejectStream(st, streamCodeProtocol, codeBadRequest, err.Error())
		return
	}
	select {
	case <-sc.hello:
	case <-sc.conn.Context().Done():
		return
	case <-time.After(helloTimeout):
		rejectStream(st, streamCodeProtocol, codeBadRequest, "watch before hello")
		return
	}
	if s.cfg.Watch == nil {
		rejectStream(st, streamCodeProtocol, codeBadRequest, "this server serves no watches")
		return
	}
	ctx, cancel := context.WithCancelCause(sc.conn.Context())
	defer cancel(nil)
	// The node ends a watch by closing or resetting its side; nothing else may arrive.
	go func() {
		_, _, err := fr.next()
		if err == nil {
			err = fmt.Errorf("%w: unexpected frame on watch stream", ErrProtocol)
		}
		cancel(err)
	}()
	w := newEventWriter(ctx, st, s.cfg.MaxFrameSize, s.writeBufs)
	err := s.cfg.Watch.Watch(ctx, sc.node, m.Kind, m.From, w.send)
	if ctx.Err() != nil {
		// Reset first: a write blocked on a peer that stopped reading must not hold us.
		st.CancelWrite(streamCodeCancel)
		st.CancelRead(streamCodeCancel)
		w.close()
		return
	}
	if werr := w.close(); werr != nil {
		st.CancelWrite(streamCodeCancel)
		st.CancelRead(streamCodeCancel)
		return
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrCompacted):
		_ = writeError(st, codeCompacted, fmt.Sprintf("watch %s from revision %d: %v", m.Kind, m.From, err))
	case errors.Is(err, ErrFrameTooLarge):
		_ = writeError(st, codeFrameTooLarge, err.Error())
	default:
		_ = writeError(st, codeInternal, fmt.Sprintf("watch %s: %v", m.Kind, err))
	}
	_ = st.Close()
}

// eventWriter decouples the source from the stream so that events queued while a write
// is in flight go out together: quic-go's Write waits for its data to be packed, so one
// Write per event would cost a scheduler round trip each.
type eventWriter struct {
	ctx   context.Context
	st    io.Writer
	limit int
	bufs  *sync.Pool
	ch    chan Event
	done  chan struct{}
	err   error
}

// serverReceiveBuffer is the kernel socket's receive buffer. Every node sends into
// the one socket; at 5000 nodes a burst of bindings brings back thousands of
// datagrams a second, and the 8 MiB quic-go settles for (twice rmem_max, 4 MiB on
// Debian) overflowed whenever the kernel's reader fell a second behind. A dropped
// datagram costs a retransmission and halves that node's congestion window. A much
// larger buffer only turns loss into seconds of delay, which sets off every node's
// probe timer at once (RATIONALE.md).
const serverReceiveBuffer = 16 << 20

// serverReadBuffer is the read buffer of a node-opened stream at the kernel: with
// thousands of nodes, each with a few streams that mostly wait, 64 KiB apiece was
// gigabytes.
const serverReadBuffer = 4 << 10

// newWriteBuffers pools the batch buffers of event writers, which take one only while
// there is something to write, for the same reason.
func newWriteBuffers() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
}

func newEventWriter(ctx context.Context, st io.Writer, limit int, bufs *sync.Pool) *eventWriter {
	w := &eventWriter{ctx: ctx, st: st, limit: limit, bufs: bufs, ch: make(chan Event, 64), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *eventWriter) send(ev Event) error {
	if n := len(ev.Object) + 1 + 10; n > w.limit {
		return frameTooLarge("event", n, w.limit)
	}
	select {
	case <-w.done:
		return w.err
	default:
	}
	select {
	case w.ch <- ev:
		return nil
	case <-w.done:
		return w.err
	case <-w.ctx.Done():
		return context.Cause(w.ctx)
	}
}

func (w *eventWriter) run() {
	defer close(w.done)
	for ev := range w.ch {
		bp := w.bufs.Get().(*[]byte)
		buf := appendEvent((*bp)[:0], ev)
	more:
		for len(buf) < 64<<10 {
			select {
			case ev, ok := <-w.ch:
				if !ok {
					break more
				}
				buf = appendEvent(buf, ev)
			default:
				break more
			}
		}
		_, err := w.st.Write(buf)
		if cap(buf) <= 1<<20 {
			*bp = buf[:0]
			w.bufs.Put(bp)
		}
		if err != nil {
			w.err = fmt.Errorf("watch stream: %w", err)
			return
		}
	}
}

// close flushes queued events and reports a write failure.
func (w *eventWriter) close() error {
	close(w.ch)
	<-w.done
	return w.err
}

// serveRequest answers one node-opened request stream: the request frame has been
// read; the answer is one response or error frame, then FIN.
func (s *Server) serveRequest(sc *serverConn, st *quic.Stream, p []byte) {
	select {
	case <-sc.hello:
	case <-sc.conn.Context().Done():
		return
	case <-time.After(helloTimeout):
		rejectStream(st, streamCodeProtocol, codeBadRequest, "request before hello")
		return
	}
	if s.cfg.Request == nil {
		rejectStream(st, streamCodeProtocol, codeBadRequest, "this server serves no requests")
		return
	}
	// Nothing else may arrive from the node; the stream's read side is done.
	st.CancelRead(streamCodeCancel)
	ctx, cancel := context.WithTimeout(sc.conn.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.cfg.Request(ctx, sc.node, p)
	_ = st.SetWriteDeadline(time.Now().Add(s.cfg.RequestTimeout))
	switch {
	case err != nil:
		_ = writeError(st, codeRequestFailed, err.Error())
	case len(resp) > s.cfg.MaxFrameSize:
		_ = writeError(st, codeFrameTooLarge, frameTooLarge("response", len(resp), s.cfg.MaxFrameSize).Error())
	default:
		if werr := writeFrame(st, frameResponse, resp, s.cfg.MaxFrameSize); werr != nil {
			st.CancelWrite(streamCodeCancel)
			return
		}
	}
	_ = st.Close()
}

// RemoteAddr is the address node's newest connection comes from.
func (s *Server) RemoteAddr(node string) net.Addr {
	if sc := s.current(node); sc != nil {
		return sc.conn.RemoteAddr()
	}
	return nil
}

// OpenStream opens a stream to a connected node for logs, exec, port-forward and the
// like. The node's handler for kind receives header; the returned stream then carries
// raw bytes both ways. Close ends both directions; a CloseWrite method half-closes.
func (s *Server) OpenStream(ctx context.Context, node, kind string, header []byte) (io.ReadWriteCloser, error) {
	sc := s.current(node)
	if sc == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotConnected, node)
	}
	st, err := sc.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("nodelink: open %s stream to %s: %w", kind, node, err)
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelRead(streamCodeCancel)
		st.CancelWrite(streamCodeCancel)
	})
	fr := newFrameReader(st, s.cfg.MaxFrameSize)
	err = writeJSON(st, frameOpen, openMsg{Kind: kind, Header: header}, s.cfg.MaxFrameSize)
	if err == nil {
		err = fr.expect(frameOpenAck, nil)
	}
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		st.CancelRead(streamCodeCancel)
		st.CancelWrite(streamCodeCancel)
		return nil, fmt.Errorf("nodelink: open %s stream to %s: %w", kind, node, err)
	}
	return &rawStream{st: st, r: fr.r}, nil
}

func (s *Server) current(node string) *serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.nodes[node]; st != nil && len(st.conns) > 0 {
		return st.conns[len(st.conns)-1]
	}
	return nil
}

// Connected reports whether node has a live connection.
func (s *Server) Connected(node string) bool { return s.current(node) != nil }

// Nodes lists the connected nodes.
func (s *Server) Nodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n, st := range s.nodes {
		if len(st.conns) > 0 {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Lagging reports whether the link has shown, within the last three heartbeat
// intervals, signs that the kernel is not keeping up with its nodes (lag.go). While
// it does, a node's silence is weak evidence that the node is gone.
func (s *Server) Lagging() bool { return s.lag.lagging(time.Now().UnixNano()) }

// Stats is the link's state for metrics.
type Stats struct {
	Nodes   int  // connected
	Lagging bool // see Lagging
	// The UDP socket, where the OS says (Linux): bytes waiting to be read, its
	// receive buffer and datagrams it dropped for want of room.
	SocketQueued, SocketBuffer int
	SocketDrops                uint32
	// HeartbeatCuts counts connections cut for silence; Spared counts the times a
	// sweep found a connection late but let it be because the link lagged.
	HeartbeatCuts, Spared uint64
}

// Stats reads the link's state.
func (s *Server) Stats() Stats {
	out := Stats{Lagging: s.Lagging(), HeartbeatCuts: s.cuts.Load(), Spared: s.spared.Load()}
	s.mu.Lock()
	for _, st := range s.nodes {
		if len(st.conns) > 0 {
			out.Nodes++
		}
	}
	s.mu.Unlock()
	if s.lag.sock != nil {
		if st, ok := s.lag.sock(); ok {
			out.SocketQueued, out.SocketBuffer, out.SocketDrops = st.Queued, st.Buffer, st.Drops
		}
	}
	return out
}

// LastSeen is when node last said hello or sent a heartbeat.
func (s *Server) LastSeen(node string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.nodes[node]; st != nil {
		return st.lastSeen, true
	}
	return time.Time{}, false
}

// Silent is how long node has been quiet; false if it was never seen.
func (s *Server) Silent(node string) (time.Duration, bool) {
	t, ok := s.LastSeen(node)
	if !ok {
		return 0, false
	}
	return time.Since(t), true
}

// PeerCertificate is the certificate node's newest connection authenticated with.
func (s *Server) PeerCertificate(node string) *x509.Certificate {
	if sc := s.current(node); sc != nil {
		return sc.cert
	}
	return nil
}

// Disconnect closes every connection of node, for example when it is deleted.
func (s *Server) Disconnect(node, reason string) {
	s.mu.Lock()
	var conns []*serverConn
	if st := s.nodes[node]; st != nil {
		conns = slices.Clone(st.conns)
	}
	s.mu.Unlock()
	for _, sc := range conns {
		_ = sc.conn.CloseWithError(connCodeDisconnected, reason)
	}
}

// rawStream is a stream past its opening handshake; reads drain the frame reader's
// buffer first, since it may already hold the peer's first bytes.
type rawStream struct {
	st *quic.Stream
	r  io.Reader
}

func (r *rawStream) Read(p []byte) (int, error)  { return r.r.Read(p) }
func (r *rawStream) Write(p []byte) (int, error) { return r.st.Write(p) }

// CloseWrite sends end-of-stream but keeps reading, like a TCP half-close.
func (r *rawStream) CloseWrite() error { return r.st.Close() }

func (r *rawStream) Close() error {
	err := r.st.Close()
	r.st.CancelRead(streamCodeCancel)
	return err
}

func pemCert(c *x509.Certificate) []byte {
	return pemEncode("CERTIFICATE", c.Raw)
}
