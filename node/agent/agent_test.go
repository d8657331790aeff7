package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"golang.org/x/net/websocket"
	"k8s.io/client-go/rest"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/node/agent"
	"weft.dev/weft/node/runtime"
)

// fakePods is a PodManager that runs nothing: it records what the agent hands it and
// answers logs and exec from canned behaviour.
type fakePods struct {
	mu       sync.Mutex
	pods     map[types.UID]*corev1.Pod
	forgot   []types.UID
	changed  []string
	updates  chan agent.Update
	execs    atomic.Int64
	logCalls atomic.Int64
}

func newFakePods() *fakePods {
	return &fakePods{pods: map[types.UID]*corev1.Pod{}, updates: make(chan agent.Update, 16)}
}

func (f *fakePods) Sync(_ context.Context, p *corev1.Pod) {
	f.mu.Lock()
	f.pods[p.UID] = p
	f.mu.Unlock()
	if p.DeletionTimestamp != nil {
		// Everything stopped at once.
		done := p.DeepCopy()
		done.Status.Phase = corev1.PodSucceeded
		f.updates <- agent.Update{Pod: done, Terminated: true}
	}
}

func (f *fakePods) Forget(_ context.Context, uid types.UID) {
	f.mu.Lock()
	delete(f.pods, uid)
	f.forgot = append(f.forgot, uid)
	f.mu.Unlock()
}

func (f *fakePods) Updates() <-chan agent.Update { return f.updates }

func (f *fakePods) get(name string) *corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pods {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (f *fakePods) Logs(ctx context.Context, namespace, pod, container string, previous bool, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	f.logCalls.Add(1)
	if previous {
		return fmt.Errorf("previous terminated container %q in pod %q: %w", container, pod, runtime.ErrNotFound)
	}
	lines := []string{"line 1 of " + container, "line 2 of " + container, "line 3 of " + container}
	if opts.Tail >= 0 && opts.Tail < len(lines) {
		lines = lines[len(lines)-opts.Tail:]
	}
	for _, l := range lines {
		if opts.Timestamps {
			l = "2026-11-21T12:00:00.000000000Z " + l
		}
		fmt.Fprintln(stdout, l)
	}
	if opts.Follow {
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			fmt.Fprintf(stdout, "followed %d\n", i)
			if i == 4 {
				return nil // the container exited
			}
		}
	}
	return nil
}

func (f *fakePods) Exec(ctx context.Context, namespace, pod, container string, opts runtime.ExecOptions) (int, error) {
	f.execs.Add(1)
	switch opts.Cmd[0] {
	case "echo":
		fmt.Fprintln(opts.Stdout, strings.Join(opts.Cmd[1:], " "))
		return 0, nil
	case "fail":
		fmt.Fprintln(opts.Stderr, "failing on purpose")
		return 3, nil
	case "cat":
		if opts.Stdin != nil {
			_, err := io.Copy(opts.Stdout, opts.Stdin)
			return 0, err
		}
		return 0, nil
	case "tty":
		if !opts.TTY || opts.Resize == nil {
			return 2, nil
		}
		fmt.Fprintln(opts.Stdout, "a terminal")
		select {
		case sz := <-opts.Resize:
			fmt.Fprintf(opts.Stdout, "size %dx%d\n", sz.Width, sz.Height)
		case <-time.After(2 * time.Second):
			fmt.Fprintln(opts.Stdout, "no size")
		case <-ctx.Done():
			return -1, ctx.Err()
		}
		if opts.Stdin != nil {
			// A terminal's ^D ends the input, as the container's pty would make it.
			buf := make([]byte, 1)
			for {
				if _, err := opts.Stdin.Read(buf); err != nil || buf[0] == 4 {
					break
				}
				opts.Stdout.Write(buf)
			}
		}
		return 0, nil
	}
	return -1, fmt.Errorf("exec %q: %w", opts.Cmd[0], runtime.ErrNotFound)
}

func (f *fakePods) ObjectChanged(kind, namespace, name string) {
	f.mu.Lock()
	f.changed = append(f.changed, kind+"/"+namespace+"/"+name)
	f.mu.Unlock()
}

// blackhole is a UDP socket that can go silent, as a killed machine does.
type blackhole struct {
	net.PacketConn
	silent atomic.Bool
}

func (b *blackhole) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := b.PacketConn.ReadFrom(p)
		if err != nil || !b.silent.Load() {
			return n, addr, err
		}
	}
}

func (b *blackhole) WriteTo(p []byte, addr net.Addr) (int, error) {
	if b.silent.Load() {
		return len(p), nil
	}
	return b.PacketConn.WriteTo(p, addr)
}

func newBlackhole(t testing.TB) *blackhole {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &blackhole{PacketConn: pc}
}

type runningAgent struct {
	a      *agent.Agent
	pc     *blackhole
	cancel context.CancelFunc
	done   chan error
}

func startAgent(t testing.TB, c *kerneltest.Cluster, dir string, pods agent.PodManager) *runningAgent {
	t.Helper()
	pc := newBlackhole(t)
	a, err := agent.New(agent.Config{
		Node: "node-a", DataDir: dir, JoinFile: c.Kernel.Nodes().JoinFile(), Pods: pods,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{a: a, pc: pc, cancel: cancel, done: make(chan error, 1)}
	cfgPC := pc
	go func() {
		ra.done <- agent.RunWithPacketConn(ctx, a, cfgPC)
	}()
	t.Cleanup(ra.stop)
	return ra
}

func (r *runningAgent) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
	}
	r.pc.Close()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimSpace(p))
	return len(p), nil
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, error)) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	for {
		ok, err := cond()
		if ok {
			return time.Since(start)
		}
		last = err
		if time.Since(start) > d {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", d, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func TestAgentAgainstKernel(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Tune: func(cfg *kernel.Config) {
		cfg.NodeAddr = "127.0.0.1:0"
	}})
	ctx := context.Background()
	cs := c.Client
	pods := newFakePods()
	dir := t.TempDir()
	ag := startAgent(t, c, dir, pods)

	// Join and registration.
	var node *corev1.Node
	waitFor(t, 20*time.Second, "node Ready", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		node = n
		return err == nil && nodeReady(n) == corev1.ConditionTrue, err
	})
	if node.Spec.PodCIDR != "10.244.0.0/24" || len(node.Spec.PodCIDRs) != 1 {
		t.Errorf("pod CIDR %q %v, want 10.244.0.0/24", node.Spec.PodCIDR, node.Spec.PodCIDRs)
	}
	if cpu := node.Status.Capacity.Cpu(); cpu.IsZero() || node.Status.Capacity.Pods().Value() != 110 {
		t.Errorf("capacity %v", node.Status.Capacity)
	}
	if node.Status.NodeInfo.KubeletVersion == "" || node.Status.NodeInfo.Architecture == "" || len(node.Status.Addresses) == 0 {
		t.Errorf("status %+v", node.Status)
	}
	if got := ag.a.Node(); got == nil || got.Spec.PodCIDR != node.Spec.PodCIDR {
		t.Errorf("agent did not get its pod CIDR: %v", got)
	}
	lease, err := cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "node-a" || lease.Spec.RenewTime == nil {
		t.Fatalf("lease: %v %+v", err, lease)
	}
	if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].UID != node.UID {
		t.Errorf("lease owner %v", lease.OwnerReferences)
	}
	_ = coordinationv1.Lease{}

	// A ConfigMap reaches the cache and the manager.
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "configmap in the agent cache", func() (bool, error) {
		cm, ok := ag.a.Objects().ConfigMap("default", "cfg")
		return ok && cm.Data["k"] == "v", nil
	})
	// One report registered the node; the status loop, running by now, does not
	// report again for the same connect.
	time.Sleep(300 * time.Millisecond)
	if n := ag.a.Stats().StatusReports; n != 1 {
		t.Errorf("%d node status reports after one connect, want 1", n)
	}

	// A pod bound to the node reaches the manager; its status reaches the API.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{
			{Name: "main", Image: "busybox"}, {Name: "side", Image: "busybox"},
		}},
	}
	created, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "pod at the manager", func() (bool, error) { return pods.get("web") != nil, nil })
	other := pod.DeepCopy()
	other.Name, other.Spec.NodeName = "elsewhere", "node-b"
	if _, err := cs.CoreV1().Pods("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running := pods.get("web").DeepCopy()
	// As a pod manager reports it: typed, so the zero lastProbeTime goes as null,
	// which the kernel does not store.
	running.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.5", HostIP: "127.0.0.1",
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
	events := ag.a.Stats().PodEvents
	pods.updates <- agent.Update{Pod: running}
	waitFor(t, 10*time.Second, "pod status in the API", func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP == "10.244.0.5", err
	})
	if pods.get("elsewhere") != nil {
		t.Fatal("a pod of another node reached this node")
	}
	// The version the status write made is not sent back: the agent advanced its own
	// copy. A label added next arrives as the one event after the write.
	stored, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the written version at the manager", func() (bool, error) {
		p := pods.get("web")
		return p != nil && p.ResourceVersion == stored.ResourceVersion && p.Status.PodIP == "10.244.0.5", nil
	})
	stored.Labels = map[string]string{"seen": "yes"}
	if _, err := cs.CoreV1().Pods("default").Update(ctx, stored, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the label at the manager", func() (bool, error) {
		p := pods.get("web")
		return p != nil && p.Labels["seen"] == "yes", nil
	})
	if n := ag.a.Stats().PodEvents - events; n != 1 {
		t.Errorf("%d pod events after the status write, want 1 (the label's): the write's own version came back", n)
	}
	if p := pods.get("web"); p.Status.Phase != corev1.PodRunning || p.Status.PodIP != "10.244.0.5" {
		t.Errorf("the manager's pod lost the written status: %+v", p.Status)
	}

	t.Run("kubectl", func(t *testing.T) { kubectlLogsExec(t, c) })
	t.Run("tty", func(t *testing.T) { execTTY(t, c) })
	t.Run("v4", func(t *testing.T) { execV4(t, c) })
	t.Run("kubectl exec -it", func(t *testing.T) { kubectlExecTTY(t, c) })

	// A pod that tolerates unreachability for 2 s, to see eviction.
	short := int64(2)
	brief := pod.DeepCopy()
	brief.Name = "brief"
	brief.Spec.Containers = brief.Spec.Containers[:1]
	brief.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &short}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, brief, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "brief pod at the manager", func() (bool, error) { return pods.get("brief") != nil, nil })
	time.Sleep(2500 * time.Millisecond) // let the cache be saved with the latest revisions

	// Kill the agent: its machine goes silent, no goodbye reaches the kernel.
	ag.pc.silent.Store(true)
	silentAt := time.Now()
	ag.stop()
	notReadyAfter := waitFor(t, 20*time.Second, "node NotReady", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		return err == nil && nodeReady(n) == corev1.ConditionUnknown, err
	})
	t.Logf("node NotReady %s after it went silent", notReadyAfter.Round(10*time.Millisecond))
	if notReadyAfter > 15*time.Second {
		t.Errorf("NotReady after %s, want within 15 s", notReadyAfter)
	}
	// The taint is a write of its own after the condition's, as in kube's node
	// lifecycle controller; both are due within the goal.
	waitFor(t, 10*time.Second, "unreachable taint", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		return err == nil && hasTaint(n, "node.kubernetes.io/unreachable", corev1.TaintEffectNoExecute), err
	})
	if tainted := time.Since(silentAt); tainted > 15*time.Second {
		t.Errorf("unreachable taint %s after the node went silent, want within 15 s", tainted.Round(10*time.Millisecond))
	}
	evicted := waitFor(t, 10*time.Second, "brief pod evicted", func() (bool, error) {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "brief", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	t.Logf("pod with tolerationSeconds=2 evicted %s after NotReady (%s after silence)", evicted.Round(10*time.Millisecond), time.Since(silentAt).Round(10*time.Millisecond))
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("pod with the default 300 s toleration is gone early: %v", err)
	}

	// Exec to a node that is not connected: a clear error.
	if kubectl, ok := kubectlPath(t); ok {
		out, err := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "exec", "web", "-c", "main", "--", "echo", "hi").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "not connected") {
			t.Errorf("exec to a silent node: %v %s", err, out)
		}
		t.Logf("exec to a silent node: %s", bytes.TrimSpace(out))
	}

	// Restart: Ready again, the taint goes, and the watches resume from the saved cache.
	pods2 := newFakePods()
	ag2 := startAgent(t, c, dir, pods2)
	back := waitFor(t, 20*time.Second, "node Ready again", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		return err == nil && nodeReady(n) == corev1.ConditionTrue && !hasTaint(n, "node.kubernetes.io/unreachable", corev1.TaintEffectNoExecute), err
	})
	t.Logf("node Ready %s after the agent restarted", back.Round(10*time.Millisecond))
	waitFor(t, 10*time.Second, "pods handed to the new manager", func() (bool, error) { return pods2.get("web") != nil, nil })
	// The eviction that happened while it was away arrives as a watch event.
	waitFor(t, 10*time.Second, "evicted pod forgotten", func() (bool, error) { return pods2.get("brief") == nil, nil })
	st := ag2.a.Stats()
	if st.Lists != 0 || st.Resumes != 3 {
		t.Errorf("restart: %d lists and %d resumed watches, want 0 and 3", st.Lists, st.Resumes)
	}

	// Graceful deletion: the manager terminates the pod, the agent deletes it for good.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "pod deleted for good", func() (bool, error) {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	waitFor(t, 10*time.Second, "pod forgotten", func() (bool, error) {
		pods2.mu.Lock()
		defer pods2.mu.Unlock()
		for _, u := range pods2.forgot {
			if u == created.UID {
				return true, nil
			}
		}
		return false, nil
	})
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

func kubectlPath(t *testing.T) (string, bool) {
	p, err := exec.LookPath("kubectl")
	return p, err == nil
}

func kubectlLogsExec(t *testing.T, c *kerneltest.Cluster) {
	kubectl := kerneltest.Kubectl(t)
	run := func(stdin string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("kubectl %v: %v", args, err)
		}
		return string(out), code
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
		code  int
	}{
		{"logs", "", []string{"logs", "web", "-c", "main"}, "line 1 of main\nline 2 of main\nline 3 of main\n", 0},
		{"logs tail", "", []string{"logs", "web", "-c", "side", "--tail=1"}, "line 3 of side\n", 0},
		{"logs timestamps", "", []string{"logs", "web", "-c", "main", "--tail=1", "--timestamps"}, "2026-11-21T12:00:00.000000000Z line 3 of main\n", 0},
		{"logs since", "", []string{"logs", "web", "-c", "main", "--since=1h", "--tail=1"}, "line 3 of main\n", 0},
		{"logs follow", "", []string{"logs", "-f", "web", "-c", "main", "--tail=0"}, "followed 0\nfollowed 1\nfollowed 2\nfollowed 3\nfollowed 4\n", 0},
		{"logs previous", "", []string{"logs", "web", "-c", "main", "--previous"}, "previous terminated container", 1},
		{"logs bad container", "", []string{"logs", "web", "-c", "nope"}, "container nope is not valid for pod web", 1},
		{"logs missing pod", "", []string{"logs", "ghost"}, `pods "ghost" not found`, 1},
		{"logs unbound pod", "", []string{"logs", "elsewhere", "-c", "main"}, "not connected", 1},
		{"exec", "", []string{"exec", "web", "-c", "main", "--", "echo", "hello", "world"}, "hello world\n", 0},
		{"exec exit code", "", []string{"exec", "web", "-c", "main", "--", "fail"}, "failing on purpose\ncommand terminated with exit code 3\n", 3},
		{"exec stdin", "", []string{"exec", "-i", "web", "-c", "main", "--", "cat"}, "", 0},
		{"exec stdin data", "abc\ndef\n", []string{"exec", "-i", "web", "-c", "side", "--", "cat"}, "abc\ndef\n", 0},
		{"exec bad container", "", []string{"exec", "web", "-c", "nope", "--", "echo"}, "container nope is not valid for pod web", 1},
		{"exec unknown command", "", []string{"exec", "web", "-c", "main", "--", "nosuch"}, "not found", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, code := run(tc.stdin, tc.args...)
			t.Logf("kubectl %s (%s): exit %d\n%s", strings.Join(tc.args, " "), time.Since(start).Round(time.Millisecond), code, out)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if tc.code == 0 && out != tc.want || tc.code != 0 && !strings.Contains(out, tc.want) {
				t.Errorf("output %q, want %q", out, tc.want)
			}
		})
	}
}

func dialExec(t *testing.T, c *kerneltest.Cluster, query string, protocols ...string) *websocket.Conn {
	t.Helper()
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "wss"
	u.Path = "/api/v1/namespaces/default/pods/web/exec"
	u.RawQuery = query
	tlsConf, err := rest.TLSConfigFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := websocket.NewConfig(u.String(), "https://localhost")
	if err != nil {
		t.Fatal(err)
	}
	wc.Protocol = protocols
	wc.TlsConfig = tlsConf
	ws, err := websocket.DialConfig(wc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetDeadline(time.Now().Add(20 * time.Second))
	return ws
}

// execV4: a client that speaks only v4.channel.k8s.io (no close message) is served.
func execV4(t *testing.T, c *kerneltest.Cluster) {
	ws := dialExec(t, c, "container=main&command=echo&command=v4&stdout=true&stderr=true", "v4.channel.k8s.io")
	if p := ws.Config().Protocol; len(p) != 1 || p[0] != "v4.channel.k8s.io" {
		t.Fatalf("negotiated %v", p)
	}
	var out, status string
	for status == "" {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(msg) > 0 && msg[0] == 1 {
			out += string(msg[1:])
		} else if len(msg) > 0 && msg[0] == 3 {
			status = string(msg[1:])
		}
	}
	if out != "v4\n" || !strings.Contains(status, `"Success"`) {
		t.Fatalf("v4 exec: %q, status %s", out, status)
	}
}

// execTTY drives an interactive exec with a terminal over the v5.channel.k8s.io
// WebSocket protocol as kubectl exec -it speaks it (client-go's executor needs
// gorilla/websocket, not in go.sum): a resize message and stdin reach the manager,
// the close message ends stdin, output and the final status come back.
func execTTY(t *testing.T, c *kerneltest.Cluster) {
	ws := dialExec(t, c, "container=main&command=tty&stdin=true&stdout=true&tty=true", "v5.channel.k8s.io", "v4.channel.k8s.io")
	defer ws.Close()
	if p := ws.Config().Protocol; len(p) != 1 || p[0] != "v5.channel.k8s.io" {
		t.Fatalf("negotiated %v", p)
	}
	send := func(ch byte, data string) {
		if err := websocket.Message.Send(ws, append([]byte{ch}, data...)); err != nil {
			t.Fatal(err)
		}
	}
	send(4, `{"Width":120,"Height":40}`)
	send(0, "typed\n")
	send(255, "\x00") // v5: close stdin
	_ = ws.SetDeadline(time.Now().Add(20 * time.Second))
	var out bytes.Buffer
	var status string
	for status == "" {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			t.Fatalf("receive: %v (output so far %q)", err, out.String())
		}
		switch {
		case len(msg) == 0:
		case msg[0] == 1:
			out.Write(msg[1:])
		case msg[0] == 3:
			status = string(msg[1:])
		default:
			t.Fatalf("message on channel %d: %q", msg[0], msg[1:])
		}
	}
	if want := "a terminal\nsize 120x40\ntyped\n"; out.String() != want {
		t.Errorf("exec -it output %q, want %q", out.String(), want)
	}
	if !strings.Contains(status, `"status":"Success"`) {
		t.Errorf("status %s", status)
	}
}

// kubectlExecTTY runs kubectl exec -it on a pseudo-terminal (script(1) provides one).
func kubectlExecTTY(t *testing.T, c *kerneltest.Cluster) {
	kubectl := kerneltest.Kubectl(t)
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed; it gives kubectl exec -it a terminal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	line := kubectl + " --kubeconfig " + c.Kubeconfig + " exec -it web -c main -- tty"
	cmd := exec.CommandContext(ctx, script, "-qec", "stty cols 100 rows 30; "+line, "/dev/null")
	stdin, _ := cmd.StdinPipe()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the remote terminal's size", func() (bool, error) {
		return strings.Contains(out.String(), "size "), nil
	})
	io.WriteString(stdin, "typed\r")
	time.Sleep(300 * time.Millisecond)
	io.WriteString(stdin, "\x04") // ^D: end of input on the terminal
	err = cmd.Wait()
	t.Logf("kubectl exec -it: %v\n%s", err, out.String())
	if !strings.Contains(out.String(), "a terminal") || !strings.Contains(out.String(), "size 100x30") || !strings.Contains(out.String(), "typed") {
		t.Errorf("kubectl exec -it output %q", out.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAgentRelistsAfterCompaction: a restarted agent whose saved revision the kernel
// has compacted away lists again, and its cache and manager catch up with what
// changed while it was gone (a pod added, a pod deleted).
func TestAgentRelistsAfterCompaction(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Tune: func(cfg *kernel.Config) { cfg.NodeAddr = "127.0.0.1:0" }})
	ctx := context.Background()
	cs := c.Client
	dir := t.TempDir()
	pods := newFakePods()
	ag := startAgent(t, c, dir, pods)
	mk := func(name string) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("old")
	waitFor(t, 20*time.Second, "old pod at the manager", func() (bool, error) { return pods.get("old") != nil, nil })
	ag.stop()
	if st := ag.a.Stats(); st.Lists != 3 {
		t.Errorf("first start: %d lists, want 3", st.Lists)
	}

	mk("new")
	zero := int64(0)
	if err := cs.CoreV1().Pods("default").Delete(ctx, "old", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	s := c.Kernel.Objects().Store()
	if err := s.Compact(ctx, s.CurrentRevision()); err != nil {
		t.Fatal(err)
	}

	pods2 := newFakePods()
	ag2 := startAgent(t, c, dir, pods2)
	waitFor(t, 20*time.Second, "new pod at the manager", func() (bool, error) { return pods2.get("new") != nil, nil })
	waitFor(t, 10*time.Second, "deleted pod forgotten", func() (bool, error) { return pods2.get("old") == nil, nil })
	st := ag2.a.Stats()
	t.Logf("after compaction: %+v", st)
	if st.Lists < 1 || st.Resumes != 3 {
		t.Errorf("after compaction: %d lists and %d resumes, want at least 1 list after 3 resumes", st.Lists, st.Resumes)
	}
}
