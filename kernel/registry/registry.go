package registry

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	wschema "weft.dev/weft/kernel/schema"
)

var (
	// ErrInvalid reports a kind definition the registry refuses.
	ErrInvalid = errors.New("registry: invalid kind")
	// ErrConflict reports a kind, resource or short name already registered by another owner.
	ErrConflict = errors.New("registry: conflicting kind")
	// ErrNotFound reports an unknown kind.
	ErrNotFound = errors.New("registry: kind not found")
)

// Entry is a registered kind with everything derived from its definition.
type Entry struct {
	Kind
	Structural *wschema.Structural
	// Prefix is the store key prefix of every object of the kind.
	Prefix  string
	columns []compiledColumn
}

// Snapshot is an immutable view of the registry.
type Snapshot struct {
	Generation uint64
	byGVR      map[schema.GroupVersionResource]*Entry
	byGVK      map[schema.GroupVersionKind]*Entry
	entries    []*Entry // sorted by group, version, resource
}

// Lookup finds a kind by group, version and resource.
func (s *Snapshot) Lookup(gvr schema.GroupVersionResource) (*Entry, bool) {
	e, ok := s.byGVR[gvr]
	return e, ok
}

// LookupKind finds a kind by group, version and kind.
func (s *Snapshot) LookupKind(gvk schema.GroupVersionKind) (*Entry, bool) {
	e, ok := s.byGVK[gvk]
	return e, ok
}

// Entries lists every kind, sorted by group, version and resource.
func (s *Snapshot) Entries() []*Entry { return s.entries }

// Registry holds the kinds the kernel serves.
type Registry struct {
	mu   sync.Mutex // serialises writers; readers use cur
	cur  atomic.Pointer[Snapshot]
	subs []chan struct{}
}

// New returns an empty registry.
func New() *Registry {
	r := &Registry{}
	r.cur.Store(&Snapshot{byGVR: map[schema.GroupVersionResource]*Entry{}, byGVK: map[schema.GroupVersionKind]*Entry{}})
	return r
}

// Snapshot returns the current immutable view.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Subscribe returns a channel that receives a value after every change. Deliveries
// coalesce: a subscriber that is slow sees one notification for several changes.
func (r *Registry) Subscribe() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{}, 1)
	r.subs = append(r.subs, ch)
	return ch
}

// Register adds kinds, or replaces kinds with the same group, version and resource
// registered by the same owner. Either all kinds are registered or none is.
func (r *Registry) Register(kinds ...Kind) error {
	entries := make([]*Entry, 0, len(kinds))
	for _, k := range kinds {
		e, err := compile(k)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	byGVR := maps.Clone(old.byGVR)
	for _, e := range entries {
		if prev, ok := byGVR[e.GVR()]; ok && prev.Owner != e.Owner {
			return fmt.Errorf("%w: %s is owned by %q", ErrConflict, e.GVR(), prev.Owner)
		}
		byGVR[e.GVR()] = e
	}
	next, err := build(old.Generation+1, byGVR)
	if err != nil {
		return err
	}
	r.publish(next)
	return nil
}

// Unregister removes a kind registered by owner.
func (r *Registry) Unregister(owner string, gvr schema.GroupVersionResource) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	prev, ok := old.byGVR[gvr]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, gvr)
	}
	if prev.Owner != owner {
		return fmt.Errorf("%w: %s is owned by %q", ErrConflict, gvr, prev.Owner)
	}
	byGVR := maps.Clone(old.byGVR)
	delete(byGVR, gvr)
	next, err := build(old.Generation+1, byGVR)
	if err != nil {
		return err
	}
	r.publish(next)
	return nil
}

func (r *Registry) publish(s *Snapshot) {
	r.cur.Store(s)
	for _, ch := range r.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// build indexes entries and checks cross-kind constraints.
func build(gen uint64, byGVR map[schema.GroupVersionResource]*Entry) (*Snapshot, error) {
	s := &Snapshot{Generation: gen, byGVR: byGVR, byGVK: make(map[schema.GroupVersionKind]*Entry, len(byGVR))}
	short := map[string]*Entry{}
	storage := map[string]*Entry{}
	for _, e := range byGVR {
		if prev, ok := s.byGVK[e.GVK()]; ok {
			return nil, fmt.Errorf("%w: kind %s is served by both %s and %s", ErrConflict, e.GVK(), prev.Resource, e.Resource)
		}
		s.byGVK[e.GVK()] = e
		// One version per resource for now: two versions would share storage and need
		// conversion, which the kernel does not do yet.
		if prev, ok := storage[e.Prefix]; ok {
			return nil, fmt.Errorf("%w: %s and %s would share storage", ErrConflict, prev.GVR(), e.GVR())
		}
		storage[e.Prefix] = e
		for _, n := range append([]string{e.Resource, e.Singular}, e.ShortNames...) {
			if prev, ok := short[n]; ok && prev.Group == e.Group && prev != e {
				return nil, fmt.Errorf("%w: name %q is used by both %s and %s", ErrConflict, n, prev.GVR(), e.GVR())
			}
			short[n] = e
		}
		s.entries = append(s.entries, e)
	}
	slices.SortFunc(s.entries, func(a, b *Entry) int {
		return strings.Compare(a.Group+"/"+a.Version+"/"+a.Resource, b.Group+"/"+b.Version+"/"+b.Resource)
	})
	return s, nil
}

// compile validates a kind definition and derives its entry.
func compile(k Kind) (*Entry, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, k.String(), fmt.Sprintf(format, args...))
	}
	if k.Group != "" {
		if errs := validation.IsDNS1123Subdomain(k.Group); len(errs) > 0 {
			return nil, bad("group: %s", strings.Join(errs, "; "))
		}
	}
	if errs := validation.IsDNS1035Label(k.Version); len(errs) > 0 || !strings.HasPrefix(k.Version, "v") {
		return nil, bad("version %q must look like v1, v1beta1 or v1alpha1", k.Version)
	}
	if k.Kind == "" || strings.ToUpper(k.Kind[:1]) != k.Kind[:1] {
		return nil, bad("kind %q must be a non-empty CamelCase name", k.Kind)
	}
	if errs := validation.IsDNS1035Label(k.Resource); len(errs) > 0 {
		return nil, bad("resource: %s", strings.Join(errs, "; "))
	}
	if k.Singular == "" {
		k.Singular = strings.ToLower(k.Kind)
	}
	if k.ListKind == "" {
		k.ListKind = k.Kind + "List"
	}
	for _, n := range append([]string{k.Singular}, k.ShortNames...) {
		if errs := validation.IsDNS1035Label(n); len(errs) > 0 {
			return nil, bad("name %q: %s", n, strings.Join(errs, "; "))
		}
	}
	if k.Owner == "" {
		return nil, bad("owner is required")
	}
	if k.Schema == nil {
		return nil, bad("schema is required")
	}
	st, err := wschema.Compile(k.Schema)
	if err != nil {
		return nil, bad("schema: %v", err)
	}
	if k.Scale != nil && (k.Scale.SpecReplicasPath == "" || k.Scale.StatusReplicasPath == "") {
		return nil, bad("scale needs specReplicasPath and statusReplicasPath")
	}
	e := &Entry{Kind: k, Structural: st, Prefix: StoragePrefix(k.Group, k.Resource)}
	for _, c := range k.Columns {
		cc, err := compileColumn(c)
		if err != nil {
			return nil, bad("column %q: %v", c.Name, err)
		}
		e.columns = append(e.columns, cc)
	}
	if g := k.Graceful; g != nil {
		for _, p := range []string{g.DefaultPath, g.BoundPath, g.TerminalPath} {
			if p == "" {
				continue
			}
			if _, err := parseFieldPath(p); err != nil {
				return nil, bad("graceful path %q: %v", p, err)
			}
		}
	}
	for _, f := range k.SelectableFields {
		if _, err := parseFieldPath(f); err != nil {
			return nil, bad("selectable field %q: %v", f, err)
		}
	}
	return e, nil
}

// Lookup returns the value at a dotted path (".spec.nodeName") of obj, or nil.
func Lookup(obj map[string]any, path string) any {
	p, err := parseFieldPath(path)
	if err != nil {
		return nil
	}
	return lookup(obj, p)
}

// StoragePrefix is where objects of a group's resource live in the store:
// /<group or "core">/<resource>/ followed by <namespace>/<name> or <name>.
func StoragePrefix(group, resource string) string {
	if group == "" {
		group = "core"
	}
	return "/" + group + "/" + resource + "/"
}

// Key is the store key of one object.
func (e *Entry) Key(namespace, name string) string {
	if e.Namespaced {
		return e.Prefix + namespace + "/" + name
	}
	return e.Prefix + name
}

// ListPrefix is the store prefix of every object in namespace ("" for all).
func (e *Entry) ListPrefix(namespace string) string {
	if e.Namespaced && namespace != "" {
		return e.Prefix + namespace + "/"
	}
	return e.Prefix
}
