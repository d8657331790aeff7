package nodelink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// StreamHandler serves a kernel-opened stream of one kind on the node. The stream carries
// raw bytes; a handler that fails returns an error and the kernel sees the stream reset.
type StreamHandler func(ctx context.Context, header []byte, stream io.ReadWriteCloser) error

// ClientConfig configures a node. Zero durations take the package defaults.
type ClientConfig struct {
	Node     string   // node name; the certificate says system:node:<Node>
	JoinFile string   // read with ReadJoinFile when Join is empty
	Join     JoinInfo // used as is when Server is set
	CertDir  string   // ca.crt and node.pem (certificate+key, 0600)
	// ServerName is checked against the server certificate; default: host of Join.Server.
	ServerName string

	HeartbeatInterval time.Duration
	IdleTimeout       time.Duration
	KeepAlive         time.Duration
	MaxFrameSize      int
	// RenewFraction of a certificate's lifetime passes before it is renewed; default 2/3.
	RenewFraction float64
	MinBackoff    time.Duration // default 200 ms
	MaxBackoff    time.Duration // default 10 s

	// Handlers serve kernel-opened streams by kind; Client.Handle adds more.
	Handlers map[string]StreamHandler

	OnConnect    func()
	OnDisconnect func(cause error)

	PacketConn net.PacketConn // optional; the client owns a UDP socket otherwise
	Logger     *slog.Logger
}

// Client is a node's link to the kernel. It keeps one connection up, reconnecting with
// backoff and rotating its certificate, until Close.
type Client struct {
	cfg        ClientConfig
	join       JoinInfo
	store      certStore
	serverName string
	tr         *quic.Transport
	ownPC      net.PacketConn
	qconf      *quic.Config

	mu       sync.Mutex
	creds    *nodeCreds
	sess     *session
	changed  chan struct{} // closed and replaced whenever sess changes
	handlers map[string]StreamHandler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Dial joins if the node has no usable certificate, connects with mutual TLS, and keeps
// the link up in the background. It returns once the first connection is established,
// retrying network failures until ctx ends; a refused token, a CA that does not match
// the pin or no common protocol version fail at once.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if err := validNodeName(cfg.Node); err != nil {
		return nil, fmt.Errorf("nodelink: %w", err)
	}
	if cfg.CertDir == "" {
		return nil, errors.New("nodelink: client needs a cert dir")
	}
	join := cfg.Join
	if join.Server == "" {
		var err error
		if join, err = ReadJoinFile(cfg.JoinFile); err != nil {
			return nil, fmt.Errorf("nodelink: %w", err)
		}
	} else if err := join.validate(); err != nil {
		return nil, fmt.Errorf("nodelink: %w", err)
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
	if cfg.RenewFraction <= 0 || cfg.RenewFraction >= 1 {
		cfg.RenewFraction = 2.0 / 3
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg: cfg, join: join, store: certStore{dir: cfg.CertDir, pin: join.CAFingerprint},
		changed: make(chan struct{}), handlers: map[string]StreamHandler{},
		qconf: &quic.Config{
			MaxIdleTimeout:       cfg.IdleTimeout,
			KeepAlivePeriod:      cfg.KeepAlive,
			HandshakeIdleTimeout: cfg.IdleTimeout,
			MaxIncomingStreams:   1000,
		},
	}
	for k, h := range cfg.Handlers {
		c.handlers[k] = h
	}
	c.serverName = cfg.ServerName
	if c.serverName == "" {
		host, _, err := net.SplitHostPort(join.Server)
		if err != nil {
			return nil, fmt.Errorf("nodelink: server address %q: %w", join.Server, err)
		}
		c.serverName = host
	}
	pc := cfg.PacketConn
	if pc == nil {
		udp, err := net.ListenUDP("udp", nil)
		if err != nil {
			return nil, fmt.Errorf("nodelink: %w", err)
		}
		pc, c.ownPC = udp, udp
	}
	c.tr = &quic.Transport{Conn: pc}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if creds, err := c.store.load(cfg.Node, time.Now()); err == nil {
		c.creds = creds
	}

	sess, err := c.connectRetrying(ctx, true)
	if err != nil {
		c.shutdown()
		return nil, err
	}
	c.setSession(sess)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(sess)
	}()
	return c, nil
}

// Handle registers h for kernel-opened streams of kind.
func (c *Client) Handle(kind string, h StreamHandler) {
	c.mu.Lock()
	c.handlers[kind] = h
	c.mu.Unlock()
}

// Certificate is the certificate the client currently authenticates with.
func (c *Client) Certificate() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds == nil {
		return nil
	}
	cert := c.creds.cert
	return &cert
}

// Connected reports whether a connection is up now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil && !c.sess.dead()
}

// Close ends the link.
func (c *Client) Close() error {
	c.shutdown()
	return nil
}

func (c *Client) shutdown() {
	c.cancel()
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		_ = s.conn.CloseWithError(connCodeShutdown, "node shutting down")
	}
	c.wg.Wait()
	_ = c.tr.Close()
	if c.ownPC != nil {
		_ = c.ownPC.Close()
	}
}

// terminal reports failures that retrying cannot fix.
func terminal(err error) bool {
	return errors.Is(err, ErrJoinRejected) || errors.Is(err, ErrCAMismatch) || errors.Is(err, ErrVersion)
}

func (c *Client) connectRetrying(ctx context.Context, firstTime bool) (*session, error) {
	b := c.backoff()
	for {
		sess, err := c.connect(ctx)
		if err == nil {
			return sess, nil
		}
		if firstTime && terminal(err) {
			return nil, err
		}
		c.cfg.Logger.Warn("connect to kernel failed", "server", c.join.Server, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("nodelink: connect %s: %w (last error: %v)", c.join.Server, ctx.Err(), err)
		case <-c.ctx.Done():
			return nil, ErrClosed
		case <-time.After(b()):
		}
	}
}

// backoff returns a jittered exponential schedule; jitter spreads the reconnect storm
// after a kernel restart.
func (c *Client) backoff() func() time.Duration {
	d := c.cfg.MinBackoff
	return func() time.Duration {
		cur := d
		d = min(2*d, c.cfg.MaxBackoff)
		return cur/2 + rand.N(cur/2+1)
	}
}

func (c *Client) connect(ctx context.Context) (*session, error) {
	c.mu.Lock()
	creds := c.creds
	c.mu.Unlock()
	if creds == nil || time.Now().After(creds.leaf.NotAfter) {
		var err error
		if creds, err = c.doJoin(ctx); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.creds = creds
		c.mu.Unlock()
	}
	return c.dialSession(ctx, creds)
}

func (c *Client) tlsConfig(alpn string, creds *nodeCreds, verr *error) *tls.Config {
	conf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{alpn},
		ServerName: c.serverName,
		// Verification is done below against the pinned CA, which no system pool has.
		InsecureSkipVerify: true,
	}
	verify := pinnedVerify(c.join.CAFingerprint, c.serverName, nil)
	if creds != nil {
		verify = pinnedVerify(c.join.CAFingerprint, c.serverName, creds.ca)
		conf.Certificates = []tls.Certificate{creds.cert}
	}
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		err := verify(cs)
		*verr = err
		return err
	}
	return conf
}

func (c *Client) dialQUIC(ctx context.Context, alpn string, creds *nodeCreds) (*quic.Conn, error) {
	addr, err := net.ResolveUDPAddr("udp", c.join.Server)
	if err != nil {
		return nil, err
	}
	var verr error
	conn, err := c.tr.Dial(ctx, addr, c.tlsConfig(alpn, creds, &verr), c.qconf)
	if err != nil {
		if verr != nil {
			// quic-go reports a TLS alert; the cause we found is more useful.
			return nil, fmt.Errorf("nodelink: connect %s: %w", c.join.Server, verr)
		}
		return nil, fmt.Errorf("nodelink: connect %s: %w", c.join.Server, err)
	}
	return conn, nil
}

func (c *Client) doJoin(ctx context.Context) (*nodeCreds, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	conn, err := c.dialQUIC(ctx, alpnJoin, nil)
	if err != nil {
		return nil, err
	}
	defer conn.CloseWithError(connCodeNormal, "")
	key, csr, err := newCSR(c.cfg.Node)
	if err != nil {
		return nil, err
	}
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	err = writeJSON(st, frameJoin, joinMsg{Version: ProtocolVersion, Token: c.join.Token, Node: c.cfg.Node, CSR: csr}, c.cfg.MaxFrameSize)
	if err != nil {
		return nil, err
	}
	var m certMsg
	t, p, err := readOne(st, c.cfg.MaxFrameSize)
	if err == nil {
		err = decodeAs(t, p, frameJoinAck, &m)
	}
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) && re.Code == codeUnauthorized {
			return nil, fmt.Errorf("%w: server %s refused node %q: %s", ErrJoinRejected, c.join.Server, c.cfg.Node, re.Message)
		}
		return nil, fmt.Errorf("nodelink: join %s as %q: %w", c.join.Server, c.cfg.Node, err)
	}
	creds, err := c.store.save(c.cfg.Node, key, m)
	if err != nil {
		return nil, fmt.Errorf("nodelink: join %s as %q: %w", c.join.Server, c.cfg.Node, err)
	}
	c.cfg.Logger.Info("joined cluster", "server", c.join.Server, "node", c.cfg.Node, "expires", creds.leaf.NotAfter)
	return creds, nil
}

func (c *Client) dialSession(ctx context.Context, creds *nodeCreds) (*session, error) {
	conn, err := c.dialQUIC(ctx, alpnNode, creds)
	if err != nil {
		return nil, err
	}
	s, err := c.hello(ctx, conn)
	if err != nil {
		_ = conn.CloseWithError(connCodeProtocol, err.Error())
		return nil, err
	}
	s.creds = creds
	return s, nil
}

func (c *Client) hello(ctx context.Context, conn *quic.Conn) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		// A server that refused our certificate closes the connection right after the
		// handshake; its reason surfaces here.
		return nil, fmt.Errorf("nodelink: connect %s: %w", c.join.Server, err)
	}
	dl, _ := ctx.Deadline()
	_ = ctrl.SetReadDeadline(dl)
	err = writeJSON(ctrl, frameHello, helloMsg{Versions: supportedVersions, HeartbeatMillis: c.cfg.HeartbeatInterval.Milliseconds()}, c.cfg.MaxFrameSize)
	if err != nil {
		return nil, fmt.Errorf("nodelink: hello: %w", err)
	}
	fr := newFrameReader(ctrl, c.cfg.MaxFrameSize)
	var ack helloAckMsg
	if err := fr.expect(frameHelloAck, &ack); err != nil {
		return nil, fmt.Errorf("nodelink: hello: %w", err)
	}
	_ = ctrl.SetReadDeadline(time.Time{})
	s := &session{c: c, conn: conn, ctrl: ctrl, fr: fr, version: ack.Version, renewCh: make(chan renewResult, 1)}
	return s, nil
}

func (c *Client) setSession(s *session) {
	c.mu.Lock()
	c.sess = s
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	if s != nil {
		s.start()
		if c.cfg.OnConnect != nil {
			c.cfg.OnConnect()
		}
	}
}

// run keeps the link up: it replaces dead sessions and rotates the certificate.
func (c *Client) run(sess *session) {
	renew := time.NewTimer(c.untilRenew())
	defer renew.Stop()
	// A connection that came up while we were being closed must not outlive us.
	defer func() {
		c.mu.Lock()
		cur := c.sess
		c.mu.Unlock()
		for _, s := range []*session{sess, cur} {
			if s != nil {
				_ = s.conn.CloseWithError(connCodeShutdown, "node shutting down")
			}
		}
	}()
	retry := c.backoff()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-sess.conn.Context().Done():
			cause := context.Cause(sess.conn.Context())
			c.cfg.Logger.Warn("connection to kernel lost", "cause", cause)
			c.mu.Lock()
			if c.sess == sess {
				c.sess = nil
			}
			c.mu.Unlock()
			if c.cfg.OnDisconnect != nil {
				c.cfg.OnDisconnect(cause)
			}
			next, err := c.connectRetrying(c.ctx, false)
			if err != nil {
				return
			}
			sess = next
			c.setSession(sess)
			renew.Reset(c.untilRenew())
		case <-renew.C:
			if err := c.rotate(sess); err != nil {
				c.cfg.Logger.Warn("certificate rotation failed", "err", err)
				renew.Reset(retry())
				continue
			}
			retry = c.backoff()
			c.mu.Lock()
			sess = c.sess
			c.mu.Unlock()
			renew.Reset(c.untilRenew())
		}
	}
}

func (c *Client) untilRenew() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(0, time.Until(c.creds.renewAt(c.cfg.RenewFraction)))
}

// rotate renews the certificate over the authenticated connection, then makes before it
// breaks: the new connection is up before the old one closes, and watches resume on it
// from their last revision.
func (c *Client) rotate(old *session) error {
	ctx, cancel := context.WithTimeout(c.ctx, joinTimeout)
	defer cancel()
	key, csr, err := newCSR(c.cfg.Node)
	if err != nil {
		return err
	}
	m, err := old.renew(ctx, csr)
	if err != nil {
		return err
	}
	creds, err := c.store.save(c.cfg.Node, key, m)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.creds = creds
	c.mu.Unlock()
	c.cfg.Logger.Info("certificate renewed", "expires", creds.leaf.NotAfter)
	next, err := c.dialSession(ctx, creds)
	if err != nil {
		// The old connection lives on until its certificate expires; a later reconnect
		// uses the new one.
		c.cfg.Logger.Warn("reconnect with renewed certificate failed", "err", err)
		return nil
	}
	c.setSession(next)
	_ = old.conn.CloseWithError(connCodeRotated, "certificate rotated")
	return nil
}

// live waits for a usable session.
func (c *Client) live(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, ch := c.sess, c.changed
		c.mu.Unlock()
		if s != nil && !s.dead() {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		case <-ch:
		case <-time.After(c.cfg.MinBackoff):
		}
	}
}

type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }
func (h handlerError) Unwrap() error { return h.err }

var errWatchEnded = errors.New("watch ended by server")

// Watch streams events of kind after revision from to h, until ctx ends, h fails or the
// server reports an error such as ErrCompacted. Across reconnects it asks again from the
// last revision h accepted, so h sees no gap and no duplicate, and no relist is needed.
func (c *Client) Watch(ctx context.Context, kind string, from uint64, h func(Event) error) error {
	last := from
	retry := c.backoff()
	for {
		s, err := c.live(ctx)
		if err != nil {
			return err
		}
		err = s.watch(ctx, kind, &last, h)
		var he handlerError
		var re *RemoteError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &he):
			return he.err
		case errors.As(err, &re), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrProtocol):
			return fmt.Errorf("nodelink: watch %s from revision %d: %w", kind, last, err)
		case s.dead():
			retry = c.backoff() // the connection went away; the next one is awaited above
			continue
		}
		// The server ended the watch or reset the stream on a live connection: ask again,
		// but not in a tight loop.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry()):
		}
	}
}

// Request sends one request to the kernel's request hook on a node-opened stream and
// returns its response. It waits for a live connection, but it does not retry a
// request whose connection failed midway: the caller knows whether it is safe to
// repeat. A refusal by the hook matches ErrRequestFailed; an oversized request or
// response matches ErrFrameTooLarge.
func (c *Client) Request(ctx context.Context, req []byte) ([]byte, error) {
	if len(req) > c.cfg.MaxFrameSize {
		return nil, frameTooLarge("request", len(req), c.cfg.MaxFrameSize)
	}
	s, err := c.live(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("nodelink: request: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelRead(streamCodeCancel)
		st.CancelWrite(streamCodeCancel)
	})
	defer stop()
	werr := writeFrame(st, frameRequest, req, c.cfg.MaxFrameSize)
	if werr == nil {
		_ = st.Close()
	}
	// Even when the write failed the server may have said why (a request over its
	// limit is refused with an error frame and STOP_SENDING).
	t, p, err := readOne(st, c.cfg.MaxFrameSize)
	if err != nil {
		st.CancelRead(streamCodeCancel)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if werr != nil {
			err = werr
		}
		var se *quic.StreamError
		if errors.As(err, &se) && se.ErrorCode == streamCodeFrameTooLarge {
			return nil, fmt.Errorf("%w: request of %d bytes refused by the server: %v", ErrFrameTooLarge, len(req), err)
		}
		return nil, fmt.Errorf("nodelink: request: %w", err)
	}
	st.CancelRead(streamCodeCancel)
	if t == frameResponse {
		return p, nil
	}
	if err := decodeAs(t, p, frameResponse, nil); err != nil {
		return nil, fmt.Errorf("nodelink: request: %w", err)
	}
	return nil, fmt.Errorf("%w: unexpected %s frame", ErrProtocol, t)
}

// session is one mutual-TLS connection with its control stream.
type session struct {
	c       *Client
	conn    *quic.Conn
	ctrl    *quic.Stream
	fr      *frameReader
	version int
	creds   *nodeCreds

	ctrlMu  sync.Mutex // heartbeats and renewals share the control stream
	renewMu sync.Mutex // one renewal at a time
	renewCh chan renewResult
}

type renewResult struct {
	m   certMsg
	err error
}

func (s *session) dead() bool { return s.conn.Context().Err() != nil }

func (s *session) start() {
	c := s.c
	c.wg.Add(3)
	go func() { defer c.wg.Done(); s.readControl() }()
	go func() { defer c.wg.Done(); s.heartbeats() }()
	go func() { defer c.wg.Done(); s.acceptStreams() }()
}

func (s *session) writeCtrl(t frameType, v any) error {
	s.ctrlMu.Lock()
	defer s.ctrlMu.Unlock()
	return writeJSON(s.ctrl, t, v, s.c.cfg.MaxFrameSize)
}

func (s *session) heartbeats() {
	t := time.NewTicker(s.c.cfg.HeartbeatInterval)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-s.conn.Context().Done():
			return
		case <-t.C:
			seq++
			if err := s.writeCtrl(frameHeartbeat, heartbeatMsg{Seq: seq}); err != nil {
				_ = s.conn.CloseWithError(connCodeProtocol, "control stream: "+err.Error())
				return
			}
		}
	}
}

func (s *session) readControl() {
	for {
		t, p, err := s.fr.next()
		if err != nil {
			if !s.dead() {
				_ = s.conn.CloseWithError(connCodeProtocol, "control stream: "+err.Error())
			}
			return
		}
		var r renewResult
		if t == frameRenewAck || t == frameError {
			r.err = decodeAs(t, p, frameRenewAck, &r.m)
		} else {
			_ = s.conn.CloseWithError(connCodeProtocol, fmt.Sprintf("unexpected %s frame on control stream", t))
			return
		}
		select {
		case s.renewCh <- r:
		default: // nobody asked: drop it
		}
	}
}

func (s *session) renew(ctx context.Context, csr []byte) (certMsg, error) {
	s.renewMu.Lock()
	defer s.renewMu.Unlock()
	if err := s.writeCtrl(frameRenew, renewMsg{CSR: csr}); err != nil {
		return certMsg{}, err
	}
	select {
	case r := <-s.renewCh:
		return r.m, r.err
	case <-ctx.Done():
		return certMsg{}, ctx.Err()
	case <-s.conn.Context().Done():
		return certMsg{}, context.Cause(s.conn.Context())
	}
}

func (s *session) watch(ctx context.Context, kind string, last *uint64, h func(Event) error) error {
	st, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		st.CancelRead(streamCodeCancel)
		st.CancelWrite(streamCodeCancel)
	})
	defer stop()
	defer func() {
		st.CancelRead(streamCodeCancel)
		_ = st.Close()
	}()
	if err := writeJSON(st, frameWatch, watchMsg{Kind: kind, From: *last}, s.c.cfg.MaxFrameSize); err != nil {
		return err
	}
	fr := newFrameReader(st, s.c.cfg.MaxFrameSize)
	for {
		t, p, err := fr.next()
		switch {
		case errors.Is(err, ErrFrameTooLarge):
			rejectStream(st, streamCodeFrameTooLarge, codeFrameTooLarge, err.Error())
			return err
		case err == io.EOF:
			return errWatchEnded
		case err != nil:
			return err
		}
		switch t {
		case frameEvent:
			ev, err := decodeEvent(p)
			if err != nil {
				return err
			}
			if err := h(ev); err != nil {
				return handlerError{err}
			}
			*last = ev.Revision
		case frameError:
			return decodeAs(t, p, frameEvent, nil)
		default:
			return fmt.Errorf("%w: unexpected %s frame on watch stream", ErrProtocol, t)
		}
	}
}

func (s *session) acceptStreams() {
	for {
		st, err := s.conn.AcceptStream(s.c.ctx)
		if err != nil {
			return
		}
		s.c.wg.Add(1)
		go func() {
			defer s.c.wg.Done()
			s.serveOpen(st)
		}()
	}
}

func (s *session) serveOpen(st *quic.Stream) {
	fr := newFrameReader(st, s.c.cfg.MaxFrameSize)
	_ = st.SetReadDeadline(time.Now().Add(helloTimeout))
	t, p, err := fr.next()
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
	var m openMsg
	if err := decodeAs(t, p, frameOpen, &m); err != nil {
		rejectStream(st, streamCodeProtocol, codeBadRequest, err.Error())
		return
	}
	s.c.mu.Lock()
	h := s.c.handlers[m.Kind]
	s.c.mu.Unlock()
	if h == nil {
		rejectStream(st, streamCodeProtocol, codeNoHandler, fmt.Sprintf("node %q has no handler for stream kind %q", s.c.cfg.Node, m.Kind))
		return
	}
	if err := writeFrame(st, frameOpenAck, nil, s.c.cfg.MaxFrameSize); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.conn.Context())
	defer cancel()
	stop := context.AfterFunc(s.c.ctx, cancel)
	defer stop()
	rs := &rawStream{st: st, r: fr.r}
	if err := h(ctx, m.Header, rs); err != nil {
		s.c.cfg.Logger.Warn("stream handler failed", "kind", m.Kind, "err", err)
		st.CancelWrite(streamCodeHandler)
		st.CancelRead(streamCodeHandler)
		return
	}
	_ = rs.Close()
}
