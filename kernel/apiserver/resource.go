package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/ujson"
)

var notFoundGR = schema.GroupResource{}

// serveResource dispatches a resource request to the object service.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	e, ok := s.reg.Snapshot().Lookup(ri.GV.WithResource(ri.Resource))
	if !ok {
		writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
		return
	}
	if ri.Subresource != "" && ri.Name != "" {
		if sr, ok := s.extension(e, ri.Subresource); ok {
			s.serveExtension(w, r, e, ri, sr)
			return
		}
	}
	if err := checkScope(e, ri); err != nil {
		writeStatus(w, err)
		return
	}
	out, err := negotiate(r)
	if err != nil {
		writeStatus(w, objects.NotAcceptable("only application/json, application/yaml and Table or PartialObjectMetadata of meta.k8s.io v1 and v1beta1 are served"))
		return
	}
	q := r.URL.Query()
	switch ri.Verb {
	case "get":
		s.get(w, r, e, ri, out, q)
	case "list":
		s.list(w, r, e, ri, out, q)
	case "watch":
		s.watch(w, r, e, ri, out, q)
	case "create":
		s.create(w, r, e, ri, out, q)
	case "update":
		s.update(w, r, e, ri, out, q)
	case "patch":
		s.patch(w, r, e, ri, out, q)
	case "delete":
		s.delete(w, r, e, ri, out, q)
	case "deletecollection":
		s.deleteCollection(w, r, e, ri, out, q)
	default:
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: e.Group, Resource: e.Resource}, ri.Verb))
	}
}

func (s *Server) serveExtension(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, sr Subresource) {
	if (e.Namespaced && ri.Namespace == "") || (!e.Namespaced && ri.Namespace != "") {
		writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
		return
	}
	if !slices.Contains(sr.Verbs, ri.Verb) {
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: e.Group, Resource: e.Resource + "/" + ri.Subresource}, ri.Verb))
		return
	}
	sr.Handler.ServeSubresource(w, r, SubresourceRequest{Kind: e, Namespace: ri.Namespace, Name: ri.Name, Subresource: ri.Subresource, Verb: ri.Verb})
}

// checkScope rejects a namespace on a cluster-scoped kind, a missing namespace where
// one is required, and subresources the kind does not have.
func checkScope(e *registry.Entry, ri requestInfo) error {
	nf := apierrors.NewNotFound(notFoundGR, "")
	if !e.Namespaced && ri.Namespace != "" {
		return nf
	}
	if e.Namespaced && ri.Namespace == "" && ri.Verb != "list" && ri.Verb != "watch" {
		return nf
	}
	switch ri.Subresource {
	case "":
	case objects.SubStatus:
		if !e.Status {
			return nf
		}
	case objects.SubScale:
		if e.Scale == nil {
			return nf
		}
	case objects.SubFinalize:
		if e.GVK() != (schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}) || ri.Verb != "update" {
			return nf
		}
	default:
		return nf
	}
	if ri.Subresource != "" {
		switch ri.Verb {
		case "get", "update", "patch":
		default:
			return apierrors.NewMethodNotSupported(schema.GroupResource{Group: e.Group, Resource: e.Resource + "/" + ri.Subresource}, ri.Verb)
		}
	}
	return nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, out output, q url.Values) {
	var obj *unstructured.Unstructured
	var err error
	if ri.Subresource == objects.SubScale {
		obj, err = s.objects.GetScale(r.Context(), e, ri.Namespace, ri.Name)
	} else {
		obj, err = s.objects.Get(r.Context(), e, ri.Namespace, ri.Name, q.Get("resourceVersion"))
	}
	if err != nil {
		writeStatus(w, err)
		return
	}
	s.writeObject(w, e, out, q, http.StatusOK, obj)
}

// writeObject writes one object in the negotiated form.
func (s *Server) writeObject(w http.ResponseWriter, e *registry.Entry, out output, q url.Values, code int, obj *unstructured.Unstructured) {
	switch out.as {
	case "Table":
		t, err := toTable(e, []unstructured.Unstructured{*obj}, out.metaVersion, q.Get("includeObject"), obj.GetResourceVersion(), "")
		if err != nil {
			writeStatus(w, err)
			return
		}
		writeJSON(w, out, code, t)
	case "PartialObjectMetadata":
		writeJSON(w, out, code, partialMetadata(obj, out.metaVersion))
	case "PartialObjectMetadataList":
		writeStatus(w, objects.NotAcceptable("PartialObjectMetadataList is only served for lists"))
	default:
		writeJSON(w, out, code, obj.Object)
	}
}

func partialMetadata(obj *unstructured.Unstructured, version string) map[string]any {
	return map[string]any{
		"apiVersion": "meta.k8s.io/" + version,
		"kind":       "PartialObjectMetadata",
		"metadata":   obj.Object["metadata"],
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, out output, q url.Values) {
	opts, err := listOptions(q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	list, err := s.objects.List(r.Context(), e, ri.Namespace, opts)
	if err != nil {
		writeStatus(w, err)
		return
	}
	switch out.as {
	case "Table":
		t, err := toTable(e, list.Items, out.metaVersion, q.Get("includeObject"), list.GetResourceVersion(), list.GetContinue())
		if err != nil {
			writeStatus(w, err)
			return
		}
		writeJSON(w, out, http.StatusOK, t)
	case "PartialObjectMetadataList", "PartialObjectMetadata":
		items := make([]any, len(list.Items))
		for i := range list.Items {
			items[i] = partialMetadata(&list.Items[i], out.metaVersion)
		}
		out.as = "PartialObjectMetadataList"
		writeJSON(w, out, http.StatusOK, map[string]any{
			"apiVersion": "meta.k8s.io/" + out.metaVersion,
			"kind":       "PartialObjectMetadataList",
			"metadata":   list.Object["metadata"],
			"items":      items,
		})
	default:
		writeJSON(w, out, http.StatusOK, list.UnstructuredContent())
	}
}

// selector parses labelSelector and fieldSelector.
func selector(q url.Values) (objects.Selector, error) {
	return objects.ParseSelector(q.Get("labelSelector"), q.Get("fieldSelector"))
}

func listOptions(q url.Values) (objects.ListOptions, error) {
	sel, err := selector(q)
	if err != nil {
		return objects.ListOptions{}, err
	}
	opts := objects.ListOptions{
		Selector:             sel,
		ResourceVersion:      q.Get("resourceVersion"),
		ResourceVersionMatch: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")),
		Continue:             q.Get("continue"),
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", l))
		}
		opts.Limit = n
	}
	return opts, nil
}

// writeOptions reads dryRun, fieldManager, fieldValidation and force.
func writeOptions(q url.Values) (objects.WriteOptions, error) {
	var opts objects.WriteOptions
	for _, d := range q["dryRun"] {
		if d != metav1.DryRunAll {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value %q: valid values are %q", d, metav1.DryRunAll))
		}
		opts.DryRun = true
	}
	opts.FieldManager = q.Get("fieldManager")
	if len(opts.FieldManager) > 128 {
		return opts, apierrors.NewBadRequest("fieldManager must be 128 characters or fewer")
	}
	for _, c := range opts.FieldManager {
		if !unicode.IsPrint(c) {
			return opts, apierrors.NewBadRequest("fieldManager must contain only printable characters")
		}
	}
	opts.FieldValidation = q.Get("fieldValidation")
	if f := q.Get("force"); f != "" {
		b, err := strconv.ParseBool(f)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid force %q", f))
		}
		opts.Force = b
	}
	return opts, nil
}

// readBody reads a request body within the size limit, telling YAML from JSON by
// Content-Type.
func readBody(r *http.Request) ([]byte, string, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, "", apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", tooLarge.Limit))
		}
		return nil, "", apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	ct := r.Header.Get("Content-Type")
	mt := "application/json"
	if ct != "" {
		parsed, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, "", objects.UnsupportedMediaType(ct)
		}
		mt = parsed
	}
	return data, mt, nil
}

// decodeObject decodes a create or update body.
func decodeObject(r *http.Request) (*unstructured.Unstructured, []string, error) {
	data, mt, err := readBody(r)
	if err != nil {
		return nil, nil, err
	}
	if len(data) == 0 {
		return nil, nil, apierrors.NewBadRequest("the request body is empty")
	}
	switch mt {
	case "application/json", "application/yaml":
		return objects.DecodeBody(data, mt == "application/yaml")
	case protobufMediaType:
		u, err := decodeProtobuf(data)
		return u, nil, err
	}
	return nil, nil, objects.UnsupportedMediaType(mt)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, out output, q url.Values) {
	if ri.Name != "" || ri.Subresource != "" {
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: e.Group, Resource: e.Resource}, "create"))
		return
	}
	opts, err := writeOptions(q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	obj, problems, err := decodeObject(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts.DecodeProblems = problems
	res, err := s.objects.Create(r.Context(), e, ri.Namespace, obj, opts)
	s.writeResult(w, e, out, q, res, err)
}

func (s *Server) writeResult(w http.ResponseWriter, e *registry.Entry, out output, q url.Values, res objects.Result, err error) {
	addWarnings(w, res.Warnings)
	if err != nil {
		writeStatus(w, err)
		return
	}
	code := http.StatusOK
	if res.Created {
		code = http.StatusCreated
	}
	if out.as == "" && !out.yaml && res.JSON != nil {
		// The stored bytes, with the resourceVersion put back, are the encoding:
		// encoding the object again was 2% of the kernel's CPU while pods were created.
		if raw, ok := ujson.AppendWithResourceVersion(nil, res.JSON, res.Object.GetResourceVersion(), false); ok {
			writeRaw(w, out.contentType(), code, raw)
			return
		}
	}
	s.writeObject(w, e, out, q, code, res.Object)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, out output, q url.Values) {
	opts, err := writeOptions(q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	obj, problems, err := decodeObject(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts.DecodeProblems = problems
	var res objects.Result
	if ri.Subresource == objects.SubScale {
		res, err = s.objects.UpdateScale(r.Context(), e, ri.Namespace, ri.Name, obj, opts)
	} else {
		res, err = s.objects.Update(r.Context(), e, ri.Namespace, ri.Name, ri.Subresource, obj, opts)
	}
	s.writeResult(w, e, out, q, res, err)
}

var patchTypes = map[string]types.PatchType{
	string(types.JSONPatchType):           types.JSONPatchType,
	string(types.MergePatchType):          types.MergePatchType,
	string(types.StrategicMergePatchType): types.StrategicMergePatchType,
	string(types.ApplyYAMLPatchType):      types.ApplyYAMLPatchType,
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, out output, q url.Values) {
	opts, err := writeOptions(q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	data, mt, err := readBody(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	pt, ok := patchTypes[mt]
	if !ok {
		writeStatus(w, objects.UnsupportedMediaType(mt))
		return
	}
	if len(data) == 0 {
		writeStatus(w, apierrors.NewBadRequest("the patch is empty"))
		return
	}
	res, err := s.objects.Patch(r.Context(), e, ri.Namespace, ri.Name, ri.Subresource, pt, data, opts)
	s.writeResult(w, e, out, q, res, err)
}

// deleteOptions merges the DeleteOptions body, if any, with query parameters.
func deleteOptions(r *http.Request, q url.Values) (objects.DeleteOptions, error) {
	var body metav1.DeleteOptions
	data, mt, err := readBody(r)
	if err != nil {
		return objects.DeleteOptions{}, err
	}
	switch {
	case len(data) == 0:
	case mt == protobufMediaType:
		u, err := decodeProtobuf(data)
		if err == nil {
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &body)
		}
		if err != nil {
			return objects.DeleteOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	default:
		if err := json.Unmarshal(data, &body); err != nil {
			return objects.DeleteOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	}
	opts := objects.DeleteOptions{
		PropagationPolicy:  body.PropagationPolicy,
		Preconditions:      body.Preconditions,
		GracePeriodSeconds: body.GracePeriodSeconds,
		DryRun:             len(body.DryRun) > 0,
	}
	//nolint:staticcheck // OrphanDependents is deprecated but old clients still send it.
	if body.OrphanDependents != nil && opts.PropagationPolicy == nil {
		p := metav1.DeletePropagationBackground
		if *body.OrphanDependents { //nolint:staticcheck
			p = metav1.DeletePropagationOrphan
		}
		opts.PropagationPolicy = &p
	}
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", g))
		}
		opts.GracePeriodSeconds = &n
	}
	for _, d := range append(body.DryRun, q["dryRun"]...) {
		if d != metav1.DryRunAll {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value %q: valid values are %q", d, metav1.DryRunAll))
		}
		opts.DryRun = true
	}
	return opts, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, out output, q url.Values) {
	opts, err := deleteOptions(r, q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	res, err := s.objects.Delete(r.Context(), e, ri.Namespace, ri.Name, opts)
	addWarnings(w, res.Warnings)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if !res.Deleted {
		s.writeObject(w, e, out, q, http.StatusOK, res.Object)
		return
	}
	writeJSON(w, output{yaml: out.yaml}, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details: &metav1.StatusDetails{
			Name:  ri.Name,
			Group: e.Group,
			Kind:  e.Resource,
			UID:   res.Object.GetUID(),
		},
	})
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, e *registry.Entry, ri requestInfo, out output, q url.Values) {
	sel, err := selector(q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts, err := deleteOptions(r, q)
	if err != nil {
		writeStatus(w, err)
		return
	}
	list, err := s.objects.DeleteCollection(r.Context(), e, ri.Namespace, sel, opts)
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeJSON(w, output{yaml: out.yaml}, http.StatusOK, list.UnstructuredContent())
}
