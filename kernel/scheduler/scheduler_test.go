package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/scheduler"
)

// slots is a native stand-in for a policy: each node holds a fixed number of pods;
// it fills nodes in order, remembering what it placed.
type slots struct {
	mu     sync.Mutex
	nodes  []string
	per    int
	placed map[string]string // pod key -> node
	calls  int
}

func newSlots(per int, nodes ...string) *slots {
	return &slots{nodes: nodes, per: per, placed: map[string]string{}}
}

func (s *slots) Schedule(_ context.Context, pods []*unstructured.Unstructured) ([]scheduler.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	out := make([]scheduler.Decision, len(pods))
	for i, p := range pods {
		key := p.GetNamespace() + "/" + p.GetName()
		out[i].Key = key
		for _, n := range s.nodes {
			used := 0
			for _, at := range s.placed {
				if at == n {
					used++
				}
			}
			if used < s.per {
				s.placed[key] = n
				out[i].Node = n
				break
			}
		}
		if out[i].Node == "" {
			out[i].Message = fmt.Sprintf("0/%d nodes are available: %d Too many pods.", len(s.nodes), len(s.nodes))
		}
	}
	return out, nil
}

func (s *slots) Shadow(ctx context.Context, pods []*unstructured.Unstructured) ([]scheduler.Decision, error) {
	ds, err := s.Schedule(ctx, pods)
	var keys []string
	for _, d := range ds {
		keys = append(keys, d.Key)
	}
	_ = s.Forget(ctx, keys)
	return ds, err
}

func (s *slots) Forget(_ context.Context, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.placed, k)
	}
	return nil
}

func (s *slots) free(key string) {
	s.mu.Lock()
	delete(s.placed, key)
	s.mu.Unlock()
}

type profiles struct {
	mu      sync.Mutex
	active  scheduler.Policy
	shadows []scheduler.Shadow
}

func (p *profiles) Active(name string) (scheduler.Policy, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active, name == "default-scheduler" && p.active != nil
}

func (p *profiles) Shadows(string) []scheduler.Shadow {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shadows
}

func (p *profiles) set(a scheduler.Policy) {
	p.mu.Lock()
	p.active = a
	p.mu.Unlock()
}

// The framework with a native policy: pods are bound where the policy says, those
// that fit nowhere get PodScheduled=False and a FailedScheduling event in
// kube-scheduler's words and are retried when a pod goes away, a pod bound behind the
// scheduler's back is not bound again, a policy swapped at runtime takes over the next
// pods, and a shadow policy sees every pod without binding any.
func TestScheduler(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := newSlots(2, "node-a", "node-b")
	shadow := newSlots(100, "node-z")
	var agreed, disagreed int
	var shadowMu sync.Mutex
	prof := &profiles{active: first, shadows: []scheduler.Shadow{{Name: "z", Policy: shadow, Record: func(a, d int) {
		shadowMu.Lock()
		agreed += a
		disagreed += d
		shadowMu.Unlock()
	}}}}
	s := scheduler.New(scheduler.Config{Objects: c.Kernel.Objects(), Profiles: prof, Queue: scheduler.QueueConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	pods := c.Client.CoreV1().Pods("default")
	for i := range 5 {
		if _, err := pods.Create(ctx, pod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	nodeOf := func(name string) string {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "?"
		}
		return p.Spec.NodeName
	}
	waitUntil(t, "four pods bound, one unschedulable", func() error {
		bound, waiting := 0, ""
		for i := range 5 {
			if nodeOf(fmt.Sprintf("p%d", i)) != "" {
				bound++
			} else {
				waiting = fmt.Sprintf("p%d", i)
			}
		}
		if bound != 4 || waiting == "" {
			return fmt.Errorf("%d bound", bound)
		}
		p, _ := pods.Get(ctx, waiting, metav1.GetOptions{})
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == "Unschedulable" &&
				cond.Message == "0/2 nodes are available: 2 Too many pods." {
				return nil
			}
		}
		return fmt.Errorf("conditions of %s: %+v", waiting, p.Status.Conditions)
	})
	waitUntil(t, "FailedScheduling event", func() error {
		evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedScheduling"})
		if err != nil || len(evs.Items) == 0 || evs.Items[0].Type != "Warning" || !strings.Contains(evs.Items[0].Message, "Too many pods") {
			return fmt.Errorf("events %v %v", evs, err)
		}
		return nil
	})
	// Deleting a bound pod lets the waiting one in.
	victim := ""
	for i := range 5 {
		if n := nodeOf(fmt.Sprintf("p%d", i)); n != "" {
			victim = fmt.Sprintf("p%d", i)
			break
		}
	}
	// The policy learns of the room first (a real one from its feed), then the delete
	// is the event that retries the waiting pod. At once: a bound pod's graceful delete
	// would wait for a node that does not exist.
	first.free("default/" + victim)
	if err := pods.Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the waiting pod bound after a deletion", func() error {
		for i := range 5 {
			name := fmt.Sprintf("p%d", i)
			if name != victim && nodeOf(name) == "" {
				return fmt.Errorf("%s still waiting", name)
			}
		}
		return nil
	})

	// A swap: the next pods go where the new policy says.
	prof.set(newSlots(10, "node-c"))
	for i := range 3 {
		if _, err := pods.Create(ctx, pod(fmt.Sprintf("q%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "new policy's pods on node-c", func() error {
		for i := range 3 {
			if n := nodeOf(fmt.Sprintf("q%d", i)); n != "node-c" {
				return fmt.Errorf("q%d on %q", i, n)
			}
		}
		return nil
	})
	shadowMu.Lock()
	a, d := agreed, disagreed
	shadowMu.Unlock()
	if d == 0 || a+d < 8 || len(shadow.placed) != 0 {
		t.Fatalf("shadow: agreed %d, disagreed %d, still assumed %d", a, d, len(shadow.placed))
	}
	// Nothing the shadow decided was bound to its node.
	list, _ := pods.List(ctx, metav1.ListOptions{})
	for _, p := range list.Items {
		if p.Spec.NodeName == "node-z" {
			t.Fatalf("a shadow decision was bound: %s", p.Name)
		}
	}
	st := s.Stats()
	if st.Bound != 8 || st.Unschedulable == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func waitUntil(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type policies map[string]scheduler.Policy

func (p policies) Policy(name string) (scheduler.Policy, bool) {
	pol, ok := p[name]
	return pol, ok
}

// SchedulerProfile objects pick the policy, kubectl-style: patching spec.policy swaps
// it for the next pods, shadows are counted, and the status says so.
func TestProfiles(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{scheduler.ProfileKind()}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := policies{"spread": newSlots(1, "n1", "n2", "n3"), "pack": newSlots(100, "n9")}
	pm := scheduler.NewProfileManager(c.Kernel.Objects(), src, nil, nil)
	uctx := objects.WithUser(ctx, objects.User{Name: "test", Groups: []string{"system:masters"}})
	if err := pm.EnsureDefault(uctx, "spread"); err != nil {
		t.Fatal(err)
	}
	s := scheduler.New(scheduler.Config{Objects: c.Kernel.Objects(), Profiles: pm})
	done := make(chan struct{}, 2)
	go func() { _ = s.Run(ctx); done <- struct{}{} }()
	go func() { _ = pm.Run(ctx, s.ProfileStats, 50*time.Millisecond); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()

	pods := c.Client.CoreV1().Pods("default")
	create := func(name string) {
		if _, err := pods.Create(ctx, pod(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	nodeOf := func(name string) string {
		p, _ := pods.Get(ctx, name, metav1.GetOptions{})
		if p == nil {
			return ""
		}
		return p.Spec.NodeName
	}
	create("a1")
	waitUntil(t, "a1 spread", func() error {
		if n := nodeOf("a1"); n != "n1" {
			return fmt.Errorf("on %q", n)
		}
		return nil
	})
	profiles := c.Dynamic.Resource(schema.GroupVersionResource{Group: "weft.dev", Version: "v1alpha1", Resource: "schedulerprofiles"})
	patch := `{"spec":{"policy":"pack","shadows":["spread"]}}`
	if _, err := profiles.Patch(ctx, "default-scheduler", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the swap seen", func() error { // the manager learns of it from its watch
		obj, err := profiles.Get(ctx, "default-scheduler", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p, _, _ := unstructured.NestedString(obj.Object, "status", "policy"); p != "pack" {
			return fmt.Errorf("status policy %q", p)
		}
		return nil
	})
	create("b1")
	create("b2")
	waitUntil(t, "packed after the swap", func() error {
		if nodeOf("b1") != "n9" || nodeOf("b2") != "n9" {
			return fmt.Errorf("b1 on %q, b2 on %q", nodeOf("b1"), nodeOf("b2"))
		}
		return nil
	})
	waitUntil(t, "profile status", func() error {
		obj, err := profiles.Get(ctx, "default-scheduler", metav1.GetOptions{})
		if err != nil {
			return err
		}
		st, _ := obj.Object["status"].(map[string]any)
		sh, _ := st["shadows"].([]any)
		if st["policy"] != "pack" || st["ready"] != true || st["bound"] != int64(3) || len(sh) != 1 {
			return fmt.Errorf("status %v", st)
		}
		if d, _ := sh[0].(map[string]any)["disagreed"].(int64); d != 2 {
			return fmt.Errorf("shadow %v", sh[0])
		}
		return nil
	})
	if got := pm.ShadowCounts("spread")["default-scheduler"]; got != [2]int64{0, 2} {
		t.Fatalf("shadow counts %v", got)
	}
}

// A pod naming a profile that does not exist yet waits; creating the profile has it
// placed at once, not after the unschedulable flush (5 minutes).
func TestProfileCreatedForWaitingPods(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{scheduler.ProfileKind()}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pm := scheduler.NewProfileManager(c.Kernel.Objects(), policies{"spread": newSlots(1, "n1", "n2")}, nil, nil)
	s := scheduler.New(scheduler.Config{Objects: c.Kernel.Objects(), Profiles: pm})
	pm.OnChange(s.ClusterEvent)
	done := make(chan struct{}, 2)
	go func() { _ = s.Run(ctx); done <- struct{}{} }()
	go func() { _ = pm.Run(ctx, s.ProfileStats, 50*time.Millisecond); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()

	p := pod("w1")
	p.Spec.SchedulerName = "later"
	pods := c.Client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // tried and found without a policy
	if got, _ := pods.Get(ctx, "w1", metav1.GetOptions{}); got == nil || got.Spec.NodeName != "" {
		t.Fatalf("a pod without a profile was placed: %v", got)
	}
	profiles := c.Dynamic.Resource(schema.GroupVersionResource{Group: "weft.dev", Version: "v1alpha1", Resource: "schedulerprofiles"})
	prof := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "weft.dev/v1alpha1", "kind": "SchedulerProfile",
		"metadata": map[string]any{"name": "later"}, "spec": map[string]any{"policy": "spread"}}}
	uctx := objects.WithUser(ctx, objects.User{Name: "test", Groups: []string{"system:masters"}})
	if _, err := profiles.Create(uctx, prof, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := pods.Get(ctx, "w1", metav1.GetOptions{})
		if err == nil && got.Spec.NodeName != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the pod was not placed within 5 s of its profile's creation")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A profile's status follows its spec at once, not at the next periodic write, and
// writing it does not set off another write. The kernel's own profile manager does
// the writing here, with its periodic writes an hour apart.
func TestProfileStatusFollowsSpec(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{scheduler.ProfileKind()},
		Tune: func(cfg *kernel.Config) { cfg.PluginStatusInterval = time.Hour }})
	ctx := context.Background()
	pm := scheduler.NewProfileManager(c.Kernel.Objects(), policies{}, nil, nil)
	if err := pm.EnsureDefault(objects.WithUser(ctx, objects.User{Name: "test", Groups: []string{"system:masters"}}), "spread"); err != nil {
		t.Fatal(err)
	}
	profiles := c.Dynamic.Resource(schema.GroupVersionResource{Group: "weft.dev", Version: "v1alpha1", Resource: "schedulerprofiles"})
	status := func(want string) string {
		var rv string
		waitUntil(t, "status policy "+want, func() error {
			obj, err := profiles.Get(ctx, "default-scheduler", metav1.GetOptions{})
			if err != nil {
				return err
			}
			p, _, _ := unstructured.NestedString(obj.Object, "status", "policy")
			g, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
			if p != want || g != obj.GetGeneration() {
				return fmt.Errorf("status policy %q for generation %d of %d", p, g, obj.GetGeneration())
			}
			rv = obj.GetResourceVersion()
			return nil
		})
		return rv
	}
	status("spread")
	if _, err := profiles.Patch(ctx, "default-scheduler", types.MergePatchType, []byte(`{"spec":{"policy":"pack"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	rv := status("pack")
	time.Sleep(300 * time.Millisecond)
	if obj, err := profiles.Get(ctx, "default-scheduler", metav1.GetOptions{}); err != nil || obj.GetResourceVersion() != rv {
		t.Fatalf("the profile kept changing after its status was written: %v", err)
	}
}
