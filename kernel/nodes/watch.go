package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/nodelink"
	"weft.dev/weft/nodelink/nodeapi"
	"weft.dev/weft/store"
)

// watchSource serves nodes' watches from the object service: revisions are
// resourceVersions, a compacted revision is nodelink.ErrCompacted, and idle watches
// get bookmarks so a node's resume point stays recent.
type watchSource struct{ m *Manager }

// kindScope maps a watch kind onto a registered kind and the selector a node sees.
func (m *Manager) kindScope(node, kind string) (*registry.Entry, objects.Selector, error) {
	var gvk schema.GroupVersionKind
	var sel objects.Selector
	switch kind {
	case nodeapi.KindPods:
		gvk = podGVK
		sel.Fields = fields.OneTermEqualSelector("spec.nodeName", node)
	case nodeapi.KindConfigMaps:
		gvk = configMapGVK
	case nodeapi.KindSecrets:
		gvk = secretGVK
	case nodeapi.KindNodes:
		gvk = nodeGVK
	default:
		return nil, sel, apierrors.NewBadRequest(fmt.Sprintf("nodes may not watch %q (pods, configmaps, secrets, nodes)", kind))
	}
	e, err := m.entry(gvk)
	return e, sel, err
}

func (w watchSource) Watch(ctx context.Context, node, kind string, from uint64, send func(nodelink.Event) error) error {
	m := w.m
	e, sel, err := m.kindScope(node, kind)
	if err != nil {
		return err
	}
	if from == 0 {
		// From now: a node lists first (OpList) and watches from the list's revision.
		from = uint64(m.objects.Store().CurrentRevision())
	}
	key := "" // every node sees every object of the kind
	if kind == nodeapi.KindPods {
		key = node
	}
	f, err := m.fanoutFor(kind, e)
	if err != nil {
		m.log.Warn("node watch fanout", "kind", kind, "err", err)
	} else if sub, err := f.subscribe(key, int64(from)); err == nil {
		return f.serve(ctx, sub, send)
	}
	// The fanout's ring does not reach back to from: read the store's history until
	// the watch is recent enough to move over to the fanout.
	wctx, stop := context.WithCancel(m.nodeCtx(ctx, node))
	defer stop()
	wi, err := m.objects.Watch(wctx, e, "", objects.WatchOptions{
		Selector: sel, ResourceVersion: strconv.FormatUint(from, 10), AllowBookmarks: true,
	})
	if err != nil {
		return watchErr(err)
	}
	defer wi.Stop()
	last := from
	for {
		if f != nil {
			if sub, err := f.subscribe(key, int64(last)); err == nil {
				stop()
				wi.Stop()
				return f.serve(ctx, sub, send)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return nil
			}
			var out nodelink.Event
			switch ev.Type {
			case watch.Added:
				out.Type = nodelink.Added
			case watch.Modified:
				out.Type = nodelink.Modified
			case watch.Deleted:
				out.Type = nodelink.Deleted
			case watch.Bookmark:
				out.Type = nodelink.Bookmark
			case watch.Error:
				if st, ok := ev.Object.(*metav1.Status); ok {
					return watchErr(&apierrors.StatusError{ErrStatus: *st})
				}
				return fmt.Errorf("watch %s: error event", kind)
			default:
				continue
			}
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			rev, err := strconv.ParseUint(u.GetResourceVersion(), 10, 64)
			if err != nil {
				return fmt.Errorf("watch %s: resourceVersion %q: %w", kind, u.GetResourceVersion(), err)
			}
			out.Revision = rev
			if out.Type != nodelink.Bookmark {
				if out.Object, err = json.Marshal(u.Object); err != nil {
					return err
				}
			}
			if err := send(out); err != nil {
				return err
			}
			last = rev
		}
	}
}

// fanoutFor returns the kind's fanout, starting it on first use.
func (m *Manager) fanoutFor(kind string, e *registry.Entry) (*fanout, error) {
	m.fanMu.Lock()
	defer m.fanMu.Unlock()
	if f := m.fanouts[kind]; f != nil {
		return f, nil
	}
	var key func(*unstructured.Unstructured) string
	if kind == nodeapi.KindPods {
		key = func(u *unstructured.Unstructured) string {
			n, _, _ := unstructured.NestedString(u.Object, "spec", "nodeName")
			return n
		}
	}
	dec := func(kv store.KV) (*unstructured.Unstructured, error) { return m.objects.DecodeShared(e, kv) }
	f := newFanout(m.log.With("kind", kind), m.objects.Store(), e.ListPrefix(""), dec, key)
	f.sealed = e.EncryptAtRest
	if err := f.start(m.fanCtx); err != nil {
		return nil, err
	}
	m.fanouts[kind] = f
	return f, nil
}

func watchErr(err error) error {
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return fmt.Errorf("%w: %v", nodelink.ErrCompacted, err)
	}
	var se apierrors.APIStatus
	if ok := asStatus(err, &se); ok && se.Status().Code == http.StatusGone {
		return fmt.Errorf("%w: %v", nodelink.ErrCompacted, err)
	}
	return err
}

func asStatus(err error, se *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	if ok {
		*se = s
	}
	return ok
}

func gr(resource string) schema.GroupResource { return schema.GroupResource{Resource: resource} }
