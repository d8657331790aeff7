package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"weft.dev/weft/nodelink"
	"weft.dev/weft/nodelink/nodeapi"
)

// Config configures a node agent.
type Config struct {
	// Node is the node's name; default the host name.
	Node string
	// DataDir holds the node's certificates (DataDir/nodelink) and the agent's watch
	// cache (DataDir/agent-cache.json), which lets a restarted agent resume its watches
	// without a relist.
	DataDir string
	// JoinFile is the kernel's DATA/join; Join is used instead when its Server is set.
	JoinFile string
	Join     nodelink.JoinInfo

	// Pods runs the pods. NewPods builds it instead once the node is registered, for
	// a manager that needs the cache or the node's pod CIDR (CNI). One is required.
	Pods    PodManager
	NewPods func(ctx context.Context, env Env) (PodManager, error)

	// NodeIP is reported as the InternalIP; default the first non-loopback IPv4
	// (the kernel falls back to the connection's source address).
	NodeIP string
	// Status adjusts the reported node status (capacity, nodeInfo, addresses) before
	// each report; optional.
	Status func(*corev1.NodeStatus)
	// Nodes, if set, hears of every Node of the cluster whenever one changes (the
	// node routes to the others' pod CIDRs); the agent then watches them.
	Nodes func([]*corev1.Node)
	// Labels and Taints are given to the Node when it is first registered, as
	// kubelet's --node-labels and --register-with-taints are.
	Labels map[string]string
	Taints []corev1.Taint
	// StatusInterval is how often the node status is looked at again; default 10 s.
	// A changed status is reported then, an unchanged one every StatusReportFrequency
	// (default 5 min, kubelet's nodeStatusReportFrequency), and every (re)connect
	// reports. Liveness is the link's heartbeat and the Lease, not these reports.
	StatusInterval        time.Duration
	StatusReportFrequency time.Duration
	// CacheSaveInterval is how often a changed watch cache is saved; default 10 s. A
	// restarted agent resumes from what was saved, so it bounds how much is sent again.
	CacheSaveInterval time.Duration
	// Version is reported as nodeInfo.kubeletVersion; default "v1.32.0-weft".
	Version string

	// Link tunes the nodelink client (heartbeat, backoff, PacketConn for tests); its
	// Node, JoinFile, Join, CertDir and handlers are set by the agent.
	Link   nodelink.ClientConfig
	Logger *slog.Logger
}

// Env is what NewPods gets: the agent's object cache and the registered Node, whose
// spec.podCIDR is this node's pod network.
type Env struct {
	Objects Objects
	Node    *corev1.Node
}

// Stats counts what an agent did, for tests and metrics.
type Stats struct {
	Lists         int64 // full lists (start without a cache, or after compaction)
	Resumes       int64 // watches started from a cached revision
	StatusReports int64
	PodUpdates    int64
	PodEvents     int64 // pod watch events applied
}

// Agent is a running node agent.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	client *nodelink.Client
	cache  *cache
	pods   PodManager
	node   atomic.Pointer[corev1.Node]

	connected chan struct{} // signalled on every (re)connect
	connects  atomic.Int64  // connections made so far
	// lastReport and lastReported are the last status reported and when; only the
	// status loop reads them after registration.
	lastReport   []byte
	lastReported time.Time
	lists        atomic.Int64
	resumes      atomic.Int64
	reports      atomic.Int64
	updates      atomic.Int64
	podEvents    atomic.Int64
}

// Run runs a node agent until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	a, err := New(cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New checks cfg and loads the agent's cache; Run connects.
func New(cfg Config) (*Agent, error) {
	if cfg.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("agent: node name: %w", err)
		}
		cfg.Node = h
	}
	if cfg.DataDir == "" {
		return nil, errors.New("agent: no data dir")
	}
	if (cfg.Pods == nil) == (cfg.NewPods == nil) {
		return nil, errors.New("agent: exactly one of Pods and NewPods is required")
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 10 * time.Second
	}
	if cfg.StatusReportFrequency <= 0 {
		cfg.StatusReportFrequency = 5 * time.Minute
	}
	if cfg.CacheSaveInterval <= 0 {
		cfg.CacheSaveInterval = saveInterval
	}
	if cfg.Version == "" {
		cfg.Version = "v1.32.0-weft"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: data dir: %w", err)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("component", "agent", "node", cfg.Node), connected: make(chan struct{}, 1)}
	a.cache = loadCache(filepath.Join(cfg.DataDir, "agent-cache.json"), a.log)
	return a, nil
}

// Objects is the agent's cache of ConfigMaps and Secrets.
func (a *Agent) Objects() Objects { return a.cache }

// Node is the Node as last registered, nil before.
func (a *Agent) Node() *corev1.Node { return a.node.Load() }

// Stats reports counters.
func (a *Agent) Stats() Stats {
	return Stats{Lists: a.lists.Load(), Resumes: a.resumes.Load(), StatusReports: a.reports.Load(), PodUpdates: a.updates.Load(), PodEvents: a.podEvents.Load()}
}

// Run connects to the kernel, registers the node, and serves until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	lc := a.cfg.Link
	lc.Node = a.cfg.Node
	lc.JoinFile, lc.Join = a.cfg.JoinFile, a.cfg.Join
	lc.CertDir = filepath.Join(a.cfg.DataDir, "nodelink")
	lc.Handlers = map[string]nodelink.StreamHandler{nodeapi.StreamLogs: a.serveLogs, nodeapi.StreamExec: a.serveExec, nodeapi.StreamPortForward: a.servePortForward}
	onConnect := lc.OnConnect
	lc.OnConnect = func() {
		a.connects.Add(1)
		select {
		case a.connected <- struct{}{}:
		default:
		}
		if onConnect != nil {
			onConnect()
		}
	}
	if lc.Logger == nil {
		lc.Logger = a.log.With("component", "nodelink")
	}
	client, err := nodelink.Dial(ctx, lc)
	if err != nil {
		return err
	}
	a.client = client
	defer client.Close()
	defer a.cache.save(true)

	// Registration first: the pod manager may need the pod CIDR.
	connects := a.connects.Load()
	if err := a.reportStatusRetrying(ctx); err != nil {
		return err
	}
	if a.connects.Load() == connects {
		// That report answered the connect signalled so far; the status loop would
		// report again at once (5000 needless Node requests when weft sim starts).
		select {
		case <-a.connected:
		default:
		}
	}
	a.pods = a.cfg.Pods
	if a.pods == nil {
		if a.pods, err = a.cfg.NewPods(ctx, Env{Objects: a.cache, Node: a.node.Load()}); err != nil {
			return fmt.Errorf("agent: pod manager: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	run := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errc <- err
				cancel()
			}
		}()
	}
	// The manager may report while it is being primed.
	run(a.updateLoop)
	// ConfigMaps and Secrets are synced before pods, which refer to them.
	for _, kind := range []string{nodeapi.KindConfigMaps, nodeapi.KindSecrets} {
		if err := a.prime(ctx, kind); err != nil {
			return a.stopEarly(ctx, cancel, &wg, err)
		}
	}
	if err := a.prime(ctx, nodeapi.KindPods); err != nil {
		return a.stopEarly(ctx, cancel, &wg, err)
	}
	kinds := []string{nodeapi.KindConfigMaps, nodeapi.KindSecrets, nodeapi.KindPods}
	if a.cfg.Nodes != nil {
		if err := a.prime(ctx, nodeapi.KindNodes); err != nil {
			return a.stopEarly(ctx, cancel, &wg, err)
		}
		kinds = append(kinds, nodeapi.KindNodes)
	}
	for _, kind := range kinds {
		run(func(ctx context.Context) error { return a.watch(ctx, kind) })
	}
	run(a.statusLoop)
	run(a.saveLoop)
	a.log.Info("node agent running", "podCIDR", a.node.Load().Spec.PodCIDR)
	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (a *Agent) stopEarly(ctx context.Context, cancel context.CancelFunc, wg *sync.WaitGroup, err error) error {
	stopped := ctx.Err() != nil
	cancel()
	wg.Wait()
	if stopped {
		return nil
	}
	return fmt.Errorf("agent: %w", err)
}

// request sends one request and decodes the answer; a refusal comes back as the
// API's StatusError.
func (a *Agent) request(ctx context.Context, req nodeapi.Request) (*nodeapi.Response, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	out, err := a.client.Request(ctx, raw)
	if err != nil {
		return nil, err
	}
	var resp nodeapi.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("agent: bad response to %s: %w", req.Op, err)
	}
	if resp.Error != nil {
		return nil, &apierrors.StatusError{ErrStatus: *resp.Error}
	}
	return &resp, nil
}

// retrying repeats f with backoff while it fails for reasons that are not the API's
// refusal.
func retrying(ctx context.Context, f func() error) error {
	d := 100 * time.Millisecond
	for {
		err := f()
		var se apierrors.APIStatus
		if err == nil || errors.As(err, &se) && se.Status().Code < 500 ||
			errors.Is(err, nodelink.ErrFrameTooLarge) || errors.Is(err, nodelink.ErrRequestFailed) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		d = min(2*d, 5*time.Second)
	}
}

func (a *Agent) reportStatusRetrying(ctx context.Context) error {
	return retrying(ctx, func() error { return a.reportStatus(ctx, true) })
}

// reportStatus reports the node's status, unless always is false and it is the one
// last reported less than StatusReportFrequency ago: every report is a Node write
// that each watcher of Nodes (the scheduler's policies among them) must take in.
func (a *Agent) reportStatus(ctx context.Context, always bool) error {
	st := machineStatus(a.cfg.DataDir, a.cfg.NodeIP, a.cfg.Node, a.cfg.Version)
	if a.cfg.Status != nil {
		a.cfg.Status(&st)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if !always && bytes.Equal(raw, a.lastReport) && time.Since(a.lastReported) < a.cfg.StatusReportFrequency {
		return nil
	}
	resp, err := a.request(ctx, nodeapi.Request{Op: nodeapi.OpNodeStatus, Status: raw, Labels: a.cfg.Labels, Taints: a.cfg.Taints})
	if err != nil {
		return err
	}
	var n corev1.Node
	if err := json.Unmarshal(resp.Object, &n); err != nil {
		return fmt.Errorf("agent: node: %w", err)
	}
	a.node.Store(&n)
	a.reports.Add(1)
	a.lastReport, a.lastReported = raw, time.Now()
	return nil
}

func (a *Agent) statusLoop(ctx context.Context) error {
	t := time.NewTicker(a.cfg.StatusInterval)
	defer t.Stop()
	for {
		always := false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.connected:
			always = true
		}
		if err := retrying(ctx, func() error { return a.reportStatus(ctx, always) }); err != nil && ctx.Err() == nil {
			a.log.Warn("report node status", "err", err)
		}
	}
}

// updateLoop carries the pod manager's status updates to the kernel, and deletes the
// pods it has finished terminating.
func (a *Agent) updateLoop(ctx context.Context) error {
	for {
		var u Update
		select {
		case <-ctx.Done():
			return nil
		case u = <-a.pods.Updates():
		}
		if u.Pod == nil {
			continue
		}
		p := u.Pod
		raw, err := json.Marshal(p.Status)
		if err != nil {
			continue
		}
		base := a.cache.podRevision(p.Namespace, p.Name, p.UID)
		req := nodeapi.Request{Op: nodeapi.OpPodStatus, Namespace: p.Namespace, Name: p.Name, UID: p.UID, Status: raw, Base: base}
		var resp *nodeapi.Response
		err = retrying(ctx, func() error { resp, err = a.request(ctx, req); return err })
		switch {
		case err == nil:
			a.updates.Add(1)
			if base != 0 && resp.Revision != 0 {
				a.advance(ctx, p, base, resp.Revision)
			}
		case apierrors.IsNotFound(err), apierrors.IsConflict(err), apierrors.IsForbidden(err):
			// Gone or replaced: the watch tells the manager to forget it.
		case ctx.Err() != nil:
			return nil
		default:
			a.log.Warn("pod status update", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
		if u.Terminated {
			del := nodeapi.Request{Op: nodeapi.OpPodDelete, Namespace: p.Namespace, Name: p.Name, UID: p.UID}
			err := retrying(ctx, func() error { _, err := a.request(ctx, del); return err })
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
				a.log.Warn("delete terminated pod", "pod", p.Namespace+"/"+p.Name, "err", err)
			}
		}
	}
}

// firstIPv4 is the first non-loopback IPv4 address of an interface that is up.
func firstIPv4() string {
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	return ""
}
