package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/sdk"
)

// fakeSession records what a feeder sends to its instance.
type fakeSession struct {
	mu    sync.Mutex
	calls []string // "feed: Added default/p1, ..." or the op
}

func (s *fakeSession) Ready(context.Context) (uint64, error) { return 1, nil }
func (s *fakeSession) Close()                                {}

func (s *fakeSession) Call(_ context.Context, _ uint64, op string, in []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op != "feed" {
		s.calls = append(s.calls, op)
		return nil, nil
	}
	evs, err := sdk.DecodeFeed(in)
	if err != nil {
		return nil, err
	}
	var parts []string
	for _, ev := range evs {
		var o struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(ev.Object, &o); err != nil {
			return nil, err
		}
		typ := map[sdk.EventType]string{sdk.Added: "Added", sdk.Modified: "Modified", sdk.Deleted: "Deleted"}[ev.Type]
		parts = append(parts, fmt.Sprintf("%s %s%v", typ, o.Metadata.Name, o.Metadata.Labels))
	}
	s.calls = append(s.calls, "feed: "+strings.Join(parts, ", "))
	return nil, nil
}

func (s *fakeSession) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = nil
	return out
}

// newTestFeeder is a scheduler policy's feeder on sess, already fed once (epoch 1),
// never called, and flushing only when called.
func newTestFeeder(ctx context.Context, sess feedSession) *feeder {
	f := &feeder{session: sess, log: slog.New(slog.DiscardHandler), mirror: map[sdk.GVK]map[string][]byte{},
		epoch: 1, runCtx: ctx, standbyAfter: time.Hour, standbyFlush: time.Hour, cancel: func() {}}
	f.fedCond = sync.NewCond(&f.fedMu)
	return f
}

// waitTakenIn waits until the feeder has fed or held w's changes up to rv.
func waitTakenIn(t *testing.T, f *feeder, w *watched, rv int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.fedMu.Lock()
		done := w.fedRev >= rv
		f.fedMu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision %d never taken in", rv)
		}
		time.Sleep(time.Millisecond)
	}
}

func pod(name string, rv int, labels map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "default", "resourceVersion": fmt.Sprint(rv), "labels": labels}}}
}

// TestStandbyFeedIsHeldAndCoalesced follows a scheduler policy's feeder through
// standby: changes are held, one per object, until the next call or the flush period;
// a feeder that was just called feeds each batch at once.
func TestStandbyFeedIsHeldAndCoalesced(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := &fakeSession{}
	f := newTestFeeder(ctx, sess)
	w := &watched{gvk: sdk.PodKind}
	wi := watch.NewFakeWithChanSize(16, false)
	go func() { _, _ = f.drain(ctx, w, wi, "0") }()
	defer wi.Stop()
	waitFed := func(rv int64) {
		t.Helper()
		waitTakenIn(t, f, w, rv)
	}
	expect := func(want ...string) {
		t.Helper()
		if got := sess.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("the instance got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// Never called: a standby. Nothing crosses until the next call, which gets the
	// newest state of each object first.
	wi.Add(pod("p1", 1, nil))
	wi.Modify(pod("p1", 2, map[string]any{"v": "2"}))
	wi.Add(pod("p2", 3, nil))
	wi.Delete(pod("p2", 4, nil))
	wi.Add(pod("p3", 5, nil))
	waitFed(5)
	expect()
	f.mu.Lock()
	_, err := f.callLocked(ctx, "schedule", nil)
	f.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	expect("feed: Added p1map[v:2], Deleted p2map[], Added p3map[]", "schedule")

	// Just called: each change is fed as it comes.
	wi.Modify(pod("p3", 6, map[string]any{"v": "6"}))
	waitFed(6)
	expect("feed: Modified p3map[v:6]")

	// A standby again: held changes go in within the flush period, call or not.
	f.mu.Lock()
	f.lastCall.Store(0)
	f.standbyFlush = 20 * time.Millisecond
	f.mu.Unlock()
	wi.Modify(pod("p1", 7, map[string]any{"v": "7"}))
	waitFed(7)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := sess.take()
		if len(got) > 0 {
			if want := "feed: Modified p1map[v:7]"; len(got) != 1 || got[0] != want {
				t.Fatalf("flushed %q, want %q", got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("held changes were never flushed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The mirror, which a replacement instance is refed from, has every change.
	if got := len(f.mirror[sdk.PodKind]); got != 2 {
		t.Fatalf("mirror holds %d pods, want 2", got)
	}
}

// TestPolicyFeedSkipsUnchangedProjections: a scheduler policy is not fed a change that
// leaves its projection as it was, such as a pod starting to run.
func TestPolicyFeedSkipsUnchangedProjections(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := &fakeSession{}
	f := newTestFeeder(ctx, sess)
	f.lastCall.Store(time.Now().UnixNano())
	w := &watched{gvk: sdk.PodKind, paths: feedPaths(sdk.PodKind), trim: trimForPolicy}
	wi := watch.NewFakeWithChanSize(16, false)
	go func() { _, _ = f.drain(ctx, w, wi, "0") }()
	defer wi.Stop()
	step := func(obj *unstructured.Unstructured, modify bool, want ...string) {
		t.Helper()
		if modify {
			wi.Modify(obj)
		} else {
			wi.Add(obj)
		}
		rv, _ := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
		waitTakenIn(t, f, w, rv)
		if got := sess.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("rv %d: the instance got %q, want %q", rv, got, want)
		}
	}
	withStatus := func(o *unstructured.Unstructured, phase, ip string) *unstructured.Unstructured {
		o.Object["status"] = map[string]any{"phase": phase, "podIP": ip}
		o.Object["spec"] = map[string]any{"nodeName": "n1"}
		return o
	}
	step(withStatus(pod("p", 1, nil), "Pending", ""), false, "feed: Added pmap[]")
	step(withStatus(pod("p", 2, nil), "Running", "10.0.0.1"), true)
	step(withStatus(pod("p", 3, map[string]any{"a": "b"}), "Running", "10.0.0.1"), true, "feed: Modified pmap[a:b]")
	step(withStatus(pod("p", 4, map[string]any{"a": "b"}), "Succeeded", "10.0.0.1"), true, "feed: Modified pmap[a:b]")
	if got := string(f.mirror[sdk.PodKind]["default/p"]); !strings.Contains(got, `"phase":"Succeeded"`) || strings.Contains(got, "resourceVersion") || strings.Contains(got, "podIP") {
		t.Fatalf("fed projection %s: want the terminal phase, and neither resourceVersion nor podIP", got)
	}
}

// TestControlledOnlyFeed: with ControlledOnly, an owned object its primary kind does
// not control is fed as metadata less resourceVersion, so its status changes are not
// fed; once controlled it is fed its paths, and a release makes it metadata again.
func TestControlledOnlyFeed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := &fakeSession{}
	f := newTestFeeder(ctx, sess)
	f.standbyAfter = 0 // a controller's feeder feeds every batch at once
	w := &watched{gvk: sdk.PodKind, paths: [][]string{{"status"}}, controlledBy: map[string]bool{"apps/ReplicaSet": true}}
	wi := watch.NewFakeWithChanSize(16, false)
	go func() { _, _ = f.drain(ctx, w, wi, "0") }()
	defer wi.Stop()
	ref := func(apiVersion, kind string, controller bool) []any {
		return []any{map[string]any{"apiVersion": apiVersion, "kind": kind, "name": "x", "uid": "u", "controller": controller}}
	}
	obj := func(rv int, labels map[string]any, phase string, refs []any) *unstructured.Unstructured {
		o := pod("p", rv, labels)
		o.Object["status"] = map[string]any{"phase": phase}
		if refs != nil {
			o.Object["metadata"].(map[string]any)["ownerReferences"] = refs
		}
		return o
	}
	mirror := func() string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return string(f.mirror[sdk.PodKind]["default/p"])
	}
	for i, tc := range []struct {
		obj      *unstructured.Unstructured
		fed      bool
		wantPath bool // the status reached the instance
	}{
		{obj(1, nil, "Pending", nil), true, false},
		{obj(2, nil, "Running", nil), false, false},                                             // an orphan's status
		{obj(3, map[string]any{"a": "b"}, "Running", nil), true, false},                         // its labels
		{obj(4, map[string]any{"a": "b"}, "Failed", ref("batch/v1", "Job", true)), true, false}, // another kind's
		{obj(5, map[string]any{"a": "b"}, "Running", ref("batch/v1", "Job", true)), false, false},
		{obj(6, map[string]any{"a": "b"}, "Running", ref("apps/v1", "ReplicaSet", false)), true, false}, // not the controller
		{obj(7, map[string]any{"a": "b"}, "Running", ref("apps/v1", "ReplicaSet", true)), true, true},
		{obj(8, map[string]any{"a": "b"}, "Succeeded", ref("apps/v1", "ReplicaSet", true)), true, true},
		{obj(9, map[string]any{"a": "b"}, "Succeeded", nil), true, false}, // released
	} {
		if i == 0 {
			wi.Add(tc.obj)
		} else {
			wi.Modify(tc.obj)
		}
		waitTakenIn(t, f, w, int64(i+1))
		got := sess.take()
		if (len(got) > 0) != tc.fed {
			t.Fatalf("rv %d: fed %q, want fed=%v", i+1, got, tc.fed)
		}
		m := mirror()
		if strings.Contains(m, `"status"`) != tc.wantPath || strings.Contains(m, "resourceVersion") == !tc.wantPath {
			t.Fatalf("rv %d: projection %s: want status=%v, resourceVersion only with it", i+1, m, tc.wantPath)
		}
	}
}
