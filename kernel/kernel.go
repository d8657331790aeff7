package kernel

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/admission"
	"weft.dev/weft/kernel/apiserver"
	"weft.dev/weft/kernel/gc"
	"weft.dev/weft/kernel/nodes"
	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pki"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/plugins"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/scheduler"
	"weft.dev/weft/store"
)

// Sentinel errors for the causes of a failed start that an operator can fix.
var (
	ErrDataDir   = errors.New("data dir is not usable")
	ErrAddrInUse = errors.New("API address is already in use")
)

// Kernel is a running control plane.
type Kernel struct {
	cfg       Config
	log       *slog.Logger
	store     *store.DB
	reg       *registry.Registry
	objects   *objects.Service
	admission *admission.Pipeline
	gc        *gc.Collector
	engine    *pluginhost.Engine
	modules   *plugins.ModuleStore
	audit     *plugins.AuditLog
	plugins   *plugins.Manager
	api       *apiserver.Server
	ca        *pki.CA
	listener  net.Listener
	srv       *http.Server
	metrics   *prometheus.Registry
	nodes     *nodes.Manager // nil without Config.NodeAddr
	sched     *scheduler.Scheduler
	profiles  *scheduler.ProfileManager
}

// New prepares a kernel: it creates or loads the data dir, certificates, store and
// kinds, and binds the API address. Nothing is served until Run. On error, everything
// acquired so far is released.
func New(cfg Config) (_ *Kernel, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = "127.0.0.1:6443"
	}
	if cfg.CompactInterval == 0 {
		cfg.CompactInterval = 5 * time.Minute
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.PluginStatusInterval <= 0 {
		cfg.PluginStatusInterval = 5 * time.Second
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	k := &Kernel{cfg: cfg, log: cfg.Logger, metrics: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			k.close()
		}
	}()
	k.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if k.ca, err = pki.LoadOrCreateCA(cfg.DataDir); err != nil {
		return nil, err
	}
	cipher, err := objects.LoadOrCreateCipher(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	k.store, err = store.Open(filepath.Join(cfg.DataDir, "store"), store.Options{
		Logger:           cfg.Logger.With("component", "store"),
		Observer:         newStoreObserver(k.metrics),
		ProgressInterval: cfg.WatchProgressInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	k.metrics.MustRegister(storeCollector{k.store})

	k.reg = registry.New()
	if err := k.reg.Register(append([]registry.Kind{plugins.Kind(), scheduler.ProfileKind()}, cfg.Kinds...)...); err != nil {
		return nil, err
	}
	// Plugins' hooks run after the built-in admission rules. Namespace selectors read
	// namespace labels through the object service, which exists only below: the
	// closure looks it up at call time.
	k.admission = admission.New(cfg.Logger.With("component", "admission"), k.namespaceLabels)
	chain := admission.Chain{k.admission}
	if cfg.Admission != nil {
		chain = admission.Chain{cfg.Admission, k.admission}
	}
	k.objects = objects.New(objects.Config{
		Store:     k.store,
		Registry:  k.reg,
		Cipher:    cipher,
		Admission: chain,
		Logger:    cfg.Logger.With("component", "objects"),
	})
	k.gc = gc.New(gc.Config{Objects: k.objects, Logger: cfg.Logger})

	if k.engine, err = pluginhost.NewEngine(pluginhost.Config{CacheDir: cmp.Or(cfg.PluginCompileCache, filepath.Join(cfg.DataDir, "plugins", "cache")), Logger: cfg.Logger.With("component", "pluginhost")}); err != nil {
		return nil, err
	}
	if k.modules, err = plugins.NewModuleStore(filepath.Join(cfg.DataDir, "plugins", "modules")); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "audit"), 0o700); err != nil {
		return nil, fmt.Errorf("audit dir: %w", err)
	}
	if k.audit, err = plugins.OpenAuditLog(filepath.Join(cfg.DataDir, "audit", "plugins.jsonl"), 0, cfg.Logger); err != nil {
		return nil, err
	}
	// The scheduler and the plugin manager refer to each other: the manager runs the
	// policies the scheduler asks, and tells it when they see changes.
	k.plugins = plugins.NewManager(plugins.ManagerConfig{
		Objects: k.objects, Engine: k.engine, Modules: k.modules, Admission: k.admission,
		Auditor: k.audit, Logger: cfg.Logger, StatusInterval: cfg.PluginStatusInterval,
		ClusterEvent: func() { k.sched.ClusterEvent() },
		StatusExtra:  k.shadowStatus,
	})
	k.profiles = scheduler.NewProfileManager(k.objects, k.plugins, cfg.Logger, newShadowCounter(k.metrics))
	k.sched = scheduler.New(scheduler.Config{Objects: k.objects, Profiles: k.profiles, Logger: cfg.Logger})
	k.profiles.OnChange(k.sched.ClusterEvent)

	if k.listener, err = listen(cfg.APIAddr); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(k.listener.Addr().String())
	serverCert, _, _, err := k.ca.LoadOrIssue(cfg.DataDir, "apiserver", servingLeaf(host, cfg.ExtraSANs))
	if err != nil {
		return nil, fmt.Errorf("issue serving certificate: %w", err)
	}
	if err := k.writeKubeconfig(clientHost(host), port); err != nil {
		return nil, err
	}

	k.api = apiserver.New(apiserver.Config{
		Objects:             k.objects,
		Registry:            k.reg,
		Authenticators:      []apiserver.Authenticator{apiserver.ClientCertAuthenticator{}},
		Logger:              cfg.Logger.With("component", "apiserver"),
		Version:             cfg.Version,
		Gatherer:            k.metrics,
		Metrics:             apiserver.NewMetrics(k.metrics),
		Ready:               k.ready,
		MaxMutatingInflight: cfg.MaxMutatingInflight,
		MaxReadOnlyInflight: cfg.MaxReadOnlyInflight,
	})
	k.api.HandleSubresource(plugins.UploadSubresource(k.modules))
	if cfg.NodeAddr != "" {
		nc := cfg.Nodes
		nc.DataDir, nc.Addr, nc.CA, nc.Objects, nc.Logger = cfg.DataDir, cfg.NodeAddr, k.ca, k.objects, cfg.Logger
		if nc.ExtraSANs == nil {
			nc.ExtraSANs = cfg.ExtraSANs
		}
		if k.nodes, err = nodes.New(nc); err != nil {
			return nil, err
		}
		k.metrics.MustRegister(linkCollector{k.nodes.Link()})
		for _, sr := range k.nodes.Subresources() {
			k.api.HandleSubresource(sr)
		}
	}
	k.api.HandleSubresource(scheduler.BindingSubresource(k.objects))
	k.srv = &http.Server{
		Handler:           k.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 1000},
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    k.ca.Pool(),
		},
	}
	return k, nil
}

// Addr is the address the API listens on.
func (k *Kernel) Addr() string { return k.listener.Addr().String() }

// Objects is the object service, for in-process callers and tests.
func (k *Kernel) Objects() *objects.Service { return k.objects }

// API is the API server, for parts that add extension subresources before Run.
func (k *Kernel) API() *apiserver.Server { return k.api }

// Plugins is the plugin manager.
func (k *Kernel) Plugins() *plugins.Manager { return k.plugins }

// Admission is the pipeline of plugins' admission hooks.
func (k *Kernel) Admission() *admission.Pipeline { return k.admission }

// namespaceLabels serves admission namespace selectors.
func (k *Kernel) namespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	e, ok := k.reg.Snapshot().LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	if !ok {
		return nil, nil
	}
	ns, err := k.objects.Get(ctx, e, "", name, "")
	if err != nil {
		return nil, err
	}
	return ns.GetLabels(), nil
}

// Nodes is the node machinery (node link, lifecycle, log and exec); nil unless
// Config.NodeAddr is set.
func (k *Kernel) Nodes() *nodes.Manager { return k.nodes }

// Registry is the kind registry.
func (k *Kernel) Registry() *registry.Registry { return k.reg }

// CA is the cluster CA.
func (k *Kernel) CA() *pki.CA { return k.ca }

// KubeconfigPath is where the admin kubeconfig was written.
func (k *Kernel) KubeconfigPath() string { return filepath.Join(k.cfg.DataDir, "kubeconfig") }

func (k *Kernel) ready() error {
	if k.store.Stats().Failed {
		return errors.New("store has failed")
	}
	select {
	case <-k.gc.Synced():
		return nil
	default:
		return errors.New("garbage collector is loading")
	}
}

// Run serves the API and runs the kernel's controllers until ctx is cancelled, then
// stops gracefully: no new requests, requests in flight finish (watches end), and
// the store closes last.
func (k *Kernel) Run(ctx context.Context) error {
	defer k.close()
	if err := k.plugins.InstallBuiltins(ctx, k.cfg.Builtins, filepath.Join(k.cfg.DataDir, "plugins", "builtin.json")); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = k.plugins.Run(ctx) }()
	// The API serves once the installed plugins, and the kinds they define, are back.
	select {
	case <-k.plugins.Synced():
	case <-ctx.Done():
		wg.Wait()
		return nil
	}
	if err := k.ensureNamespaces(ctx); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	if k.cfg.DefaultSchedulerPolicy != "" {
		if err := k.profiles.EnsureDefault(objects.WithUser(ctx, objects.User{Name: "system:apiserver", Groups: []string{"system:masters"}, Agent: "weft"}), k.cfg.DefaultSchedulerPolicy); err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("default scheduler profile: %w", err)
		}
	}
	wg.Add(4)
	go func() { defer wg.Done(); _ = k.gc.Run(ctx) }()
	go func() { defer wg.Done(); k.compactLoop(ctx) }()
	go func() { defer wg.Done(); _ = k.sched.Run(ctx) }()
	go func() { defer wg.Done(); _ = k.profiles.Run(ctx, k.sched.ProfileStats, k.cfg.PluginStatusInterval) }()
	if k.nodes != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = k.nodes.Run(ctx) }()
		k.srv.RegisterOnShutdown(k.nodes.CloseStreams)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- k.srv.ServeTLS(k.listener, "", "") }()
	k.log.Info("API serving", "addr", k.Addr(), "kubeconfig", k.KubeconfigPath())

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve API: %w", err)
	}
	k.log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), k.cfg.ShutdownTimeout)
	defer scancel()
	// Shutdown waits for open requests: end the watches, let the rest finish, and cut
	// whatever is left after the timeout.
	k.srv.RegisterOnShutdown(k.api.CloseLongRunning)
	if serr := k.srv.Shutdown(sctx); serr != nil {
		_ = k.srv.Close()
	}
	cancel()
	wg.Wait()
	return err
}

// shadowStatus adds a plugin's agreement as a shadow scheduler policy to its status.
func (k *Kernel) shadowStatus(plugin string, st map[string]any) {
	counts := k.profiles.ShadowCounts(plugin)
	if len(counts) == 0 {
		delete(st, "shadow")
		return
	}
	var out []any
	for profile, c := range counts {
		e := map[string]any{"profile": profile, "agreed": c[0], "disagreed": c[1]}
		if c[0]+c[1] > 0 {
			e["agreement"] = float64(c[0]) / float64(c[0]+c[1])
		}
		out = append(out, e)
	}
	st["shadow"] = out
}

// Scheduler returns the kernel's scheduler.
func (k *Kernel) Scheduler() *scheduler.Scheduler { return k.sched }

// close releases what New acquired, in reverse order.
func (k *Kernel) close() {
	if k.listener != nil {
		_ = k.listener.Close()
	}
	if k.nodes != nil {
		_ = k.nodes.Close()
	}
	if k.audit != nil {
		_ = k.audit.Close()
	}
	if k.engine != nil {
		_ = k.engine.Close(context.Background())
	}
	if k.store != nil {
		if err := k.store.Close(); err != nil {
			k.log.Warn("close store", "err", err)
		}
	}
}

// ensureNamespaces creates the namespaces Kubernetes always has.
func (k *Kernel) ensureNamespaces(ctx context.Context) error {
	e, ok := k.reg.Snapshot().LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	if !ok {
		return nil // no Namespace kind: nothing namespaced can exist either
	}
	ctx = objects.WithUser(ctx, objects.User{Name: "system:apiserver", Groups: []string{"system:masters"}, Agent: "weft"})
	for _, name := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, "kube-node-lease"} {
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
		if _, err := k.objects.Create(ctx, e, "", ns, objects.WriteOptions{FieldManager: "weft"}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// compactLoop compacts history older than one interval, as kube-apiserver asks of etcd:
// every tick, compact to the revision seen at the previous tick.
func (k *Kernel) compactLoop(ctx context.Context) {
	t := time.NewTicker(k.cfg.CompactInterval)
	defer t.Stop()
	prev := k.store.CurrentRevision()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if prev > k.store.CompactedRevision() {
			if err := k.store.Compact(ctx, prev); err != nil && ctx.Err() == nil {
				k.log.Warn("compaction", "revision", prev, "err", err)
			}
		}
		prev = k.store.CurrentRevision()
	}
}

func checkDataDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("%w: no data dir given", ErrDataDir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %v", ErrDataDir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-probe-")
	if err != nil {
		return fmt.Errorf("%w: %s is not writable: %v", ErrDataDir, dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w: %s (is another weft server running?)", ErrAddrInUse, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

func servingLeaf(host string, extra []string) pki.Leaf {
	leaf := pki.Leaf{
		CommonName: "weft-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		Server:     true,
	}
	if h, err := os.Hostname(); err == nil {
		leaf.DNSNames = append(leaf.DNSNames, h)
	}
	names := append([]string{host}, extra...)
	for _, n := range names {
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

// clientHost is the host clients should dial for a listener bound to host.
func clientHost(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return host
}
