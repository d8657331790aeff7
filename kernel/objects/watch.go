package objects

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

// InitialEventsEndAnnotation marks the bookmark that ends the initial events of a
// watch with sendInitialEvents=true.
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"

// initialPage is how many keys the initial events of a watch read at a time.
const initialPage = 500

// WatchOptions are the parameters of a watch.
type WatchOptions struct {
	Selector
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
	SendInitialEvents    *bool
	AllowBookmarks       bool
	// Shared watchers get objects decoded once for every shared watcher of the same
	// change, and must not modify them.
	Shared bool
}

// Watch streams changes to objects in namespace ("" for all) with Kubernetes'
// resourceVersion semantics: "" and "0" start with the current objects as ADDED events,
// a specific version streams what happened after it. Errors in the stream (a version
// compacted away) arrive as an ERROR event carrying a Status, then the stream ends.
func (s *Service) Watch(ctx context.Context, e *registry.Entry, namespace string, opts WatchOptions) (watch.Interface, error) {
	if err := CheckSelector(e, opts.Selector); err != nil {
		return nil, err
	}
	rv, err := parseRV(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	if opts.SendInitialEvents != nil {
		if opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			return nil, apierrors.NewBadRequest("sendInitialEvents requires resourceVersionMatch=NotOlderThan")
		}
		if !opts.AllowBookmarks {
			return nil, apierrors.NewBadRequest("sendInitialEvents requires allowWatchBookmarks=true")
		}
	} else if opts.ResourceVersionMatch != "" {
		return nil, apierrors.NewBadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
	}
	initial := opts.SendInitialEvents != nil && *opts.SendInitialEvents ||
		opts.SendInitialEvents == nil && rv == 0
	if initial || opts.ResourceVersion == "" {
		if err := s.waitFor(ctx, rv); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	w := &objectWatch{ch: make(chan watch.Event, 64), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer close(w.ch)
		s.runWatch(ctx, w, e, namespace, opts, rv, initial)
	}()
	return w, nil
}

type objectWatch struct {
	ch     chan watch.Event
	cancel context.CancelFunc
	done   chan struct{}
}

func (w *objectWatch) ResultChan() <-chan watch.Event { return w.ch }

// Stop ends the watch and waits for its goroutine, so nothing leaks past Stop.
func (w *objectWatch) Stop() {
	w.cancel()
	for range w.ch { // unblock a pending send
	}
	<-w.done
}

func (w *objectWatch) send(ctx context.Context, ev watch.Event) bool {
	select {
	case w.ch <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Service) runWatch(ctx context.Context, w *objectWatch, e *registry.Entry, namespace string, opts WatchOptions, rv int64, initial bool) {
	prefix := e.ListPrefix(namespace)
	fail := func(err error) {
		status := apierrors.APIStatus(nil)
		if !errors.As(err, &status) {
			status = apierrors.NewInternalError(err)
		}
		st := status.Status()
		w.send(ctx, watch.Event{Type: watch.Error, Object: &st})
	}
	from := rv + 1
	if initial {
		rev, ok := s.sendInitial(ctx, w, e, prefix, opts, fail)
		if !ok {
			return
		}
		if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
			b := bookmark(e, rev)
			b.SetAnnotations(map[string]string{InitialEventsEndAnnotation: "true"})
			if !w.send(ctx, watch.Event{Type: watch.Bookmark, Object: b}) {
				return
			}
		}
		from = rev + 1
	} else if opts.ResourceVersion == "" {
		from = s.store.CurrentRevision() + 1
	}
	sw, err := s.store.Watch(ctx, prefix, from, store.WatchOptions{PrevKV: true, ProgressNotify: opts.AllowBookmarks})
	if err != nil {
		fail(watchError(e, from-1, err))
		return
	}
	defer sw.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case resp, ok := <-sw.Responses():
			if !ok {
				if err := sw.Err(); err != nil && ctx.Err() == nil {
					fail(watchError(e, from-1, err))
				}
				return
			}
			if len(resp.Events) == 0 {
				if resp.Progress && opts.AllowBookmarks {
					if !w.send(ctx, watch.Event{Type: watch.Bookmark, Object: bookmark(e, resp.Revision)}) {
						return
					}
				}
				continue
			}
			for i := range resp.Events {
				ev, ok, err := s.convertEvent(e, &resp.Events[i], opts.Selector, opts.Shared)
				if err != nil {
					fail(err)
					return
				}
				if ok && !w.send(ctx, ev) {
					return
				}
			}
		}
	}
}

// sendInitial streams the objects that exist at the current revision as ADDED events
// and returns that revision.
func (s *Service) sendInitial(ctx context.Context, w *objectWatch, e *registry.Entry, prefix string, opts WatchOptions, fail func(error)) (int64, bool) {
	rev, after := int64(0), ""
	for {
		res, err := s.store.List(ctx, store.ListOptions{Prefix: prefix, After: after, Revision: rev, Limit: initialPage})
		if err != nil {
			fail(storeError(e, "", err))
			return 0, false
		}
		rev = res.Revision
		for _, kv := range res.KVs {
			after = kv.Key
			obj, err := s.decode(e, kv)
			if err != nil {
				fail(err)
				return 0, false
			}
			if opts.Matches(e, obj) && !w.send(ctx, watch.Event{Type: watch.Added, Object: obj}) {
				return 0, false
			}
		}
		if !res.More {
			return rev, true
		}
	}
}

// convertEvent turns a store event into a watch event as a client filtered by sel sees
// it: an object entering the selection is ADDED and one leaving it is DELETED.
func (s *Service) convertEvent(e *registry.Entry, ev *store.Event, sel Selector, shared bool) (watch.Event, bool, error) {
	decode := s.decode
	if shared {
		decode = s.DecodeShared
	}
	var prev *unstructured.Unstructured
	if ev.PrevKV != nil && (ev.Type == store.EventDelete || !sel.empty()) {
		p, err := decode(e, *ev.PrevKV)
		if err != nil {
			return watch.Event{}, false, err
		}
		prev = p
	}
	if ev.Type == store.EventDelete {
		if prev == nil || !sel.Matches(e, prev) {
			return watch.Event{}, false, nil
		}
		if shared {
			prev = withResourceVersion(prev, ev.KV.ModRevision)
		} else {
			prev.SetResourceVersion(strconv.FormatInt(ev.KV.ModRevision, 10))
		}
		return watch.Event{Type: watch.Deleted, Object: prev}, true, nil
	}
	cur, err := decode(e, ev.KV)
	if err != nil {
		return watch.Event{}, false, err
	}
	curMatch := sel.Matches(e, cur)
	switch {
	case ev.KV.CreateRevision == ev.KV.ModRevision || ev.PrevKV == nil:
		if !curMatch {
			return watch.Event{}, false, nil
		}
		if ev.KV.CreateRevision == ev.KV.ModRevision {
			return watch.Event{Type: watch.Added, Object: cur}, true, nil
		}
		return watch.Event{Type: watch.Modified, Object: cur}, true, nil
	case sel.empty():
		return watch.Event{Type: watch.Modified, Object: cur}, true, nil
	}
	prevMatch := sel.Matches(e, prev)
	switch {
	case curMatch && prevMatch:
		return watch.Event{Type: watch.Modified, Object: cur}, true, nil
	case curMatch:
		return watch.Event{Type: watch.Added, Object: cur}, true, nil
	case prevMatch:
		return watch.Event{Type: watch.Deleted, Object: cur}, true, nil
	}
	return watch.Event{}, false, nil
}

func bookmark(e *registry.Entry, rev int64) *unstructured.Unstructured {
	b := newObject(e)
	b.SetResourceVersion(strconv.FormatInt(rev, 10))
	return b
}

// watchError is what a client sees when a watch cannot continue.
func watchError(e *registry.Entry, rv int64, err error) error {
	if errors.Is(err, store.ErrCompacted) {
		return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", rv))
	}
	return storeError(e, "", err)
}
