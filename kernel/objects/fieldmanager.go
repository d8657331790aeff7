package objects

import (
	"fmt"
	"maps"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"weft.dev/weft/kernel/registry"
	wschema "weft.dev/weft/kernel/schema"
)

// fieldManagers builds server-side apply field managers from the registry's schemas,
// once per registry generation.
type fieldManagers struct {
	reg *registry.Registry

	mu     sync.Mutex
	gen    uint64
	tc     managedfields.TypeConverter
	known  map[schema.GroupVersionKind]bool // the kinds tc has types for
	byKind map[fmKey]*managedfields.FieldManager
	status map[schema.GroupVersionKind]statusOwnership // for trackStatusFast
	create map[schema.GroupVersionKind]createOwnership // for trackCreateFast
}

type fmKey struct {
	gvk schema.GroupVersionKind
	sub string
}

func newFieldManagers(reg *registry.Registry) *fieldManagers {
	return &fieldManagers{reg: reg, byKind: map[fmKey]*managedfields.FieldManager{}}
}

// get returns the field manager for a kind and subresource ("" or "status").
func (f *fieldManagers) get(e *registry.Entry, sub string) (*managedfields.FieldManager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The snapshot is taken under the lock, so that a caller holding an older one
	// never rebuilds the types backwards.
	snap := f.reg.Snapshot()
	if f.tc == nil || f.gen != snap.Generation {
		kinds := map[schema.GroupVersionKind]*wschema.Structural{}
		known := map[schema.GroupVersionKind]bool{}
		for _, x := range snap.Entries() {
			kinds[x.GVK()] = x.Structural
			known[x.GVK()] = true
		}
		tc, err := wschema.NewTypeConverter(kinds)
		if err != nil {
			return nil, fmt.Errorf("build server-side apply types: %w", err)
		}
		f.tc, f.gen, f.known, f.byKind = tc, snap.Generation, known, map[fmKey]*managedfields.FieldManager{}
		f.status = map[schema.GroupVersionKind]statusOwnership{}
		f.create = map[schema.GroupVersionKind]createOwnership{}
	}
	if !f.known[e.GVK()] {
		// The caller's entry is from a registry that served the kind; this one does
		// not. A manager built now would fail every write, and be kept.
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: e.Group, Resource: e.Resource}, "")
	}
	key := fmKey{e.GVK(), sub}
	if fm, ok := f.byKind[key]; ok {
		return fm, nil
	}
	gv := e.GVK().GroupVersion()
	reset := map[fieldpath.APIVersion]fieldpath.Filter{
		fieldpath.APIVersion(gv.String()): fieldpath.NewExcludeSetFilter(resetFields(e, sub)),
	}
	fm, err := managedfields.NewDefaultCRDFieldManager(f.tc, unstructuredConverter{}, schemaDefaulter{e}, unstructuredCreater{}, e.GVK(), gv, sub, reset)
	if err != nil {
		return nil, err
	}
	f.byKind[key] = fm
	if s, root, ok := wschema.ApplyType(f.tc, e.GVK()); ok {
		walk := fieldWalker{s}
		switch sub {
		case "":
			f.create[e.GVK()] = createOwnership{walk: walk, root: root, gv: gv.String(), dropStatus: e.Status}
		case SubStatus:
			if a, ok := s.Resolve(root); ok && a.Map != nil {
				if st, ok := a.Map.FindField("status"); ok {
					f.status[e.GVK()] = statusOwnership{walk: walk, status: st.Type, gv: gv.String()}
				}
			}
		}
	}
	return fm, nil
}

// createOwnership returns what trackCreateFast needs for the kind, after a get of its
// main field manager.
func (f *fieldManagers) createOwnership(e *registry.Entry) (createOwnership, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.create[e.GVK()]
	return o, ok
}

// statusOwnership returns what trackStatusFast needs for the kind, after a get of its
// status field manager.
func (f *fieldManagers) statusOwnership(e *registry.Entry) (statusOwnership, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.status[e.GVK()]
	return o, ok
}

// trackStatus records the field ownership of a status write. Such a write changes
// only status, and the status endpoint's field manager ignores every other field, so
// ownership is computed on status and metadata alone: the same answer for half the
// work on a pod, whose status writes are most of a node's writes.
func trackStatus(fm *managedfields.FieldManager, cur, next *unstructured.Unstructured, manager string) *unstructured.Unstructured {
	slim := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		o := map[string]any{"apiVersion": u.Object["apiVersion"], "kind": u.Object["kind"]}
		if m, ok := u.Object["metadata"].(map[string]any); ok {
			o["metadata"] = maps.Clone(m)
		}
		if st, ok := u.Object["status"]; ok {
			o["status"] = st
		}
		return &unstructured.Unstructured{Object: o}
	}
	out := trackUpdate(fm, slim(cur), slim(next), manager)
	meta, ok := next.Object["metadata"].(map[string]any)
	if !ok {
		return next
	}
	om, _ := out.Object["metadata"].(map[string]any)
	if mf, ok := om["managedFields"]; ok {
		meta["managedFields"] = mf
	} else {
		delete(meta, "managedFields")
	}
	return next
}

// managerError is the API error for a failure to get a field manager.
func managerError(err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return apierrors.NewInternalError(err)
}

// resetFields are the fields a writer through this endpoint cannot own: status on the
// main resource when a status subresource exists, and everything but status on the
// status subresource.
func resetFields(e *registry.Entry, sub string) *fieldpath.Set {
	set := fieldpath.NewSet()
	switch {
	case sub == "" && e.Status:
		set.Insert(fieldpath.MakePathOrDie("status"))
	case sub == "status":
		for name := range e.Structural.Schema().Properties {
			if name != "status" && name != "apiVersion" && name != "kind" {
				set.Insert(fieldpath.MakePathOrDie(name))
			}
		}
	}
	return set
}

// managerName picks the field manager: the request's, or the client's name from its
// User-Agent as kube-apiserver does.
func managerName(explicit, agent string) string {
	if explicit != "" {
		return explicit
	}
	name, _, _ := strings.Cut(agent, "/")
	if len(name) > 128 {
		name = name[:128]
	}
	if name == "" {
		name = "unknown"
	}
	return name
}

// unstructuredConverter serves the single stored version of a kind: conversion is the
// identity. Multi-version kinds would convert here.
type unstructuredConverter struct{}

func (unstructuredConverter) Convert(in, out, _ any) error {
	u, ok1 := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return fmt.Errorf("unsupported conversion %T to %T", in, out)
	}
	o.Object = runtime.DeepCopyJSON(u.Object)
	return nil
}

// ConvertToVersion never writes to in: the field manager passes the current version
// of an object, which may be a shared decode that watchers read concurrently.
func (unstructuredConverter) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	have := in.GetObjectKind().GroupVersionKind()
	k, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{have})
	if !ok || k == have {
		return in, nil
	}
	u, isU := in.(*unstructured.Unstructured)
	if !isU {
		return nil, fmt.Errorf("unsupported conversion of %T", in)
	}
	out := &unstructured.Unstructured{Object: maps.Clone(u.Object)} // only apiVersion and kind change
	out.SetGroupVersionKind(k)
	return out, nil
}

func (unstructuredConverter) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

type schemaDefaulter struct{ e *registry.Entry }

func (d schemaDefaulter) Default(in runtime.Object) {
	if u, ok := in.(*unstructured.Unstructured); ok {
		d.e.Structural.Default(u.Object)
	}
}

type unstructuredCreater struct{}

func (unstructuredCreater) New(kind schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(kind)
	return u, nil
}
