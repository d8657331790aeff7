package gc

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/kernel/registry"
)

// node is what the collector knows of one object.
type node struct {
	uid        types.UID
	entry      *registry.Entry
	namespace  string
	name       string
	owners     []metav1.OwnerReference
	deleting   bool
	finalizers []string
}

// nodeOf reads metadata alone, and not its managedFields: objects.Service.DecodeMeta
// decodes no more for the collector.
func nodeOf(e *registry.Entry, obj *unstructured.Unstructured) *node {
	return &node{
		uid:        obj.GetUID(),
		entry:      e,
		namespace:  obj.GetNamespace(),
		name:       obj.GetName(),
		owners:     obj.GetOwnerReferences(),
		deleting:   obj.GetDeletionTimestamp() != nil,
		finalizers: obj.GetFinalizers(),
	}
}

func (n *node) has(finalizer string) bool { return slices.Contains(n.finalizers, finalizer) }

// graph indexes nodes by uid and dependents by owner uid.
type graph struct {
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]struct{}
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]struct{}{}}
}

// put records n and returns the node it replaced.
func (g *graph) put(n *node) *node {
	old := g.nodes[n.uid]
	if old != nil {
		g.unlink(old)
	}
	g.nodes[n.uid] = n
	for _, o := range n.owners {
		deps := g.dependents[o.UID]
		if deps == nil {
			deps = map[types.UID]struct{}{}
			g.dependents[o.UID] = deps
		}
		deps[n.uid] = struct{}{}
	}
	return old
}

// remove forgets uid and returns its node.
func (g *graph) remove(uid types.UID) *node {
	n := g.nodes[uid]
	if n == nil {
		return nil
	}
	g.unlink(n)
	delete(g.nodes, uid)
	return n
}

func (g *graph) unlink(n *node) {
	for _, o := range n.owners {
		if deps := g.dependents[o.UID]; deps != nil {
			delete(deps, n.uid)
			if len(deps) == 0 {
				delete(g.dependents, o.UID)
			}
		}
	}
}

// dependentsOf lists the nodes that name uid as an owner.
func (g *graph) dependentsOf(uid types.UID) []*node {
	var out []*node
	for d := range g.dependents[uid] {
		if n := g.nodes[d]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

func ownersEqual(a, b []metav1.OwnerReference) bool {
	return slices.EqualFunc(a, b, func(x, y metav1.OwnerReference) bool {
		return x.UID == y.UID && ptrEq(x.BlockOwnerDeletion, y.BlockOwnerDeletion)
	})
}

func ptrEq(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
