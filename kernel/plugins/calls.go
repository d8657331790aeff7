package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pluginhost"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/sdk"
)

// UserPrefix begins the user name a plugin acts as: system:plugin:<name>.
const UserPrefix = "system:plugin:"

// Calls serves plugins' requests through the object service. It implements
// pluginhost.Kernel. Permissions were checked by the host before a request gets here.
type Calls struct {
	Objects *objects.Service
	// Config returns a plugin's configuration (the Plugin object's spec.config).
	Config func(plugin string) json.RawMessage
}

var _ pluginhost.Kernel = (*Calls)(nil)

// Call implements pluginhost.Kernel.
func (c *Calls) Call(ctx context.Context, caller pluginhost.Caller, op sdk.Op, req *sdk.CallRequest) ([]byte, error) {
	ctx = objects.WithUser(ctx, objects.User{
		Name:   UserPrefix + caller.Plugin,
		Groups: []string{"system:plugins"},
		Agent:  caller.Plugin + "/" + caller.Version,
	})
	if op == sdk.OpConfig {
		if c.Config == nil {
			return []byte("{}"), nil
		}
		return c.Config(caller.Plugin), nil
	}
	if op == sdk.OpEvent {
		return c.event(ctx, caller, req)
	}
	e, ok := c.Objects.Registry().Snapshot().Lookup(schema.GroupVersionResource{Group: req.Group, Version: req.Version, Resource: req.Resource})
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: req.Group, Resource: req.Resource}, req.Name)
	}
	opts := objects.WriteOptions{FieldManager: caller.Plugin, FieldValidation: objects.FieldValidationStrict}
	switch op {
	case sdk.OpGet:
		obj, err := c.Objects.Get(ctx, e, req.Namespace, req.Name, "")
		return encode(obj, err)
	case sdk.OpList:
		sel, err := objects.ParseSelector(req.LabelSelector, req.FieldSelector)
		if err != nil {
			return nil, err
		}
		list, err := c.Objects.List(ctx, e, req.Namespace, objects.ListOptions{Selector: sel})
		if err != nil {
			return nil, err
		}
		return json.Marshal(list.UnstructuredContent())
	case sdk.OpCreate, sdk.OpUpdate, sdk.OpUpdateStatus:
		obj, problems, err := objects.DecodeBody(req.Object, false)
		if err != nil {
			return nil, err
		}
		opts.DecodeProblems = problems
		var res objects.Result
		switch op {
		case sdk.OpCreate:
			res, err = c.Objects.Create(ctx, e, req.Namespace, obj, opts)
		case sdk.OpUpdate:
			res, err = c.Objects.Update(ctx, e, req.Namespace, obj.GetName(), "", obj, opts)
		default:
			res, err = c.Objects.Update(ctx, e, req.Namespace, obj.GetName(), objects.SubStatus, obj, opts)
		}
		recordWrite(ctx, e, res.Object, err, 0)
		return encodeWrite(req, res.Object, err)
	case sdk.OpPatch:
		pt, ok := patchTypes[req.PatchType]
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("patchType %q is not json, merge, strategic or apply", req.PatchType))
		}
		res, err := c.Objects.Patch(ctx, e, req.Namespace, req.Name, "", pt, req.Patch, opts)
		recordWrite(ctx, e, res.Object, err, 0)
		return encodeWrite(req, res.Object, err)
	case sdk.OpDelete:
		d := objects.DeleteOptions{}
		if req.PropagationPolicy != "" {
			pp := metav1.DeletionPropagation(req.PropagationPolicy)
			d.PropagationPolicy = &pp
		}
		if req.UID != "" || req.ResourceVersion != "" {
			d.Preconditions = &metav1.Preconditions{}
			if req.UID != "" {
				uid := types.UID(req.UID)
				d.Preconditions.UID = &uid
			}
			if req.ResourceVersion != "" {
				d.Preconditions.ResourceVersion = &req.ResourceVersion
			}
		}
		res, err := c.Objects.Delete(ctx, e, req.Namespace, req.Name, d)
		if err != nil {
			return nil, err
		}
		// A deletion lands after the last stored version.
		recordWrite(ctx, e, res.Object, nil, 1)
		return []byte("{}"), nil
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("operation %d is not served", op))
}

var patchTypes = map[string]types.PatchType{
	"json":      types.JSONPatchType,
	"merge":     types.MergePatchType,
	"strategic": types.StrategicMergePatchType,
	"apply":     types.ApplyYAMLPatchType,
}

// writeLog collects the revisions a reconcile wrote, per kind, so the controller
// runtime can feed them back before the next reconcile: a controller reads its own
// writes.
type writeLog struct {
	mu   sync.Mutex
	revs map[schema.GroupVersionKind]int64
}

type writeLogKey struct{}

func recordWrite(ctx context.Context, e *registry.Entry, obj *unstructured.Unstructured, err error, after int64) {
	wl, _ := ctx.Value(writeLogKey{}).(*writeLog)
	if wl == nil || err != nil || obj == nil {
		return
	}
	rv, perr := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	if perr != nil {
		return
	}
	wl.mu.Lock()
	wl.revs[e.Kind.GVK()] = max(wl.revs[e.Kind.GVK()], rv+after)
	wl.mu.Unlock()
}

// encodeWrite returns what a write made: the whole object, or only its metadata when
// the plugin asked for no more (a fed controller learns the rest from its feed).
func encodeWrite(req *sdk.CallRequest, obj *unstructured.Unstructured, err error) ([]byte, error) {
	if err != nil || !req.MetaOnly {
		return encode(obj, err)
	}
	meta, _ := obj.Object["metadata"].(map[string]any)
	trimmed := make(map[string]any, len(meta))
	for k, v := range meta {
		if k != "managedFields" {
			trimmed[k] = v
		}
	}
	return json.Marshal(map[string]any{"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(), "metadata": trimmed})
}

func encode(obj *unstructured.Unstructured, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return json.Marshal(obj.Object)
}

// event records a core/v1 Event about an object, reported by the plugin.
func (c *Calls) event(ctx context.Context, caller pluginhost.Caller, req *sdk.CallRequest) ([]byte, error) {
	e, ok := c.Objects.Registry().Snapshot().LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Event"})
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "events"}, "")
	}
	ns := req.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	now := time.Now().UTC().Format(time.RFC3339)
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Event",
		// Named as Kubernetes names events: the object's name and a unique suffix.
		"metadata": map[string]any{"name": fmt.Sprintf("%s.%x", req.Name, time.Now().UnixNano()), "namespace": ns},
		"involvedObject": map[string]any{
			"apiVersion": schema.GroupVersion{Group: req.Group, Version: req.Version}.String(),
			"kind":       kindOf(c.Objects.Registry().Snapshot(), req), "namespace": req.Namespace, "name": req.Name, "uid": req.UID,
		},
		"type": req.EventType, "reason": req.Reason, "message": req.Message,
		"source":             map[string]any{"component": "plugin/" + caller.Plugin},
		"reportingComponent": "weft.dev/plugin-" + caller.Plugin,
		"firstTimestamp":     now, "lastTimestamp": now, "count": int64(1),
	}}
	res, err := c.Objects.Create(ctx, e, ns, ev, objects.WriteOptions{FieldManager: caller.Plugin})
	return encode(res.Object, err)
}

func kindOf(snap *registry.Snapshot, req *sdk.CallRequest) string {
	if e, ok := snap.Lookup(schema.GroupVersionResource{Group: req.Group, Version: req.Version, Resource: req.Resource}); ok {
		return e.Kind.Kind
	}
	return ""
}
