package nodes

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestCIDRAllocator(t *testing.T) {
	a, err := newCIDRAllocator("10.244.0.0/16", 24)
	if err != nil {
		t.Fatal(err)
	}
	if a.count != 256 || a.nth(0) != "10.244.0.0/24" || a.nth(1) != "10.244.1.0/24" || a.nth(255) != "10.244.255.0/24" {
		t.Fatalf("count %d, nth %s %s %s", a.count, a.nth(0), a.nth(1), a.nth(255))
	}
	got, err := a.first(map[string]bool{"10.244.0.0/24": true, "10.244.2.0/24": true})
	if err != nil || got != "10.244.1.0/24" {
		t.Fatalf("first free: %s %v", got, err)
	}
	if !a.contains("10.244.7.0/24") || a.contains("10.245.0.0/24") || a.contains("10.244.0.0/25") {
		t.Fatal("contains")
	}
	small, _ := newCIDRAllocator("10.0.0.0/30", 31)
	used := map[string]bool{}
	for range 2 {
		c, err := small.first(used)
		if err != nil {
			t.Fatal(err)
		}
		used[c] = true
	}
	if _, err := small.first(used); err != ErrCIDRExhausted {
		t.Fatalf("exhausted: %v", err)
	}
	v6, err := newCIDRAllocator("fd00:10::/56", 64)
	if err != nil || v6.nth(1) != "fd00:10:0:1::/64" {
		t.Fatalf("IPv6: %v %s", err, v6.nth(1))
	}
	for _, bad := range []struct {
		cidr string
		mask int
	}{{"10.0.0.0/16", 8}, {"10.0.0.0/16", 33}, {"nonsense", 24}} {
		if _, err := newCIDRAllocator(bad.cidr, bad.mask); err == nil {
			t.Errorf("%s /%d accepted", bad.cidr, bad.mask)
		}
	}
}

func TestTolerationSeconds(t *testing.T) {
	m := &Manager{cfg: Config{DefaultTolerationSeconds: 300}}
	pod := func(tols ...map[string]any) *unstructured.Unstructured {
		var list []any
		for _, t := range tols {
			list = append(list, t)
		}
		return &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"tolerations": list}}}
	}
	for _, tc := range []struct {
		name    string
		pod     *unstructured.Unstructured
		secs    int64
		forever bool
	}{
		{"none: the default", pod(), 300, false},
		{"unreachable for 60s", pod(map[string]any{"key": TaintUnreachable, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": int64(60)}), 60, false},
		{"unreachable forever", pod(map[string]any{"key": TaintUnreachable, "operator": "Exists", "effect": "NoExecute"}), 0, true},
		{"everything forever", pod(map[string]any{"operator": "Exists"}), 0, true},
		{"the shortest wins", pod(
			map[string]any{"key": TaintUnreachable, "operator": "Exists", "tolerationSeconds": int64(90)},
			map[string]any{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": int64(30)}), 30, false},
		{"another taint", pod(map[string]any{"key": TaintNotReady, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": int64(5)}), 300, false},
		{"NoSchedule only", pod(map[string]any{"key": TaintUnreachable, "operator": "Exists", "effect": "NoSchedule"}), 300, false},
		{"a value that cannot match", pod(map[string]any{"key": TaintUnreachable, "operator": "Equal", "value": "x", "tolerationSeconds": int64(5)}), 300, false},
		{"negative is zero", pod(map[string]any{"key": TaintUnreachable, "operator": "Exists", "tolerationSeconds": int64(-5)}), 0, false},
		{"float from JSON", pod(map[string]any{"key": TaintUnreachable, "operator": "Exists", "tolerationSeconds": float64(7)}), 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secs, forever := m.tolerationSeconds(tc.pod)
			if secs != tc.secs || forever != tc.forever {
				t.Fatalf("got %d, %v; want %d, %v", secs, forever, tc.secs, tc.forever)
			}
		})
	}
}

// Nodes get objects without managedFields, and the shared decode they come from is
// left as it was.
func TestEncodeForNode(t *testing.T) {
	shared := map[string]any{"kind": "Pod", "metadata": map[string]any{"name": "p", "resourceVersion": "5",
		"managedFields": []any{map[string]any{"manager": "m"}}}, "spec": map[string]any{"nodeName": "n"}}
	for _, c := range []struct {
		obj  map[string]any
		rv   string
		want string
	}{
		{shared, "", `{"kind":"Pod","metadata":{"name":"p","resourceVersion":"5"},"spec":{"nodeName":"n"}}`},
		{shared, "9", `{"kind":"Pod","metadata":{"name":"p","resourceVersion":"9"},"spec":{"nodeName":"n"}}`},
		{map[string]any{"kind": "Pod", "metadata": map[string]any{"name": "q"}}, "", `{"kind":"Pod","metadata":{"name":"q"}}`},
		{map[string]any{"kind": "Pod"}, "3", `{"kind":"Pod","metadata":{"resourceVersion":"3"}}`},
	} {
		got, err := encodeForNode(c.obj, c.rv)
		if err != nil || string(got) != c.want {
			t.Errorf("encodeForNode(%v, %q) = %s, %v; want %s", c.obj, c.rv, got, err, c.want)
		}
	}
	if meta := shared["metadata"].(map[string]any); meta["managedFields"] == nil || meta["resourceVersion"] != "5" {
		t.Errorf("the shared object was changed: %v", meta)
	}
}

// While the node link lags, a node silent past the grace period is not acted on
// until it has been silent for the Lease duration; otherwise it is.
func TestSweepWaitsForTheLeaseWhileTheLinkLags(t *testing.T) {
	now := time.Unix(1000, 0)
	lagging := false
	m := &Manager{
		cfg:     Config{GracePeriod: 10 * time.Second, LeaseDuration: 40 * time.Second, LeaseRenewInterval: time.Hour, Now: func() time.Time { return now }},
		nodes:   map[string]*nodeState{},
		lagging: func() bool { return lagging },
	}
	for name, silent := range map[string]time.Duration{"quiet": 15 * time.Second, "gone": 41 * time.Second, "fine": time.Second} {
		m.nodes[name] = &nodeState{connected: true, registered: true, ready: true, lastSeen: now.Add(-silent), lastLease: now}
	}
	for _, tc := range []struct {
		lagging bool
		want    []string
	}{{false, []string{"gone", "quiet"}}, {true, []string{"gone"}}} {
		lagging = tc.lagging
		act, _ := m.sweep()
		slices.Sort(act)
		if !slices.Equal(act, tc.want) {
			t.Errorf("lagging %v: sweep acts on %v, want %v", tc.lagging, act, tc.want)
		}
	}
}
