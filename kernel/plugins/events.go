package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pluginhost"
)

// eventInterval is the least time between two Events of one reason about one plugin:
// a plugin failing on every call must not flood the store. The ones in between are
// counted into the next.
const eventInterval = 10 * time.Second

// recorder writes core/v1 Events about Plugin objects, as kube's event recorder
// does for cluster-scoped objects: in the default namespace.
type recorder struct {
	svc *objects.Service
	log *slog.Logger

	mu     sync.Mutex
	last   map[string]time.Time
	folded map[string]int
}

func newRecorder(svc *objects.Service, log *slog.Logger) *recorder {
	return &recorder{svc: svc, log: log, last: map[string]time.Time{}, folded: map[string]int{}}
}

// event records an Event in the background, unless one of the same reason about the
// same plugin was recorded less than eventInterval ago.
func (r *recorder) event(plugin, typ, reason, message string) {
	key := plugin + "/" + reason
	r.mu.Lock()
	if time.Since(r.last[key]) < eventInterval {
		r.folded[key]++
		r.mu.Unlock()
		return
	}
	r.last[key] = time.Now()
	count := 1 + r.folded[key]
	delete(r.folded, key)
	r.mu.Unlock()
	if count > 1 {
		message = fmt.Sprintf("%s (and %d more like it since the last event)", message, count-1)
	}
	go r.write(plugin, typ, reason, message, count)
}

func (r *recorder) write(plugin, typ, reason, message string, count int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = objects.WithUser(ctx, objects.User{Name: "system:weft:plugin-manager", Groups: []string{"system:masters"}, Agent: "weft-plugins"})
	snap := r.svc.Registry().Snapshot()
	e, ok := snap.LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Event"})
	if !ok {
		return // no core plugin: nowhere to record events
	}
	uid := ""
	if pe, ok := snap.LookupKind(GVK); ok {
		if obj, err := r.svc.Get(ctx, pe, "", plugin, ""); err == nil {
			uid = string(obj.GetUID())
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata": map[string]any{"name": fmt.Sprintf("%s.%x", plugin, time.Now().UnixNano()), "namespace": metav1.NamespaceDefault},
		"involvedObject": map[string]any{
			"apiVersion": GVK.GroupVersion().String(), "kind": GVK.Kind, "name": plugin, "uid": uid,
		},
		"type": typ, "reason": reason, "message": message,
		"source":             map[string]any{"component": "weft-plugins"},
		"reportingComponent": "weft.dev/plugins",
		"firstTimestamp":     now, "lastTimestamp": now, "count": int64(count),
	}}
	for {
		_, err := r.svc.Create(ctx, e, metav1.NamespaceDefault, ev, objects.WriteOptions{FieldManager: "weft-plugins"})
		if apierrors.IsNotFound(err) && ctx.Err() == nil {
			// On first start, plugins load before the default namespace exists.
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if err != nil && ctx.Err() == nil {
			r.log.Warn("plugin event", "plugin", plugin, "reason", reason, "err", err)
		}
		return
	}
}

// failureReason names a failure's Event reason.
func failureReason(f pluginhost.Failure) string {
	switch {
	case errors.Is(f.Cause, pluginhost.ErrTimeout):
		return "CallTimedOut"
	case errors.Is(f.Cause, pluginhost.ErrOutOfMemory):
		return "OutOfMemory"
	case f.Op == "instantiate":
		return "InstantiateFailed"
	}
	return "Trapped"
}

// onFailure turns a plugin's failures into Events, and its becoming Degraded into one
// more.
func (r *recorder) onFailure(plugin string) func(pluginhost.Failure) {
	return func(f pluginhost.Failure) {
		r.event(plugin, "Warning", failureReason(f), fmt.Sprintf("%s: %v; the instance was replaced", f.Op, f.Err))
		if f.Degraded {
			r.event(plugin, "Warning", "Degraded", "failed repeatedly; its calls are refused for a growing backoff")
		}
	}
}
