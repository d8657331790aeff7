package objects

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// createOwnership is what trackCreateFast needs of a kind's main endpoint.
type createOwnership struct {
	walk       fieldWalker
	root       smdschema.TypeRef
	gv         string
	dropStatus bool // the endpoint resets status (the kind has a status subresource)
}

// trackCreateFast records a create's ownership as the field manager does: with no
// live object, its writer owns every field it set, in a single Update entry. The
// field manager got there by converting, comparing, encoding and parsing the whole
// object, half the cost of a create. It reports false, and leaves obj alone, when
// the object brings managedFields of its own or anything the walk declines, and the
// field manager decides.
func trackCreateFast(o createOwnership, obj *unstructured.Unstructured, manager string, now time.Time) bool {
	meta, ok := obj.Object["metadata"].(map[string]any)
	if !ok {
		return false
	}
	if _, has := meta["managedFields"]; has {
		return false
	}
	// The field manager compares with an empty object of the kind.
	live := map[string]any{"apiVersion": obj.Object["apiVersion"], "kind": obj.Object["kind"]}
	fields, ok := o.walk.diff(o.root, live, true, obj.Object)
	if !ok || fields == nil {
		return false
	}
	if o.dropStatus {
		delete(fields, "f:status")
	}
	stripMeta(fields)
	if len(fields) == 0 {
		return false // nothing owned: the field manager records no entry
	}
	meta["managedFields"] = []any{map[string]any{
		"manager": manager, "operation": "Update", "apiVersion": o.gv,
		"time": now.UTC().Format(time.RFC3339), "fieldsType": "FieldsV1", "fieldsV1": fields,
	}}
	return true
}

// strippedMeta are the metadata fields nobody owns (managedfields' stripMeta).
var strippedMeta = []string{"f:name", "f:namespace", "f:creationTimestamp", "f:selfLink", "f:uid",
	"f:clusterName", "f:generation", "f:managedFields", "f:resourceVersion"}

// stripMeta removes from a fieldsV1 tree the paths the field manager never records
// as owned: apiVersion, kind, metadata itself and its server-set fields. What is
// under them stays, and a node left empty goes.
func stripMeta(fields map[string]any) {
	unmark(fields, "f:apiVersion")
	unmark(fields, "f:kind")
	m, ok := fields["f:metadata"].(map[string]any)
	if !ok {
		return
	}
	for _, k := range strippedMeta {
		unmark(m, k)
	}
	delete(m, ".")
	if len(m) == 0 {
		delete(fields, "f:metadata")
	}
}

// unmark makes parent's child k no longer a member of the set.
func unmark(parent map[string]any, k string) {
	n, ok := parent[k].(map[string]any)
	if !ok {
		return
	}
	delete(n, ".")
	if len(n) == 0 {
		delete(parent, k)
	}
}
