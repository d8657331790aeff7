package pods

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/typeurl/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/cni"
	"weft.dev/weft/node/agent"
	"weft.dev/weft/node/image"
	"weft.dev/weft/node/runtime"
)

// Labels on every container the manager creates; with them a restarted agent maps a
// container back to its pod, container and instance.
const (
	LabelNode      = "weft.dev/pods.node"
	LabelPodUID    = "weft.dev/pods.uid"
	LabelPodName   = "weft.dev/pods.name"
	LabelNamespace = "weft.dev/pods.namespace"
	LabelContainer = "weft.dev/pods.container"
	LabelRestart   = "weft.dev/pods.restart"
	LabelInit      = "weft.dev/pods.init"
	LabelImageID   = "weft.dev/pods.image-id"
)

// Errors of Logs and Exec, for the agent to map onto API errors.
var (
	ErrPodNotFound       = errors.New("pod not found on this node")
	ErrContainerNotFound = errors.New("container not found")
	ErrNotStarted        = errors.New("container has not started")
)

// EnsureImageFunc makes an image available for a container and returns it.
type EnsureImageFunc func(ctx context.Context, ref string, policy image.PullPolicy) (containerd.Image, error)

// Config configures a Manager.
type Config struct {
	// Runtime runs the containers (required).
	Runtime *runtime.Runtime
	// Network gives pods their network; nil allows hostNetwork pods only.
	Network *cni.Network
	// EnsureImage pulls or finds images; nil uses image.Ensure on Runtime's client.
	EnsureImage EnsureImageFunc
	// DataDir holds the pod directories (required, absolute).
	DataDir string
	// NodeName is spec.nodeName of the pods this manager runs (required).
	NodeName string
	// NodeIP becomes status.hostIP (and the pod IP of hostNetwork pods).
	NodeIP netip.Addr
	// Objects gives ConfigMaps and Secrets; nil means there are none.
	Objects agent.Objects
	// Logger; nil discards.
	Logger *slog.Logger

	// ClusterDomain for /etc/hosts and DNS search paths; default cluster.local.
	ClusterDomain string
	// ClusterDNS are the nameservers of dnsPolicy ClusterFirst; with none, ClusterFirst
	// falls back to Default, as kubelet does.
	ClusterDNS []string
	// ResolvConf is the node's resolver config for dnsPolicy Default; default
	// /etc/resolv.conf.
	ResolvConf string
	// HostsFile is copied for hostNetwork pods; default /etc/hosts.
	HostsFile string
	// NodeCPUMillis and NodeMemoryBytes answer resourceFieldRefs of containers without
	// limits; default this machine's.
	NodeCPUMillis   int64
	NodeMemoryBytes int64

	// BackoffInitial, BackoffMax: CrashLoopBackOff and ImagePullBackOff delays (10 s,
	// 5 min); BackoffReset: a container that ran this long starts over at the initial
	// delay (10 min).
	BackoffInitial, BackoffMax, BackoffReset time.Duration
	// ProbeSecond is the length of one second in probes' initialDelaySeconds and
	// periodSeconds; tests shrink it. Default time.Second. timeoutSeconds always uses
	// real seconds.
	ProbeSecond time.Duration
	// ResyncInterval is how often every pod is reconciled without a reason; 10 s.
	ResyncInterval time.Duration
	// PullTimeout bounds one image pull; 5 min.
	PullTimeout time.Duration
	// OrphanGrace, when positive, tears down adopted pods that got no Sync this long
	// after Run started. Zero leaves that to CollectOrphans.
	OrphanGrace time.Duration
	// DefaultGracePeriod when a pod has no terminationGracePeriodSeconds; 30 s.
	DefaultGracePeriod time.Duration
	// StartParallelism is how many pods may run the CPU-heavy steps of starting (CNI
	// ADD, container create and start) at once; default twice the number of CPUs.
	StartParallelism int
	// PodsPerShim is how many pods share one containerd shim process; default 4. A
	// pod's containers always share one; 1 gives every pod its own. If a shim dies,
	// every container in it dies.
	PodsPerShim int
}

func (c Config) withDefaults() (Config, error) {
	if c.Runtime == nil {
		return c, errors.New("pods: Config.Runtime is required")
	}
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		return c, fmt.Errorf("pods: DataDir %q must be an absolute path", c.DataDir)
	}
	if c.NodeName == "" {
		return c, errors.New("pods: Config.NodeName is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.HostsFile == "" {
		c.HostsFile = "/etc/hosts"
	}
	if c.NodeCPUMillis == 0 {
		c.NodeCPUMillis = int64(goruntime.NumCPU()) * 1000
	}
	if c.NodeMemoryBytes == 0 {
		c.NodeMemoryBytes = totalMemory()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.BackoffInitial, 10*time.Second)
	def(&c.BackoffMax, 5*time.Minute)
	def(&c.BackoffReset, 10*time.Minute)
	def(&c.ProbeSecond, time.Second)
	def(&c.ResyncInterval, 10*time.Second)
	def(&c.PullTimeout, 5*time.Minute)
	def(&c.DefaultGracePeriod, 30*time.Second)
	if c.StartParallelism <= 0 {
		c.StartParallelism = 2 * goruntime.NumCPU()
	}
	if c.PodsPerShim <= 0 {
		c.PodsPerShim = 4
	}
	if c.EnsureImage == nil {
		rt := c.Runtime
		c.EnsureImage = func(ctx context.Context, ref string, policy image.PullPolicy) (containerd.Image, error) {
			return image.Ensure(ctx, rt.Client(), rt.Namespace(), ref, policy, image.Options{Snapshotter: rt.Snapshotter()})
		}
	}
	return c, nil
}

// Manager runs the pods of one node. It implements agent.PodManager.
type Manager struct {
	cfg Config
	log *slog.Logger
	rt  *runtime.Runtime

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	byName   map[string]types.UID // namespace/name
	byCtrID  map[string]types.UID
	oom      map[string]bool // container IDs that met the OOM killer
	runCtx   context.Context
	runStart time.Time

	updates chan agent.Update
	pendMu  sync.Mutex
	pending map[types.UID]agent.Update
	order   []types.UID
	pendSig chan struct{}

	workersWG sync.WaitGroup
	// gate orders the heavy steps of starting pods; workerSeq (under mu) numbers the
	// workers so that earlier pods go first.
	gate      *startGate
	workerSeq uint64
	// shimEpoch keeps this run's shim groups apart from an earlier run's.
	shimEpoch int64

	imgMu    sync.Mutex
	imgCache map[string]cachedImage
}

type cachedImage struct {
	img containerd.Image
	at  time.Time
}

// imageCacheTTL: an image found present is not looked up again for this long by
// pods whose policy does not pull (many pods of one Deployment start together).
const imageCacheTTL = 30 * time.Second

func (m *Manager) ensureImage(ctx context.Context, ref string, policy image.PullPolicy) (containerd.Image, error) {
	eff := policy
	if eff == "" {
		eff = image.DefaultPullPolicy(ref)
	}
	if image.LocalOnly(ref) {
		eff = image.PullNever
	}
	if eff != image.PullAlways {
		m.imgMu.Lock()
		e, ok := m.imgCache[ref]
		m.imgMu.Unlock()
		if ok && time.Since(e.at) < imageCacheTTL {
			return e.img, nil
		}
	}
	img, err := m.cfg.EnsureImage(ctx, ref, policy)
	if err == nil && eff != image.PullAlways {
		m.imgMu.Lock()
		if m.imgCache == nil {
			m.imgCache = map[string]cachedImage{}
		}
		m.imgCache[ref] = cachedImage{img: img, at: time.Now()}
		m.imgMu.Unlock()
	}
	return img, err
}

var _ agent.PodManager = (*Manager)(nil)

// shimGroup is the shim group of the pod whose worker has sequence number seq. A
// container that joins a running shim spares the start of a shim daemon (13-20% of
// containerd's and runc's CPU for a container) and its memory, but a shim creates
// its containers one at a time, so the pods that start together (consecutive seq, as
// many as take turns at the gate at once) go to different shims, and each set of
// shims takes PodsPerShim pods before the next set starts.
func (m *Manager) shimGroup(seq uint64) string {
	k := uint64(m.cfg.StartParallelism)
	i := seq - 1
	return fmt.Sprintf("weft-%x-%d-%d", m.shimEpoch, i/(k*uint64(m.cfg.PodsPerShim)), i%k)
}

// New prepares a manager and finds what an earlier run of the agent left: containers
// (by their labels) and CNI sandboxes. Nothing is started or stopped until Run.
func New(cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "pods"), 0o755); err != nil {
		return nil, fmt.Errorf("pods: %w", err)
	}
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger,
		rt:      cfg.Runtime,
		workers: map[types.UID]*podWorker{},
		byName:  map[string]types.UID{},
		byCtrID: map[string]types.UID{},
		oom:     map[string]bool{},
		updates: make(chan agent.Update),
		pending: map[types.UID]agent.Update{},
		pendSig: make(chan struct{}, 1),
		gate:    newStartGate(cfg.StartParallelism, gateLease),

		shimEpoch: time.Now().UnixNano(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.adopt(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Run runs the workers until ctx ends. Stopping leaves the containers running: a
// new Manager adopts them.
func (m *Manager) Run(ctx context.Context) error {
	exits, exitErrs, err := m.rt.Exits(ctx)
	if err != nil {
		return fmt.Errorf("pods: subscribe to exits: %w", err)
	}
	m.watchOOM(ctx)
	m.mu.Lock()
	m.runCtx = ctx
	m.runStart = time.Now()
	for _, w := range m.workers {
		m.startWorker(w)
	}
	m.mu.Unlock()

	go m.dispatch(ctx)
	if m.cfg.OrphanGrace > 0 {
		go func() {
			select {
			case <-ctx.Done():
			case <-time.After(m.cfg.OrphanGrace):
				m.CollectOrphans(ctx)
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			m.workersWG.Wait()
			return nil
		case err, ok := <-exitErrs:
			if ok && err != nil {
				m.log.Error("container exit events ended; resubscribing", "err", err)
			}
			// Resubscribe, then poke every worker: exits in between would be missed.
			for ctx.Err() == nil {
				exits, exitErrs, err = m.rt.Exits(ctx)
				if err == nil {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			m.pokeAll()
		case x, ok := <-exits:
			if !ok {
				exits = nil
				continue
			}
			m.mu.Lock()
			uid, found := m.byCtrID[x.ID]
			w := m.workers[uid]
			m.mu.Unlock()
			if found && w != nil {
				w.poke()
			}
		}
	}
}

// watchOOM records containers the kernel's OOM killer hit, for reason OOMKilled.
func (m *Manager) watchOOM(ctx context.Context) {
	nctx := namespaces.WithNamespace(ctx, m.rt.Namespace())
	envs, errs := m.rt.Client().Subscribe(nctx, `topic=="/tasks/oom",namespace==`+strconv.Quote(m.rt.Namespace()))
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-errs:
				return
			case env := <-envs:
				if env == nil || env.Event == nil {
					continue
				}
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				if e, ok := v.(*apievents.TaskOOM); ok {
					m.mu.Lock()
					m.oom[e.ContainerID] = true
					m.mu.Unlock()
				}
			}
		}
	}()
}

func (m *Manager) pokeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.workers {
		w.poke()
	}
}

// startWorker starts w's goroutine if Run has started; m.mu is held.
func (m *Manager) startWorker(w *podWorker) {
	if m.runCtx == nil || w.started {
		return
	}
	w.started = true
	m.workersWG.Add(1)
	go func() {
		defer m.workersWG.Done()
		w.run(m.runCtx)
	}()
}

// Sync implements agent.PodManager.
func (m *Manager) Sync(ctx context.Context, pod *corev1.Pod) {
	if pod == nil || pod.UID == "" {
		return
	}
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != m.cfg.NodeName {
		m.log.Warn("pod bound to another node ignored", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName)
		return
	}
	pod = pod.DeepCopy()
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.workers[pod.UID]
	if w == nil {
		w = newWorker(m, pod.UID)
		m.workers[pod.UID] = w
	}
	m.byName[pod.Namespace+"/"+pod.Name] = pod.UID
	w.setPod(pod)
	m.startWorker(w)
	w.poke()
}

// Forget implements agent.PodManager: the pod is gone from the API, so whatever of it
// still runs is killed at once and everything it had on this node is removed.
func (m *Manager) Forget(ctx context.Context, uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.workers[uid]
	if w == nil {
		return
	}
	w.forget()
	m.startWorker(w)
	w.poke()
}

// CollectOrphans tears down every pod adopted from an earlier run that no Sync has
// claimed. The agent calls it once it has synced all pods the API binds to this node.
func (m *Manager) CollectOrphans(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.workers {
		if !w.hasPod() {
			m.log.Info("tearing down orphaned pod", "uid", w.uid)
			w.forget()
			m.startWorker(w)
			w.poke()
		}
	}
}

// Updates implements agent.PodManager.
func (m *Manager) Updates() <-chan agent.Update { return m.updates }

// publish queues u, replacing an older queued update of the same pod: the agent
// only ever needs a pod's latest status. A Terminated update is never replaced by a
// non-terminated one.
func (m *Manager) publish(u agent.Update) {
	m.pendMu.Lock()
	uid := u.Pod.UID
	if old, ok := m.pending[uid]; ok {
		if old.Terminated && !u.Terminated {
			m.pendMu.Unlock()
			return
		}
	} else {
		m.order = append(m.order, uid)
	}
	m.pending[uid] = u
	m.pendMu.Unlock()
	select {
	case m.pendSig <- struct{}{}:
	default:
	}
}

func (m *Manager) dispatch(ctx context.Context) {
	for {
		m.pendMu.Lock()
		if len(m.order) == 0 {
			m.pendMu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-m.pendSig:
			}
			continue
		}
		uid := m.order[0]
		m.order = m.order[1:]
		u := m.pending[uid]
		delete(m.pending, uid)
		m.pendMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case m.updates <- u:
		}
	}
}

func (m *Manager) removeWorker(w *podWorker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workers[w.uid] == w {
		delete(m.workers, w.uid)
	}
	for k, uid := range m.byName {
		if uid == w.uid {
			delete(m.byName, k)
		}
	}
	for id, uid := range m.byCtrID {
		if uid == w.uid {
			delete(m.byCtrID, id)
			delete(m.oom, id)
		}
	}
}

func (m *Manager) registerContainer(id string, uid types.UID) {
	m.mu.Lock()
	m.byCtrID[id] = uid
	m.mu.Unlock()
}

func (m *Manager) unregisterContainer(id string) {
	m.mu.Lock()
	delete(m.byCtrID, id)
	delete(m.oom, id)
	m.mu.Unlock()
}

func (m *Manager) oomKilled(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.oom[id]
}

func (m *Manager) podDir(uid types.UID) string {
	return filepath.Join(m.cfg.DataDir, "pods", string(uid))
}

func (m *Manager) workerByName(namespace, name string) (*podWorker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	uid, ok := m.byName[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", ErrPodNotFound, namespace, name)
	}
	w := m.workers[uid]
	if w == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrPodNotFound, namespace, name)
	}
	return w, nil
}

// Logs implements agent.PodManager. An empty container name picks the pod's default
// container (annotation kubectl.kubernetes.io/default-container, else the first).
func (m *Manager) Logs(ctx context.Context, namespace, pod, container string, previous bool, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	w, err := m.workerByName(namespace, pod)
	if err != nil {
		return err
	}
	path, id, err := w.logTarget(container, previous)
	if err != nil {
		return err
	}
	if opts.Follow && opts.Stop == nil {
		stop := make(chan struct{})
		opts.Stop = stop
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go m.closeOnExit(fctx, id, stop)
	}
	return runtime.ReadLogs(ctx, path, opts, stdout, stderr)
}

// closeOnExit closes stop once container id no longer runs.
func (m *Manager) closeOnExit(ctx context.Context, id string, stop chan struct{}) {
	defer close(stop)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := m.rt.Status(ctx, id)
		if ctx.Err() != nil || err != nil || st.State != runtime.StateRunning && st.State != runtime.StateCreated {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Exec implements agent.PodManager.
func (m *Manager) Exec(ctx context.Context, namespace, pod, container string, opts runtime.ExecOptions) (int, error) {
	w, err := m.workerByName(namespace, pod)
	if err != nil {
		return -1, err
	}
	id, err := w.execTarget(container)
	if err != nil {
		return -1, err
	}
	return m.rt.Exec(ctx, id, opts)
}

// ObjectChanged implements agent.PodManager: pods in namespace whose volumes use the
// object are reconciled, which rewrites those volumes if their content changed.
func (m *Manager) ObjectChanged(kind, namespace, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.workers {
		if w.usesObject(kind, namespace, name) {
			w.poke()
		}
	}
}

// PodUIDs lists the pods the manager knows, adopted or synced, sorted.
func (m *Manager) PodUIDs() []types.UID {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]types.UID, 0, len(m.workers))
	for uid := range m.workers {
		out = append(out, uid)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func totalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range splitLines(string(b)) {
		if n, _ := fmt.Sscanf(line, "MemTotal: %d kB", &kb); n == 1 {
			return kb * 1024
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
