package nodes_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/nodelink"
	"weft.dev/weft/nodelink/nodeapi"
	"weft.dev/weft/store"
)

func start(t *testing.T, dir string, tune func(*kernel.Config)) *kerneltest.Cluster {
	return kerneltest.Start(t, kerneltest.Options{Dir: dir, Tune: func(cfg *kernel.Config) {
		cfg.NodeAddr = "127.0.0.1:0"
		if tune != nil {
			tune(cfg)
		}
	}})
}

func dial(t *testing.T, c *kerneltest.Cluster, node string) *nodelink.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := nodelink.Dial(ctx, nodelink.ClientConfig{Node: node, JoinFile: c.Kernel.Nodes().JoinFile(), CertDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func request(t *testing.T, cl *nodelink.Client, req nodeapi.Request) (*nodeapi.Response, *metav1.Status) {
	t.Helper()
	raw, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := cl.Request(ctx, raw)
	if err != nil {
		t.Fatalf("%s: %v", req.Op, err)
	}
	var resp nodeapi.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp, resp.Error
}

func register(t *testing.T, cl *nodelink.Client) *corev1.Node {
	t.Helper()
	st, _ := json.Marshal(corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourcePods: *resourcePods}})
	resp, errSt := request(t, cl, nodeapi.Request{Op: nodeapi.OpNodeStatus, Status: st})
	if errSt != nil {
		t.Fatalf("register: %s", errSt.Message)
	}
	var n corev1.Node
	if err := json.Unmarshal(resp.Object, &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

func boundPod(name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}

func TestRegistrationIPAMAndScopedWrites(t *testing.T) {
	c := start(t, "", nil)
	ctx := context.Background()
	join, err := nodelink.ReadJoinFile(filepath.Join(c.Dir, "join"))
	if err != nil || join != c.Kernel.Nodes().Join() {
		t.Fatalf("join file: %+v %v", join, err)
	}
	a, b := dial(t, c, "node-a"), dial(t, c, "node-b")
	na, nb := register(t, a), register(t, b)
	if na.Spec.PodCIDR == "" || nb.Spec.PodCIDR == "" || na.Spec.PodCIDR == nb.Spec.PodCIDR {
		t.Fatalf("pod CIDRs %q and %q", na.Spec.PodCIDR, nb.Spec.PodCIDR)
	}
	// The kernel fills in the address it sees when the node reports none.
	if len(na.Status.Addresses) == 0 || na.Status.Addresses[0].Address != "127.0.0.1" {
		t.Errorf("addresses %v", na.Status.Addresses)
	}
	// The link's state is in the metrics: both nodes, and the socket's accounting.
	metrics, err := c.Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"weft_nodelink_nodes 2\n", "weft_nodelink_lagging 0\n", "weft_nodelink_socket_buffer_bytes ", "weft_nodelink_socket_drops_total ", "weft_nodelink_heartbeat_cuts_total 0\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// A second report keeps the CIDR.
	if again := register(t, a); again.Spec.PodCIDR != na.Spec.PodCIDR {
		t.Fatalf("CIDR changed from %s to %s", na.Spec.PodCIDR, again.Spec.PodCIDR)
	}

	pa, err := c.Client.CoreV1().Pods("default").Create(ctx, boundPod("pa", "node-a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, boundPod("pb", "node-b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running, _ := json.Marshal(corev1.PodStatus{Phase: corev1.PodRunning})

	// Lists are scoped to the node, and paged.
	resp, st := request(t, a, nodeapi.Request{Op: nodeapi.OpList, Kind: nodeapi.KindPods})
	if st != nil || len(resp.Items) != 1 || resp.Revision == 0 || resp.Continue != "" {
		t.Fatalf("list: %v %d items", st, len(resp.Items))
	}
	for _, name := range []string{"cm1", "cm2", "cm3"} {
		if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	page := nodeapi.Request{Op: nodeapi.OpList, Kind: nodeapi.KindConfigMaps, Limit: 2}
	var rev uint64
	for {
		r, st := request(t, b, page)
		if st != nil {
			t.Fatalf("list page: %s", st.Message)
		}
		if rev != 0 && r.Revision != rev {
			t.Fatalf("pages from revisions %d and %d", rev, r.Revision)
		}
		rev = r.Revision
		for _, raw := range r.Items {
			var cm corev1.ConfigMap
			_ = json.Unmarshal(raw, &cm)
			if cm.Namespace == "default" {
				names = append(names, cm.Name)
			}
		}
		if page.Continue = r.Continue; page.Continue == "" {
			break
		}
	}
	if strings.Join(names, ",") != "cm1,cm2,cm3" {
		t.Fatalf("paged list: %v", names)
	}
	for _, tc := range []struct {
		name string
		req  nodeapi.Request
		code int32
	}{
		{"status of another node's pod", nodeapi.Request{Op: nodeapi.OpPodStatus, Namespace: "default", Name: "pb", Status: running}, http.StatusForbidden},
		{"status with a stale UID", nodeapi.Request{Op: nodeapi.OpPodStatus, Namespace: "default", Name: "pa", UID: "not-it", Status: running}, http.StatusConflict},
		{"status of a missing pod", nodeapi.Request{Op: nodeapi.OpPodStatus, Namespace: "default", Name: "ghost", Status: running}, http.StatusNotFound},
		{"delete of another node's pod", nodeapi.Request{Op: nodeapi.OpPodDelete, Namespace: "default", Name: "pb"}, http.StatusForbidden},
		{"delete of a pod not being deleted", nodeapi.Request{Op: nodeapi.OpPodDelete, Namespace: "default", Name: "pa", UID: pa.UID}, http.StatusForbidden},
		{"list of services (not a node's to read)", nodeapi.Request{Op: nodeapi.OpList, Kind: "services"}, http.StatusBadRequest},
		{"unknown op", nodeapi.Request{Op: "reboot"}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, st := request(t, a, tc.req)
			if st == nil || st.Code != tc.code {
				t.Fatalf("got %+v, want code %d", st, tc.code)
			}
			t.Logf("refused: %s", st.Message)
		})
	}
	res, st := request(t, a, nodeapi.Request{Op: nodeapi.OpPodStatus, Namespace: "default", Name: "pa", UID: pa.UID, Status: running})
	if st != nil {
		t.Fatalf("status: %s", st.Message)
	}
	got, _ := c.Client.CoreV1().Pods("default").Get(ctx, "pa", metav1.GetOptions{})
	if got.Status.Phase != corev1.PodRunning || fmt.Sprint(res.Revision) != got.ResourceVersion {
		t.Fatalf("phase %q at %s; the write answered revision %d", got.Status.Phase, got.ResourceVersion, res.Revision)
	}
	if mf := got.ManagedFields; len(mf) == 0 || mf[len(mf)-1].Manager != "weft-agent" {
		t.Errorf("managed fields %v", mf)
	}

	// Graceful deletion, then the node's final delete.
	if err := c.Client.CoreV1().Pods("default").Delete(ctx, "pa", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, st := request(t, a, nodeapi.Request{Op: nodeapi.OpPodDelete, Namespace: "default", Name: "pa", UID: pa.UID}); st != nil {
		t.Fatalf("delete: %s", st.Message)
	}
	if _, err := c.Client.CoreV1().Pods("default").Get(ctx, "pa", metav1.GetOptions{}); err == nil {
		t.Fatal("pod still there")
	}

	// Watches: a node sees its pods only, from the revision it asks.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	seen := make(chan string, 10)
	go func() {
		_ = b.Watch(wctx, nodeapi.KindPods, resp.Revision, func(ev nodelink.Event) error {
			if ev.Type == nodelink.Bookmark {
				return nil
			}
			var p corev1.Pod
			_ = json.Unmarshal(ev.Object, &p)
			seen <- ev.Type.String() + " " + p.Name
			return nil
		})
	}()
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, boundPod("pb2", "node-b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ADDED pb2"} {
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("watch: %s, want %s", got, want)
			}
		case <-wctx.Done():
			t.Fatalf("watch: no %s", want)
		}
	}
	// Compacted history is ErrCompacted.
	s := c.Kernel.Objects().Store()
	if err := s.Compact(ctx, s.CurrentRevision()); err != nil {
		t.Fatal(err)
	}
	err = a.Watch(wctx, nodeapi.KindPods, 1, func(nodelink.Event) error { return nil })
	if !errors.Is(err, nodelink.ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
}

var resourcePods = func() *resourceQuantity { q := mustQuantity("110"); return &q }()

// TestKernelRestartKeepsTokenAndJudgesNodes: the join token survives a restart, and
// a node that was Ready when the kernel stopped but does not come back is NotReady
// one grace period after the kernel starts.
func TestKernelRestartKeepsTokenAndJudgesNodes(t *testing.T) {
	dir := t.TempDir()
	tune := func(cfg *kernel.Config) { cfg.Nodes.GracePeriod = 2 * time.Second }
	c := start(t, dir, tune)
	token := c.Kernel.Nodes().Join().Token
	cl := dial(t, c, "node-r")
	register(t, cl)
	cl.Close()
	c.Stop()
	raw, err := os.ReadFile(filepath.Join(dir, "node-join-token"))
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(filepath.Join(dir, "node-join-token")); info.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", info.Mode().Perm())
	}

	c2 := start(t, dir, tune)
	if got := c2.Kernel.Nodes().Join().Token; got != token || string(raw) != token+"\n" {
		t.Fatalf("token changed across restart: %q -> %q", token, got)
	}
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := c2.Client.CoreV1().Nodes().Get(ctx, "node-r", metav1.GetOptions{})
		if err == nil && readyOf(n) == corev1.ConditionUnknown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not NotReady after the restart: %v %v", err, n.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readyOf(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// TestNodeWatchFromHistoryMovesToFanout: a node asking for a revision from before the
// kernel's shared pod watch started reads history first, sees every event once and
// in order, and then moves over to the shared watch (its own store watcher closes).
func TestNodeWatchFromHistoryMovesToFanout(t *testing.T) {
	c := start(t, "", func(cfg *kernel.Config) { cfg.WatchProgressInterval = 200 * time.Millisecond })
	ctx := context.Background()
	a, b := dial(t, c, "node-a"), dial(t, c, "node-b")
	register(t, a)
	register(t, b)
	st := c.Kernel.Objects().Store()
	watchers := func() int { return st.(interface{ Stats() store.Stats }).Stats().Watchers }
	from := uint64(st.CurrentRevision())
	mk := func(name string) {
		t.Helper()
		if _, err := c.Client.CoreV1().Pods("default").Create(ctx, boundPod(name, "node-b"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		mk(fmt.Sprintf("early-%d", i))
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// node-a's watch starts the shared pod watch after the early pods were written.
	go func() {
		_ = a.Watch(wctx, nodeapi.KindPods, uint64(st.CurrentRevision()), func(nodelink.Event) error { return nil })
	}()
	time.Sleep(300 * time.Millisecond)
	base := watchers()

	var mu sync.Mutex
	var seen []string
	go func() {
		_ = b.Watch(wctx, nodeapi.KindPods, from, func(ev nodelink.Event) error {
			if ev.Type == nodelink.Bookmark {
				return nil
			}
			var p corev1.Pod
			_ = json.Unmarshal(ev.Object, &p)
			mu.Lock()
			seen = append(seen, ev.Type.String()+" "+p.Name)
			mu.Unlock()
			return nil
		})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for watchers() != base {
		if time.Now().After(deadline) {
			t.Fatalf("store watchers %d, want %d: the node's watch never moved to the shared one", watchers(), base)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 5 {
		mk(fmt.Sprintf("late-%d", i))
	}
	var want []string
	for _, p := range []string{"early", "late"} {
		for i := range 5 {
			want = append(want, fmt.Sprintf("ADDED %s-%d", p, i))
		}
	}
	for {
		mu.Lock()
		got := slices.Clone(seen)
		mu.Unlock()
		if slices.Equal(got, want) {
			break
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			t.Fatalf("node-b saw %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
