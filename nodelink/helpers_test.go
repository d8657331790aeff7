package nodelink

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"weft.dev/weft/kernel/pki"
)

const testToken = "s3cret-join-token"

type testEnv struct {
	t    testing.TB
	ca   *pki.CA
	srv  *Server
	join JoinInfo
	src  *fakeSource

	mu           sync.Mutex
	connects     []string
	disconnects  []time.Time
	heartbeats   int
	tokenChecks  int
	onDisconnect chan string
}

func newEnv(t testing.TB, mutate func(*ServerConfig)) *testEnv {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.Leaf{CommonName: "weft-kernel", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, ca: ca, src: newFakeSource(), onDisconnect: make(chan string, 16)}
	tokens := StaticTokens(testToken)
	cfg := ServerConfig{
		Addr:        "127.0.0.1:0",
		CA:          ca,
		Certificate: pair,
		ValidateToken: func(node, token string) error {
			e.mu.Lock()
			e.tokenChecks++
			e.mu.Unlock()
			return tokens(node, token)
		},
		Watch: e.src,
		OnConnect: func(node string) {
			e.mu.Lock()
			e.connects = append(e.connects, node)
			e.mu.Unlock()
		},
		OnDisconnect: func(node string) {
			e.mu.Lock()
			e.disconnects = append(e.disconnects, time.Now())
			e.mu.Unlock()
			select {
			case e.onDisconnect <- node:
			default:
			}
		},
		OnHeartbeat: func(string) {
			e.mu.Lock()
			e.heartbeats++
			e.mu.Unlock()
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(context.Background()); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	e.join = JoinInfo{Server: srv.Addr().String(), Token: testToken, CAFingerprint: ca.Fingerprint()}
	return e
}

func (e *testEnv) clientConfig(node string) ClientConfig {
	return ClientConfig{Node: node, Join: e.join, CertDir: e.t.TempDir(), MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
}

func (e *testEnv) dial(cfg ClientConfig) *Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeSource is an in-memory revisioned event log per kind.
type fakeSource struct {
	mu        sync.Mutex
	rev       uint64
	logs      map[string][]Event
	compacted map[string]uint64 // revisions at or below are gone
	notify    chan struct{}
	calls     []watchCall
}

type watchCall struct {
	kind string
	from uint64
}

func newFakeSource() *fakeSource {
	return &fakeSource{logs: map[string][]Event{}, compacted: map[string]uint64{}, notify: make(chan struct{})}
}

func (f *fakeSource) add(kind string, n, size int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.rev++
		obj := make([]byte, size)
		copy(obj, fmt.Sprintf(`{"rev":%d}`, f.rev))
		f.logs[kind] = append(f.logs[kind], Event{Type: Added, Revision: f.rev, Object: obj})
	}
	close(f.notify)
	f.notify = make(chan struct{})
}

func (f *fakeSource) callsFor(kind string) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint64
	for _, c := range f.calls {
		if c.kind == kind {
			out = append(out, c.from)
		}
	}
	return out
}

func (f *fakeSource) Watch(ctx context.Context, node, kind string, from uint64, send func(Event) error) error {
	f.mu.Lock()
	f.calls = append(f.calls, watchCall{kind, from})
	if c := f.compacted[kind]; from < c {
		f.mu.Unlock()
		return fmt.Errorf("%w: oldest revision is %d", ErrCompacted, c+1)
	}
	f.mu.Unlock()
	sent := from
	for {
		f.mu.Lock()
		var pending []Event
		for _, ev := range f.logs[kind] {
			if ev.Revision > sent {
				pending = append(pending, ev)
			}
		}
		ch := f.notify
		f.mu.Unlock()
		for _, ev := range pending {
			if err := send(ev); err != nil {
				return err
			}
			sent = ev.Revision
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
	}
}

// recorder collects a watch's events.
type recorder struct {
	mu   sync.Mutex
	revs []uint64
}

func (r *recorder) handle(ev Event) error {
	r.mu.Lock()
	r.revs = append(r.revs, ev.Revision)
	r.mu.Unlock()
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.revs)
}

func (r *recorder) snapshot() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.revs...)
}

// contiguous checks that got is exactly want in order: no gaps, no duplicates.
func contiguous(t *testing.T, got, want []uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("event %d: revision %d, want %d (gap or duplicate)", i, got[i], want[i])
		}
	}
}

func (f *fakeSource) revisions(kind string) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint64
	for _, ev := range f.logs[kind] {
		out = append(out, ev.Revision)
	}
	return out
}
