package apps

import (
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"weft.dev/weft/sdk"
)

// Pods of one controller share equal labels, owner references and creation
// timestamps, and pods on one node its name; nothing is shared that differs, and a
// pod reads the same shared or not.
func TestPodShare(t *testing.T) {
	pod := func(owner, labels, node, created string) string {
		refs := ""
		if owner != "" {
			refs = fmt.Sprintf(`,"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":%q,"uid":%q,"controller":true}]`, owner, owner)
		}
		return fmt.Sprintf(`{"metadata":{"name":"p","namespace":"default","creationTimestamp":%q,"labels":%s%s},"spec":{"nodeName":%q},"status":{"phase":"Running"}}`, created, labels, refs, node)
	}
	for _, tc := range []struct {
		name                        string
		first, second               string
		labels, refs, created, node bool // shared
	}{
		{"same owner", pod("rs1", `{"app":"web"}`, "n1", "t1"), pod("rs1", `{"app":"web"}`, "n1", "t1"), true, true, true, true},
		{"other labels, node, time", pod("rs1", `{"app":"web"}`, "n1", "t1"), pod("rs1", `{"app":"db"}`, "n2", "t2"), false, true, false, false},
		{"other owner", pod("rs1", `{"app":"web"}`, "n1", "t1"), pod("rs2", `{"app":"web"}`, "n1", "t1"), false, false, false, true},
		{"no owner", pod("", `{"app":"web"}`, "n1", "t1"), pod("", `{"app":"web"}`, "n1", "t1"), false, false, false, true},
		{"empty and null labels", pod("rs1", `{}`, "n1", "t1"), pod("rs1", `null`, "n1", "t1"), false, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newPodShare()
			decode := func(in string) *Pod {
				p, r := &Pod{share: s}, sdk.NewJSONReader([]byte(in))
				if err := p.DecodeJSON(r); err != nil || r.End() != nil {
					t.Fatal(err, r.Err())
				}
				alone, r := &Pod{}, sdk.NewJSONReader([]byte(in))
				if err := alone.DecodeJSON(r); err != nil || !reflect.DeepEqual(p, alone) {
					t.Fatalf("shared %+v, alone %+v", p, alone)
				}
				return p
			}
			a, b := decode(tc.first), decode(tc.second)
			am, bm := &a.Metadata, &b.Metadata
			got := [4]bool{
				am.Labels != nil && reflect.ValueOf(am.Labels).UnsafePointer() == reflect.ValueOf(bm.Labels).UnsafePointer(),
				len(am.OwnerReferences) > 0 && len(bm.OwnerReferences) > 0 && &am.OwnerReferences[0] == &bm.OwnerReferences[0],
				unsafe.StringData(am.CreationTimestamp) == unsafe.StringData(bm.CreationTimestamp),
				unsafe.StringData(a.Spec.NodeName) == unsafe.StringData(b.Spec.NodeName),
			}
			if want := [4]bool{tc.labels, tc.refs, tc.created, tc.node}; got != want {
				t.Errorf("shared labels, refs, created, node: %v, want %v", got, want)
			}
		})
	}
	// Owners that are gone are forgotten past a bound.
	s := newPodShare()
	for i := range maxShared + 1 {
		p, r := &Pod{share: s}, sdk.NewJSONReader([]byte(pod(fmt.Sprint("rs", i), `{"a":"b"}`, fmt.Sprint("n", i), "t")))
		_ = p.DecodeJSON(r)
	}
	if len(s.byOwner) > maxShared || len(s.nodes) > maxShared {
		t.Errorf("%d owners, %d nodes kept, bound %d", len(s.byOwner), len(s.nodes), maxShared)
	}
}
