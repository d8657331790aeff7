package pods_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"weft.dev/weft/cni"
	"weft.dev/weft/node/agent"
	"weft.dev/weft/node/image"
	"weft.dev/weft/node/pods"
	"weft.dev/weft/node/runtime"
	"weft.dev/weft/node/runtime/runtimetest"
)

const (
	testNamespace = "weft-pods-test"
	testNode      = "node-a"
	podCIDR       = "10.77.0.0/24"
)

// TestMain lets the shim run this test binary as the containers' log driver.
func TestMain(m *testing.M) {
	runtime.RunLogDriverIfRequested()
	os.Exit(m.Run())
}

// env is a private containerd, a network namespace standing in for the node (its
// bridge, veths and iptables rules die with it), a CNI network in it and a Manager.
type env struct {
	t      testing.TB
	dir    string
	d      *runtime.Daemon
	rt     *runtime.Runtime
	net    *cni.Network
	hostNS string
	objs   *objects
	cfg    pods.Config
	m      *pods.Manager
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	latest  map[types.UID]*corev1.Pod
	term    map[types.UID]bool
	updates map[types.UID]int
	running map[types.UID]time.Time
}

// requireE2E skips (or with WEFT_E2E=require fails) when containers or the CNI
// plugins cannot run here.
func requireE2E(t testing.TB) {
	t.Helper()
	runtimetest.Gate(t)
	var missing []string
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(cni.DefaultPluginDir, p)); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		msg := "needs CNI plugins " + strings.Join(missing, ", ") + " in " + cni.DefaultPluginDir
		if os.Getenv(runtimetest.RequireEnv) == "require" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func newEnv(t testing.TB, tune func(*pods.Config)) *env {
	t.Helper()
	requireE2E(t)
	e := &env{t: t, dir: t.TempDir(), objs: newObjects(),
		latest: map[types.UID]*corev1.Pod{}, term: map[types.UID]bool{}, updates: map[types.UID]int{}, running: map[types.UID]time.Time{}}
	e.cond = sync.NewCond(&e.mu)
	e.d = runtimetest.StartDaemon(t, filepath.Join(e.dir, "containerd"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rt, err := runtime.ForDaemon(ctx, e.d, runtime.Options{Namespace: testNamespace})
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
	var buf bytes.Buffer
	if err := image.BuildBusybox(&buf, image.BusyboxRef); err != nil {
		t.Fatal(err)
	}
	if _, err := image.Import(ctx, e.d.Client(), testNamespace, &buf, image.Options{Snapshotter: rt.Snapshotter()}); err != nil {
		t.Fatal(err)
	}
	e.hostNS = newHostNS(t, filepath.Join(e.dir, "hostns"))
	netnsDir := filepath.Join(e.dir, "netns")
	n, err := cni.New(cni.Config{
		PodCIDR:   netip.MustParsePrefix(podCIDR),
		Bridge:    cni.BridgeName(testNode),
		IPAMDir:   filepath.Join(e.dir, "ipam"),
		CacheDir:  filepath.Join(e.dir, "cnicache"),
		NetNSDir:  netnsDir,
		HostNetNS: e.hostNS,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.net = n
	// Registered before the manager's own cleanup, so it runs after it: whatever a
	// failed test left is torn down, then the netns dir's self-mount goes.
	t.Cleanup(func() {
		_ = unix.Unmount(netnsDir, unix.MNT_DETACH)
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if left, err := e.rt.List(ctx, nil); err == nil {
			for _, s := range left {
				_ = e.rt.Delete(ctx, s.ID)
			}
		}
		if sbs, err := n.List(ctx); err == nil {
			for _, sb := range sbs {
				_ = n.Teardown(ctx, sb.PodID)
			}
		}
		unmountUnder(filepath.Join(e.dir, "data"))
	})
	e.cfg = pods.Config{
		Runtime:        rt,
		Network:        n,
		DataDir:        filepath.Join(e.dir, "data"),
		NodeName:       testNode,
		NodeIP:         netip.MustParseAddr("192.0.2.10"),
		Objects:        e.objs,
		Logger:         runtimetest.Logger(t),
		BackoffInitial: 2 * time.Second,
		BackoffMax:     8 * time.Second,
		ProbeSecond:    250 * time.Millisecond,
		ResyncInterval: 2 * time.Second,
	}
	if os.Getenv("WEFT_PODS_DEBUG") != "" {
		e.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if tune != nil {
		tune(&e.cfg)
	}
	e.start()
	return e
}

// start creates and runs a Manager on the env's config.
func (e *env) start() {
	e.t.Helper()
	m, err := pods.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.m, e.cancel, e.done = m, cancel, make(chan struct{})
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		if err := m.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	go func() {
		defer close(e.done)
		for {
			select {
			case <-runDone:
				return
			case u := <-m.Updates():
				e.mu.Lock()
				e.latest[u.Pod.UID] = u.Pod
				e.updates[u.Pod.UID]++
				if _, ok := e.running[u.Pod.UID]; !ok && u.Pod.Status.Phase == corev1.PodRunning {
					e.running[u.Pod.UID] = time.Now()
				}
				if u.Terminated {
					e.term[u.Pod.UID] = true
				}
				e.cond.Broadcast()
				e.mu.Unlock()
			}
		}
	}()
	e.t.Cleanup(e.stop)
}

// stop ends Run, as a stopping agent does: the containers keep running.
func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		e.t.Error("manager did not stop")
	}
	e.cancel = nil
}

// newHostNS makes a network namespace bound at path, with lo up.
func newHostNS(t testing.TB, path string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies in the namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- err
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("host netns: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(path, unix.MNT_DETACH) })
	withNetlink(t, path, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetUp(lo)
	})
	return path
}

func withNetlink(t testing.TB, nsPath string, fn func(*netlink.Handle) error) {
	t.Helper()
	nsh, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := fn(h); err != nil {
		t.Fatal(err)
	}
}

func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			_ = unix.Unmount(f[4], unix.MNT_DETACH)
		}
	}
}

// objects is an agent.Objects the tests change.
type objects struct {
	mu  sync.Mutex
	cms map[string]*corev1.ConfigMap
	ss  map[string]*corev1.Secret
}

var _ agent.Objects = (*objects)(nil)

func newObjects() *objects {
	return &objects{cms: map[string]*corev1.ConfigMap{}, ss: map[string]*corev1.Secret{}}
}

func (o *objects) ConfigMap(ns, name string) (*corev1.ConfigMap, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	cm, ok := o.cms[ns+"/"+name]
	return cm, ok
}

func (o *objects) Secret(ns, name string) (*corev1.Secret, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.ss[ns+"/"+name]
	return s, ok
}

func (o *objects) setConfigMap(ns, name string, data map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cms[ns+"/"+name] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func (o *objects) setSecret(ns, name string, data map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	o.ss[ns+"/"+name] = s
}

// newPod returns a pod bound to the test node, as the API would default it.
func newPod(name string, containers ...corev1.Container) *corev1.Pod {
	for i := range containers {
		if containers[i].Image == "" {
			containers[i].Image = image.BusyboxRef
		}
	}
	grace := int64(2)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: uuid.NewUUID(), Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:                      testNode,
			Containers:                    containers,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: &grace,
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
}

func sh(name, script string) corev1.Container {
	return corev1.Container{Name: name, Command: []string{"sh", "-c", script}}
}

func (e *env) sync(pod *corev1.Pod) {
	e.m.Sync(context.Background(), pod)
}

// waitPod waits until the latest reported status of the pod satisfies ok.
func (e *env) waitPod(uid types.UID, timeout time.Duration, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { e.mu.Lock(); e.cond.Broadcast(); e.mu.Unlock() })
	defer timer.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if p := e.latest[uid]; p != nil && ok(p) {
			return p.DeepCopy()
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("pod %s never %s; last status: %s", uid, what, describe(e.latest[uid]))
		}
		e.cond.Wait()
	}
}

func (e *env) waitRunning(pod *corev1.Pod) *corev1.Pod {
	e.t.Helper()
	return e.waitPod(pod.UID, 60*time.Second, "running with all containers ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodReady)
	})
}

func (e *env) waitTerminated(uid types.UID, timeout time.Duration) *corev1.Pod {
	e.t.Helper()
	return e.waitPod(uid, timeout, "terminated", func(*corev1.Pod) bool { return e.term[uid] })
}

func (e *env) updateCount(uid types.UID) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.updates[uid]
}

// deletePod marks the pod deleted with the given grace, as the API does.
func deletePod(pod *corev1.Pod, grace int64) *corev1.Pod {
	p := pod.DeepCopy()
	now := metav1.Now()
	p.DeletionTimestamp = &now
	p.DeletionGracePeriodSeconds = &grace
	return p
}

func condition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func ctrStatus(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "<no update>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s ip=%s", p.Status.Phase, p.Status.PodIP)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s restarts=%d ready=%v", cs.Name, cs.RestartCount, cs.Ready)
		switch {
		case cs.State.Waiting != nil:
			fmt.Fprintf(&b, " waiting %s %q", cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Running != nil:
			fmt.Fprintf(&b, " running")
		case cs.State.Terminated != nil:
			fmt.Fprintf(&b, " terminated %d %s", cs.State.Terminated.ExitCode, cs.State.Terminated.Reason)
		}
		b.WriteString("]")
	}
	return b.String()
}

// exec runs a command in a pod's container and returns its stdout.
func (e *env) exec(pod *corev1.Pod, container string, cmd ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code, err := e.m.Exec(ctx, pod.Namespace, pod.Name, container, runtime.ExecOptions{Cmd: cmd, Stdout: &out, Stderr: &errOut})
	if err == nil && code != 0 {
		err = fmt.Errorf("exit %d: %s", code, errOut.String())
	}
	return out.String(), code, err
}

func (e *env) mustExec(pod *corev1.Pod, container string, cmd ...string) string {
	e.t.Helper()
	out, _, err := e.exec(pod, container, cmd...)
	if err != nil {
		e.t.Fatalf("exec %v in %s/%s: %v", cmd, pod.Name, container, err)
	}
	return out
}

// eventually polls fn until it returns nil.
func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) logs(pod *corev1.Pod, container string, previous bool, opts runtime.LogOptions) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := e.m.Logs(ctx, pod.Namespace, pod.Name, container, previous, opts, &out, &out)
	return out.String(), err
}

// deleteAndWait deletes the pod with grace and waits for the Terminated update.
func (e *env) deleteAndWait(pod *corev1.Pod, grace int64, timeout time.Duration) *corev1.Pod {
	e.t.Helper()
	e.sync(deletePod(pod, grace))
	p := e.waitTerminated(pod.UID, timeout)
	e.m.Forget(context.Background(), pod.UID)
	return p
}

var errNotYet = errors.New("not yet")
