package agent_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/node/agent"
)

// An unchanged node status is not written again until StatusReportFrequency has
// passed; a changed one is written at the next look.
func TestStatusReportedOnChange(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Tune: func(cfg *kernel.Config) {
		cfg.NodeAddr = "127.0.0.1:0"
	}})
	var pods atomic.Int64
	pods.Store(50)
	a, err := agent.New(agent.Config{
		Node: "node-a", DataDir: t.TempDir(), JoinFile: c.Kernel.Nodes().JoinFile(), Pods: newFakePods(),
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		StatusInterval: 50 * time.Millisecond, StatusReportFrequency: time.Hour,
		Status: func(st *corev1.NodeStatus) {
			st.Allocatable[corev1.ResourcePods] = *resource.NewQuantity(pods.Load(), resource.DecimalSI)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pc := newBlackhole(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.RunWithPacketConn(ctx, a, pc) }()
	t.Cleanup(func() { cancel(); <-done; pc.Close() })

	get := func() *corev1.Node {
		n, err := c.Client.CoreV1().Nodes().Get(context.Background(), "node-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, 20*time.Second, "node Ready", func() (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(context.Background(), "node-a", metav1.GetOptions{})
		return err == nil && nodeReady(n) == corev1.ConditionTrue, nil
	})
	before := get().ResourceVersion
	time.Sleep(20 * 50 * time.Millisecond)
	if rv := get().ResourceVersion; rv != before {
		t.Fatalf("an unchanged status was written again: resourceVersion %s -> %s", before, rv)
	}
	pods.Store(60)
	waitFor(t, 10*time.Second, "the changed status", func() (bool, error) {
		return get().Status.Allocatable.Pods().Value() == 60, nil
	})
}
