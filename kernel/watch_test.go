package kernel_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/kerneltest"
)

// rawEvent is one line of a watch stream as sent on the wire.
type rawEvent struct {
	Type   string `json:"type"`
	Object struct {
		Kind     string `json:"kind"`
		Code     int    `json:"code"`
		Reason   string `json:"reason"`
		Metadata struct {
			Name            string            `json:"name"`
			ResourceVersion string            `json:"resourceVersion"`
			Annotations     map[string]string `json:"annotations"`
		} `json:"metadata"`
	} `json:"object"`
}

// rawWatch opens a watch with query q and returns its events until it ends or ctx does.
func rawWatch(t *testing.T, ctx context.Context, c *kerneltest.Cluster, q string) <-chan rawEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Config.Host+"/api/v1/namespaces/default/configmaps?watch=1&"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient(t, c.Config).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("watch %s: HTTP %d", q, resp.StatusCode)
	}
	ch := make(chan rawEvent, 100)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var ev rawEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				ch <- ev
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan rawEvent) rawEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch ended early")
		}
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no watch event")
	}
	return rawEvent{}
}

func expectEvent(t *testing.T, ch <-chan rawEvent, typ, name string) rawEvent {
	t.Helper()
	ev := next(t, ch)
	if ev.Type != typ || ev.Object.Metadata.Name != name {
		t.Fatalf("want %s %s, got %s %s (%+v)", typ, name, ev.Type, ev.Object.Metadata.Name, ev)
	}
	return ev
}

func TestWatchResourceVersionSemantics(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Tune: func(cfg *kernel.Config) { cfg.WatchProgressInterval = 200 * time.Millisecond }})
	ctx := ctxT(t)
	cms := c.Client.CoreV1().ConfigMaps("default")
	a, err := cms.Create(ctx, configMap("a", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cms.Create(ctx, configMap("b", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("unset starts with the current objects", func(t *testing.T) {
		ch := rawWatch(t, ctx, c, "")
		expectEvent(t, ch, "ADDED", "a")
		expectEvent(t, ch, "ADDED", "b")
	})
	t.Run("zero starts with the current objects", func(t *testing.T) {
		ch := rawWatch(t, ctx, c, "resourceVersion=0")
		expectEvent(t, ch, "ADDED", "a")
		expectEvent(t, ch, "ADDED", "b")
	})
	t.Run("a version streams what happened after it", func(t *testing.T) {
		ch := rawWatch(t, ctx, c, "resourceVersion="+a.ResourceVersion)
		ev := expectEvent(t, ch, "ADDED", "b")
		if ev.Object.Metadata.ResourceVersion != b.ResourceVersion {
			t.Fatalf("resourceVersion %s, want %s", ev.Object.Metadata.ResourceVersion, b.ResourceVersion)
		}
	})
	t.Run("timeoutSeconds ends the stream", func(t *testing.T) {
		ch := rawWatch(t, ctx, c, "resourceVersion="+b.ResourceVersion+"&timeoutSeconds=1")
		start := time.Now()
		for range ch {
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("watch outlived its timeout")
		}
	})
	t.Run("bookmarks", func(t *testing.T) {
		ch := rawWatch(t, ctx, c, "resourceVersion="+b.ResourceVersion+"&allowWatchBookmarks=true")
		ev := next(t, ch)
		if ev.Type != "BOOKMARK" || ev.Object.Kind != "ConfigMap" {
			t.Fatalf("want a BOOKMARK, got %+v", ev)
		}
		if rv, _ := strconv.ParseInt(ev.Object.Metadata.ResourceVersion, 10, 64); rv < mustRV(t, b.ResourceVersion) {
			t.Fatalf("bookmark resourceVersion %d is older than the start", rv)
		}
	})
	t.Run("sendInitialEvents ends the initial events with a bookmark", func(t *testing.T) {
		ch := rawWatch(t, ctx, c, "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
		expectEvent(t, ch, "ADDED", "a")
		expectEvent(t, ch, "ADDED", "b")
		ev := next(t, ch)
		if ev.Type != "BOOKMARK" || ev.Object.Metadata.Annotations["k8s.io/initial-events-end"] != "true" {
			t.Fatalf("want the initial-events-end bookmark, got %+v", ev)
		}
		if _, err := cms.Create(ctx, configMap("c", nil, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			ev := next(t, ch)
			if ev.Type == "BOOKMARK" {
				continue
			}
			if ev.Type != "ADDED" || ev.Object.Metadata.Name != "c" {
				t.Fatalf("want ADDED c, got %+v", ev)
			}
			break
		}
	})
	t.Run("sendInitialEvents without its companions is refused", func(t *testing.T) {
		r := do(t, c, http.MethodGet, "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true", "", nil)
		if r.code != 400 {
			t.Fatalf("want 400, got %d %s", r.code, r.body)
		}
	})
	t.Run("compacted versions are gone", func(t *testing.T) {
		for i := range 3 {
			if _, err := cms.Create(ctx, configMap(fmt.Sprintf("n%d", i), nil, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		st := c.Kernel.Objects().Store()
		if err := st.Compact(ctx, st.CurrentRevision()); err != nil {
			t.Fatal(err)
		}
		ch := rawWatch(t, ctx, c, "resourceVersion="+a.ResourceVersion)
		ev := next(t, ch)
		if ev.Type != "ERROR" || ev.Object.Code != 410 || ev.Object.Reason != "Expired" {
			t.Fatalf("want ERROR 410 Expired, got %+v", ev)
		}
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if st := statusCode(err); st != 410 {
			t.Fatalf("exact list at a compacted version: want 410, got %v", err)
		}
	})
	t.Run("a future version times out as too large", func(t *testing.T) {
		// Raw, because client-go rightly retries this answer for a while.
		r := do(t, c, http.MethodGet, "/api/v1/namespaces/default/configmaps?resourceVersion=999999999", "", nil)
		if st := r.status(t); r.code != 504 || st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Type != metav1.CauseTypeResourceVersionTooLarge {
			t.Fatalf("want 504 Too large resource version, got %d %s", r.code, r.body)
		}
	})
}

func mustRV(t *testing.T, rv string) int64 {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func statusCode(err error) int32 {
	if s, ok := err.(interface{ Status() metav1.Status }); ok {
		return s.Status().Code
	}
	return 0
}

// A client filtering by label sees an object enter (ADDED) and leave (DELETED) the
// selection, as with kube-apiserver.
func TestFilteredWatchTransitions(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	cms := c.Client.CoreV1().ConfigMaps("default")
	w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cm, err := cms.Create(ctx, configMap("x", map[string]string{"app": "db"}, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Labels["app"] = "web"
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"k": "v"}
	if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm.Labels["app"] = "db"
	if _, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, configMap("y", map[string]string{"app": "web"}, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted, watch.Added} {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != want {
				t.Fatalf("event %d: want %s, got %s %+v", i, want, ev.Type, ev.Object)
			}
			if i == 3 && ev.Object.(*corev1.ConfigMap).Name != "y" {
				t.Fatalf("last event is for %s", ev.Object.(*corev1.ConfigMap).Name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d (%s) never came", i, want)
		}
	}
}

func TestListPaging(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	cms := c.Client.CoreV1().ConfigMaps("default")
	for i := range 25 {
		labels := map[string]string{"parity": "odd"}
		if i%2 == 0 {
			labels["parity"] = "even"
		}
		if _, err := cms.Create(ctx, configMap(fmt.Sprintf("cm-%02d", i), labels, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	late := 0
	for _, tc := range []struct {
		selector string
		want     int
	}{{"parity!=late", 25}, {"parity=even", 13}} {
		var names []string
		opts := metav1.ListOptions{Limit: 10, LabelSelector: tc.selector}
		rv := ""
		pages := 0
		for {
			list, err := cms.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if rv == "" {
				rv = list.ResourceVersion
			} else if list.ResourceVersion != rv {
				t.Fatalf("pages read different revisions: %s then %s", rv, list.ResourceVersion)
			}
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
			// A write between pages must not show up in them.
			late++
			if _, err := cms.Create(ctx, configMap(fmt.Sprintf("late-%d", late), map[string]string{"parity": "late"}, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if len(names) != tc.want || pages != (tc.want+9)/10 {
			t.Fatalf("selector %q: want %d items in %d pages, got %d in %d: %v", tc.selector, tc.want, (tc.want+9)/10, len(names), pages, names)
		}
		for i := 1; i < len(names); i++ {
			if names[i] <= names[i-1] {
				t.Fatalf("items out of order or repeated: %v", names)
			}
		}
	}
	if _, err := cms.List(ctx, metav1.ListOptions{Continue: "not-a-token"}); statusCode(err) != 400 {
		t.Fatalf("bad continue: want 400, got %v", err)
	}
}
