package objects

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

// Get reads one object. A resourceVersion asks for a state at least that new.
func (s *Service) Get(ctx context.Context, e *registry.Entry, namespace, name, resourceVersion string) (*unstructured.Unstructured, error) {
	rv, err := parseRV(resourceVersion)
	if err != nil {
		return nil, err
	}
	if err := s.waitFor(ctx, rv); err != nil {
		return nil, err
	}
	obj, _, err := s.get(ctx, e, namespace, name)
	return obj, err
}

// get reads the current version of one object and its store record.
func (s *Service) get(ctx context.Context, e *registry.Entry, namespace, name string) (*unstructured.Unstructured, store.KV, error) {
	kv, err := s.store.Get(ctx, e.Key(namespace, name), 0)
	if err != nil {
		return nil, kv, storeError(e, name, err)
	}
	obj, err := s.decode(e, kv)
	return obj, kv, err
}

// waitFor waits until the store has reached rev, as a read "not older than rev" needs.
func (s *Service) waitFor(ctx context.Context, rev int64) error {
	if rev <= s.store.CurrentRevision() {
		return nil
	}
	deadline := time.Now().Add(s.cfg.WaitForRevision)
	for s.store.CurrentRevision() < rev {
		if time.Now().After(deadline) {
			return tooLargeRV(fmt.Errorf("%d, current: %d", rev, s.store.CurrentRevision()))
		}
		select {
		case <-ctx.Done():
			return storeError(nil, "", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Selector filters objects by labels and fields.
type Selector struct {
	Labels labels.Selector // nil selects everything
	Fields fields.Selector // nil selects everything
}

func (sel Selector) empty() bool {
	return (sel.Labels == nil || sel.Labels.Empty()) && (sel.Fields == nil || sel.Fields.Empty())
}

// Matches reports whether obj is selected.
func (sel Selector) Matches(e *registry.Entry, obj *unstructured.Unstructured) bool {
	if sel.Labels != nil && !sel.Labels.Empty() && !sel.Labels.Matches(labels.Set(obj.GetLabels())) {
		return false
	}
	if sel.Fields != nil && !sel.Fields.Empty() {
		return sel.Fields.Matches(objectFields{e: e, obj: obj.Object})
	}
	return true
}

// ParseSelector parses a label selector and a field selector, either of which may be
// empty, with kube-apiserver's error messages.
func ParseSelector(label, field string) (Selector, error) {
	var sel Selector
	if label != "" {
		parsed, err := labels.Parse(label)
		if err != nil {
			return sel, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		sel.Labels = parsed
	}
	if field != "" {
		parsed, err := fields.ParseSelector(field)
		if err != nil {
			return sel, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		sel.Fields = parsed
	}
	return sel, nil
}

// objectFields exposes an object's selectable fields to a fields.Selector.
type objectFields struct {
	e   *registry.Entry
	obj map[string]any
}

func (f objectFields) Has(field string) bool {
	_, ok := f.e.FieldValue(f.obj, field)
	return ok
}

func (f objectFields) Get(field string) string {
	v, _ := f.e.FieldValue(f.obj, field)
	return v
}

// CheckSelector rejects field selectors on fields the kind does not offer, as
// kube-apiserver does, instead of silently matching nothing.
func CheckSelector(e *registry.Entry, sel Selector) error {
	if sel.Fields == nil {
		return nil
	}
	for _, r := range sel.Fields.Requirements() {
		if _, ok := e.FieldValue(map[string]any{}, r.Field); !ok {
			return apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
		}
	}
	return nil
}

// ListOptions are the parameters of a list.
type ListOptions struct {
	Selector
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
	Limit                int64
	Continue             string
}

// continueToken is the opaque continue value, shaped like kube-apiserver's so that
// clients treating it as opaque keep working.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

// List reads a page of objects in namespace ("" for all namespaces).
func (s *Service) List(ctx context.Context, e *registry.Entry, namespace string, opts ListOptions) (*unstructured.UnstructuredList, error) {
	if err := CheckSelector(e, opts.Selector); err != nil {
		return nil, err
	}
	prefix := e.ListPrefix(namespace)
	rev, after := int64(0), ""
	switch {
	case opts.Continue != "":
		if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
			return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
		}
		tok, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, err
		}
		rev, after = tok.ResourceVersion, tok.StartKey
	case opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact:
		n, err := parseRV(opts.ResourceVersion)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, apierrors.NewBadRequest("resourceVersionMatch=Exact requires a non-zero resourceVersion")
		}
		rev = n
	case opts.ResourceVersionMatch == "" || opts.ResourceVersionMatch == metav1.ResourceVersionMatchNotOlderThan:
		if opts.ResourceVersionMatch != "" && opts.ResourceVersion == "" {
			return nil, apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
		}
		n, err := parseRV(opts.ResourceVersion)
		if err != nil {
			return nil, err
		}
		if err := s.waitFor(ctx, n); err != nil {
			return nil, err
		}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unsupported resourceVersionMatch %q", opts.ResourceVersionMatch))
	}

	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": e.APIVersion(), "kind": e.ListKind}}
	list.Items = []unstructured.Unstructured{}
	limit := int(opts.Limit)
	for {
		page := limit
		if page > 0 && !opts.empty() {
			// Selectors discard some keys; read ahead so one page usually suffices.
			page = max(page*2, 64)
		}
		res, err := s.store.List(ctx, store.ListOptions{Prefix: prefix, After: after, Revision: rev, Limit: page})
		if err != nil {
			if errors.Is(err, store.ErrCompacted) && opts.Continue != "" {
				return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
			}
			return nil, storeError(e, "", err)
		}
		rev = res.Revision
		for i, kv := range res.KVs {
			obj, err := s.decode(e, kv)
			if err != nil {
				return nil, err
			}
			after = kv.Key
			if !opts.Matches(e, obj) {
				continue
			}
			list.Items = append(list.Items, *obj)
			if limit > 0 && len(list.Items) == limit {
				if i < len(res.KVs)-1 || res.More {
					list.SetContinue(encodeContinue(rev, after))
				}
				list.SetResourceVersion(strconv.FormatInt(rev, 10))
				return list, nil
			}
		}
		if !res.More {
			break
		}
	}
	list.SetResourceVersion(strconv.FormatInt(rev, 10))
	return list, nil
}

func encodeContinue(rev int64, after string) string {
	raw, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: after})
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeContinue(s, prefix string) (continueToken, error) {
	var tok continueToken
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(raw, &tok)
	}
	if err != nil || tok.APIVersion != "meta.k8s.io/v1" || tok.ResourceVersion <= 0 || !strings.HasPrefix(tok.StartKey, prefix) {
		return tok, apierrors.NewBadRequest("continue key is not valid: it was not produced by this list")
	}
	return tok, nil
}
