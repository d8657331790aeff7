package apiserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/ujson"
)

func (s *Server) watch(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, out output, q url.Values) {
	sel, err := selector(q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts := objects.WatchOptions{
		Selector:             sel,
		ResourceVersion:      q.Get("resourceVersion"),
		ResourceVersionMatch: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")),
		AllowBookmarks:       isTrue(q.Get("allowWatchBookmarks")),
		// Events are only encoded here.
		Shared: true,
	}
	if v := q.Get("sendInitialEvents"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("invalid sendInitialEvents %q", v)))
			return
		}
		opts.SendInitialEvents = &b
	}
	// Spread reconnects of many watchers over time, as kube-apiserver does.
	timeout := s.cfg.MinWatchTimeout + time.Duration(rand.Int64N(int64(s.cfg.MinWatchTimeout)))
	if t := q.Get("timeoutSeconds"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", t)))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	if out.as == "PartialObjectMetadataList" {
		out.as = "PartialObjectMetadata"
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	defer context.AfterFunc(s.longRunning, cancel)()
	wi, err := s.objects.Watch(ctx, e, ri.Namespace, opts)
	if err != nil {
		writeStatus(w, err)
		return
	}
	defer wi.Stop()

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", out.contentType())
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	var buf []byte
	first := true
	for ev := range wi.ResultChan() {
		var obj any = ev.Object
		var whole *unstructured.Unstructured // sent as stored
		if st, ok := ev.Object.(*metav1.Status); ok {
			st.Kind, st.APIVersion = "Status", "v1"
		}
		if u, ok := ev.Object.(*unstructured.Unstructured); ok {
			switch out.as {
			case "Table":
				var items []unstructured.Unstructured
				if ev.Type != watch.Bookmark {
					items = []unstructured.Unstructured{*u}
				}
				t, err := toTable(e, items, out.metaVersion, q.Get("includeObject"), u.GetResourceVersion(), "")
				if err != nil {
					obj = statusOf(err)
					break
				}
				// Column definitions go in the first event only; kubectl reuses them.
				if !first {
					t.ColumnDefinitions = nil
				}
				first = false
				obj = t
			case "PartialObjectMetadata":
				obj = partialMetadata(u, out.metaVersion)
			default:
				obj, whole = u.Object, u
			}
		}
		// One line of the stream: {"type":...,"object":...}.
		buf = append(buf[:0], `{"type":`...)
		buf, _ = ujson.Append(buf, string(ev.Type))
		buf = append(buf, `,"object":`...)
		var line []byte
		spliced := false
		if whole != nil {
			// The stored bytes, with the resourceVersion put back, are the encoding.
			if raw := s.objects.StoredJSON(whole); raw != nil {
				line, spliced = ujson.AppendWithResourceVersion(buf, raw, whole.GetResourceVersion(), false)
			}
		}
		if !spliced {
			if line, err = ujson.Append(buf, obj); err != nil {
				return
			}
		}
		buf = append(line, '}', '\n')
		if _, err := w.Write(buf); err != nil {
			return
		}
		if flusher != nil && len(wi.ResultChan()) == 0 {
			flusher.Flush()
		}
	}
}
