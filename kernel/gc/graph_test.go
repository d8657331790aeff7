package gc

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func refs(uids ...types.UID) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, u := range uids {
		out = append(out, metav1.OwnerReference{UID: u, Name: string(u)})
	}
	return out
}

func deps(g *graph, uid types.UID) []types.UID {
	var out []types.UID
	for _, n := range g.dependentsOf(uid) {
		out = append(out, n.uid)
	}
	slices.Sort(out)
	return out
}

func TestGraph(t *testing.T) {
	g := newGraph()
	g.put(&node{uid: "owner"})
	g.put(&node{uid: "a", owners: refs("owner")})
	g.put(&node{uid: "b", owners: refs("owner", "other")})
	if got := deps(g, "owner"); !slices.Equal(got, []types.UID{"a", "b"}) {
		t.Fatalf("dependents of owner: %v", got)
	}
	// Changing owners moves the edges.
	old := g.put(&node{uid: "b", owners: refs("other")})
	if old == nil || len(old.owners) != 2 {
		t.Fatalf("put returned %+v", old)
	}
	if got := deps(g, "owner"); !slices.Equal(got, []types.UID{"a"}) {
		t.Fatalf("after re-owning b: %v", got)
	}
	// Dependents of an owner that is not (yet) in the graph are still indexed.
	if got := deps(g, "other"); !slices.Equal(got, []types.UID{"b"}) {
		t.Fatalf("dependents of an unseen owner: %v", got)
	}
	if n := g.remove("a"); n == nil || n.uid != "a" {
		t.Fatalf("remove: %+v", n)
	}
	if got := deps(g, "owner"); len(got) != 0 || len(g.dependents["owner"]) != 0 {
		t.Fatalf("edges left after remove: %v %v", got, g.dependents)
	}
	if g.remove("a") != nil {
		t.Fatal("removed twice")
	}
}

func TestOwnersEqual(t *testing.T) {
	yes, no := true, false
	a := []metav1.OwnerReference{{UID: "x", BlockOwnerDeletion: &yes}}
	b := []metav1.OwnerReference{{UID: "x", BlockOwnerDeletion: &no}}
	c := []metav1.OwnerReference{{UID: "x"}}
	if !ownersEqual(a, a) || ownersEqual(a, b) || ownersEqual(a, c) || ownersEqual(c, nil) || !ownersEqual(nil, nil) {
		t.Fatal("ownersEqual")
	}
}
