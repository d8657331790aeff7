package nodes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/apiserver"
	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pki"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/nodelink"
)

// Defaults.
const (
	DefaultClusterCIDR        = "10.244.0.0/16"
	DefaultNodeCIDRMaskSize   = 24
	DefaultGracePeriod        = 10 * time.Second
	DefaultTolerationSeconds  = 300
	DefaultLeaseDuration      = 40 * time.Second
	DefaultLeaseRenewInterval = 10 * time.Second
	DefaultMonitorInterval    = 500 * time.Millisecond
	LeaseNamespace            = "kube-node-lease"
	TaintUnreachable          = "node.kubernetes.io/unreachable"
	TaintNotReady             = "node.kubernetes.io/not-ready"
	controllerUser            = "system:serviceaccount:kube-system:node-controller"
	fieldManager              = "weft-node-controller"
	joinFileName              = "join"
	tokenFileName             = "node-join-token"
	serverCertName            = "nodelink"
)

// Sentinel errors.
var (
	// ErrCIDRExhausted: every pod CIDR of the cluster CIDR is taken.
	ErrCIDRExhausted = errors.New("no pod CIDR left in the cluster CIDR")
	// ErrNoKind: a kind the node machinery needs (Pod, Node, Lease, ...) is not registered.
	ErrNoKind = errors.New("kind not registered")
)

// Config assembles a Manager.
type Config struct {
	// DataDir holds the join token (node-join-token), the serving certificate
	// (pki/nodelink.*) and the join file (join).
	DataDir string
	// Addr is the UDP listen address of the node link, e.g. ":7443" or "127.0.0.1:0".
	Addr string
	// AdvertiseAddr is the host:port written into the join file; default the bound
	// address, with an unspecified host replaced by the first non-loopback IPv4 of
	// this machine (127.0.0.1 if none).
	AdvertiseAddr string
	// ExtraSANs are names or IPs nodes may dial besides the advertised host.
	ExtraSANs []string
	CA        *pki.CA
	Objects   *objects.Service
	Logger    *slog.Logger

	ClusterCIDR      string // default 10.244.0.0/16
	NodeCIDRMaskSize int    // default 24

	// GracePeriod: a node silent this long is NotReady (default 10 s).
	GracePeriod time.Duration
	// DefaultTolerationSeconds: how long pods without their own toleration of the
	// unreachable NoExecute taint stay on an unreachable node (default 300).
	DefaultTolerationSeconds int64
	LeaseDuration            time.Duration // default 40 s, as kubelets
	LeaseRenewInterval       time.Duration // default 10 s
	MonitorInterval          time.Duration // default 0.5 s

	// Link tunes the nodelink server (heartbeat, idle timeout, frame size); its
	// address, CA, certificate, token validator, watch source, request and hooks are
	// set by the Manager.
	Link nodelink.ServerConfig

	Now func() time.Time
}

// Manager is the kernel's node machinery.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	objects  *objects.Service
	srv      *nodelink.Server
	lagging  func() bool // whether the node link lags (the lifecycle's grace widens)
	pc       net.PacketConn
	cidr     *cidrAllocator
	joinPath string
	join     nodelink.JoinInfo

	mu        sync.Mutex
	nodes     map[string]*nodeState
	ipamMu    sync.Mutex
	usedCIDRs map[string]bool // pod CIDRs given out, read from the Nodes once (ipamMu)
	nextCIDR  int             // where the next search for a free CIDR starts (ipamMu)

	streamsCtx   context.Context
	closeStreams context.CancelFunc
	closeOnce    sync.Once

	// fanouts serve nodes' watches, one per watched kind, started on first use.
	fanMu   sync.Mutex
	fanouts map[string]*fanout
	fanCtx  context.Context
	fanStop context.CancelFunc
}

// New binds the node link's UDP address, loads or creates the join token and writes
// the join file. Nothing is served until Run.
func New(cfg Config) (*Manager, error) {
	if cfg.CA == nil || cfg.Objects == nil || cfg.DataDir == "" {
		return nil, errors.New("nodes: config needs a CA, the object service and a data dir")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = DefaultClusterCIDR
	}
	if cfg.NodeCIDRMaskSize == 0 {
		cfg.NodeCIDRMaskSize = DefaultNodeCIDRMaskSize
	}
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = DefaultGracePeriod
	}
	if cfg.DefaultTolerationSeconds == 0 {
		cfg.DefaultTolerationSeconds = DefaultTolerationSeconds
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.LeaseRenewInterval <= 0 {
		cfg.LeaseRenewInterval = DefaultLeaseRenewInterval
	}
	if cfg.MonitorInterval <= 0 {
		cfg.MonitorInterval = DefaultMonitorInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cidr, err := newCIDRAllocator(cfg.ClusterCIDR, cfg.NodeCIDRMaskSize)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, log: cfg.Logger.With("component", "nodes"), objects: cfg.Objects, cidr: cidr,
		nodes: map[string]*nodeState{},
	}
	m.streamsCtx, m.closeStreams = context.WithCancel(context.Background())
	m.fanCtx, m.fanStop = context.WithCancel(context.Background())
	m.fanouts = map[string]*fanout{}

	token, err := loadOrCreateToken(filepath.Join(cfg.DataDir, tokenFileName))
	if err != nil {
		return nil, err
	}
	// Bind first: the serving certificate must name the address nodes dial.
	pc, err := net.ListenPacket("udp", cmpOr(cfg.Addr, ":0"))
	if err != nil {
		return nil, fmt.Errorf("nodes: listen on %s: %w", cfg.Addr, err)
	}
	advertise, err := advertiseAddr(cfg.AdvertiseAddr, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		pc.Close()
		return nil, err
	}
	leaf := servingLeaf(advertise, cfg.ExtraSANs)
	cert, _, _, err := cfg.CA.LoadOrIssue(cfg.DataDir, serverCertName, leaf)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("nodes: serving certificate: %w", err)
	}
	lc := cfg.Link
	lc.Addr, lc.PacketConn = "", pc
	lc.CA, lc.CACert, lc.Certificate = cfg.CA, cfg.CA.Cert, cert
	lc.ValidateToken = nodelink.StaticTokens(token)
	lc.Watch = watchSource{m}
	lc.Request = m.handleRequest
	lc.OnConnect, lc.OnDisconnect, lc.OnHeartbeat = m.onConnect, m.onDisconnect, m.onHeartbeat
	if lc.Logger == nil {
		lc.Logger = cfg.Logger.With("component", "nodelink")
	}
	if m.srv, err = nodelink.Listen(lc); err != nil {
		pc.Close()
		return nil, err
	}
	m.pc, m.lagging = pc, m.srv.Lagging
	m.join = nodelink.JoinInfo{Server: advertise, Token: token, CAFingerprint: cfg.CA.Fingerprint()}
	m.joinPath = filepath.Join(cfg.DataDir, joinFileName)
	if err := nodelink.WriteJoinFile(m.joinPath, m.join); err != nil {
		m.srv.Close()
		pc.Close()
		return nil, fmt.Errorf("nodes: write join file: %w", err)
	}
	return m, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Addr is the bound UDP address of the node link.
func (m *Manager) Addr() net.Addr { return m.srv.Addr() }

// JoinFile is the path of the join file nodes are given (weft node --join).
func (m *Manager) JoinFile() string { return m.joinPath }

// Join is what the join file says.
func (m *Manager) Join() nodelink.JoinInfo { return m.join }

// Link is the nodelink server.
func (m *Manager) Link() *nodelink.Server { return m.srv }

// Run serves the node link and runs the node lifecycle controller until ctx ends,
// then closes the link.
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.srv.Serve(ctx) }()
	m.monitor(ctx)
	err := m.Close()
	if serr := <-errc; serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// Close ends the streams and closes the node link and its socket. Run calls it; call
// it directly only for a Manager that never ran.
func (m *Manager) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.CloseStreams()
		m.fanStop()
		err = errors.Join(m.srv.Close(), m.pc.Close())
	})
	return err
}

// CloseStreams ends every open log and exec stream, for a graceful shutdown of the API.
func (m *Manager) CloseStreams() { m.closeStreams() }

// Subresources are pods/log, pods/exec and pods/portforward, for
// apiserver.Server.HandleSubresource.
func (m *Manager) Subresources() []apiserver.Subresource {
	pods := schema.GroupResource{Resource: "pods"}
	return []apiserver.Subresource{
		{Resource: pods, Name: "log", Verbs: []string{"get"}, Kind: podGVKMeta, Handler: apiserver.SubresourceHandlerFunc(m.serveLog)},
		{Resource: pods, Name: "exec", Verbs: []string{"get", "create"}, Kind: podExecOptionsGVK, Handler: apiserver.SubresourceHandlerFunc(m.serveExec)},
		{Resource: pods, Name: "portforward", Verbs: []string{"get", "create"}, Kind: podPortForwardOptionsGVK, Handler: apiserver.SubresourceHandlerFunc(m.servePortForward)},
	}
}

func (m *Manager) entry(gvk schema.GroupVersionKind) (*registry.Entry, error) {
	e, ok := m.objects.Registry().Snapshot().LookupKind(gvk)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoKind, gvk)
	}
	return e, nil
}

var (
	podGVK       = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	nodeGVK      = schema.GroupVersionKind{Version: "v1", Kind: "Node"}
	configMapGVK = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	secretGVK    = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	leaseGVK     = schema.GroupVersionKind{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"}
)

func loadOrCreateToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("nodes: join token: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	t := hex.EncodeToString(raw[:])
	if err := pki.WriteFileAtomic(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("nodes: join token: %w", err)
	}
	return t, nil
}

// advertiseAddr is the host:port nodes dial.
func advertiseAddr(explicit string, bound *net.UDPAddr) (string, error) {
	if explicit != "" {
		if _, _, err := net.SplitHostPort(explicit); err != nil {
			return "", fmt.Errorf("nodes: advertise address %q: %w", explicit, err)
		}
		return explicit, nil
	}
	host := bound.IP
	if host == nil || host.IsUnspecified() {
		host = firstIPv4()
	}
	return net.JoinHostPort(host.String(), fmt.Sprint(bound.Port)), nil
}

func firstIPv4() net.IP {
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP.To4()
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

func servingLeaf(advertise string, extra []string) pki.Leaf {
	leaf := pki.Leaf{
		CommonName: "weft-nodelink",
		DNSNames:   []string{"localhost"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		Server:     true,
	}
	if h, err := os.Hostname(); err == nil {
		leaf.DNSNames = append(leaf.DNSNames, h)
	}
	host, _, _ := net.SplitHostPort(advertise)
	for _, n := range append([]string{host}, extra...) {
		if ip := net.ParseIP(n); ip != nil {
			if !ip.IsUnspecified() {
				leaf.IPs = append(leaf.IPs, ip)
			}
		} else if n != "" {
			leaf.DNSNames = append(leaf.DNSNames, n)
		}
	}
	return leaf
}
