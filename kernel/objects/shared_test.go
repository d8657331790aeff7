package objects

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

func TestDecodeShared(t *testing.T) {
	s, e := &Service{}, &registry.Entry{}
	kv := func(name string, rev int64, size int) store.KV {
		pad := make([]byte, size)
		for i := range pad {
			pad[i] = 'x'
		}
		return store.KV{Key: "/core/pods/ns/" + name, ModRevision: rev, CreateRevision: 1,
			Value: fmt.Appendf(nil, `{"metadata":{"name":%q},"pad":%q}`, name, pad)}
	}
	a1, err := s.DecodeShared(e, kv("a", 5, 10))
	if err != nil {
		t.Fatal(err)
	}
	if a2, _ := s.DecodeShared(e, kv("a", 5, 10)); a2 != a1 {
		t.Fatal("one version decoded twice")
	}
	if b, _ := s.DecodeShared(e, kv("a", 6, 10)); b == a1 || b.GetResourceVersion() != "6" {
		t.Fatalf("another version shared: %v", b.GetResourceVersion())
	}
	// The stored JSON of a shared decode, for encoding it again; none for an object
	// that is not one, or for a kind stored sealed.
	if raw := s.StoredJSON(a1); string(raw) != string(kv("a", 5, 10).Value) {
		t.Fatalf("stored JSON of a shared decode: %q", raw)
	}
	if raw := s.StoredJSON(a1.DeepCopy()); raw != nil {
		t.Fatalf("stored JSON of a copy: %q", raw)
	}
	sealed := &registry.Entry{Kind: registry.Kind{EncryptAtRest: true}}
	if !plainJSON(e, kv("a", 5, 10).Value) || plainJSON(sealed, kv("a", 5, 10).Value) || plainJSON(e, []byte("k1:...")) {
		t.Fatal("plainJSON")
	}

	// A delete event carries the delete's revision without touching the shared object.
	ev := store.Event{Type: store.EventDelete, KV: store.KV{Key: "/core/pods/ns/a", ModRevision: 9}, PrevKV: ptr(kv("a", 5, 10))}
	got, ok, err := s.convertEvent(e, &ev, Selector{}, true)
	if err != nil || !ok || got.Type != watch.Deleted {
		t.Fatalf("delete: %v %v %v", got, ok, err)
	}
	if rv := got.Object.(interface{ GetResourceVersion() string }).GetResourceVersion(); rv != "9" || a1.GetResourceVersion() != "5" {
		t.Fatalf("delete event at %s, shared object now at %s", rv, a1.GetResourceVersion())
	}

	// Old versions give way to new ones within the budget.
	const size = 64 << 10
	for i := range 2 * sharedBudget / size {
		if _, err := s.DecodeShared(e, kv(fmt.Sprint("p", i), 10, size)); err != nil {
			t.Fatal(err)
		}
	}
	if s.shared.get(sharedKey{"/core/pods/ns/a", 5}) != nil || s.shared.get(sharedKey{"/core/pods/ns/p0", 10}) != nil {
		t.Fatal("oldest versions kept past the budget")
	}
	last := fmt.Sprint("/core/pods/ns/p", 2*sharedBudget/size-1)
	if s.shared.get(sharedKey{last, 10}) == nil {
		t.Fatal("newest version not kept")
	}
	if s.shared.bytes > sharedBudget {
		t.Fatalf("%d bytes kept, budget %d", s.shared.bytes, sharedBudget)
	}
	if s.StoredJSON(a1) != nil || len(s.shared.byObject) != len(s.shared.byKey) {
		t.Fatalf("an evicted version's JSON kept: %d objects, %d versions", len(s.shared.byObject), len(s.shared.byKey))
	}
}

func ptr[T any](v T) *T { return &v }
