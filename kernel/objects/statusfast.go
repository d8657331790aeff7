package objects

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// statusOwnership is what trackStatusFast needs of a kind's status endpoint.
type statusOwnership struct {
	walk   fieldWalker
	status smdschema.TypeRef // the type of the object's status
	gv     string
}

// trackStatusFast records a status write's ownership, when no manager owns a field of
// status yet, the way the field manager would: the first status write of a pod, by
// its node, is the commonest write there is, and the field manager decoded, re-encoded
// and sorted every other manager's entry for it, though none of them can change.
// With no status field owned, the write takes nothing from anyone: its writer gets
// the status fields it added or changed, in a new entry, and the other entries stay as
// they are. It reports false, and leaves next alone, for anything else (an entry
// owning status, one of the writer's own on this endpoint, an unexpected entry, ten
// entries or more, which the field manager would start merging), and the field
// manager decides.
func trackStatusFast(o statusOwnership, cur, next *unstructured.Unstructured, manager string, now time.Time) bool {
	curMeta, _ := cur.Object["metadata"].(map[string]any)
	nextMeta, ok := next.Object["metadata"].(map[string]any)
	if !ok || curMeta == nil {
		return false
	}
	items, _ := curMeta["managedFields"].([]any)
	// No entry at all: the field manager tracks nothing for an update of an existing
	// object without managedFields, a case left to it.
	if len(items) == 0 || len(items) >= 10 {
		return false
	}
	entries := make([]metav1.ManagedFieldsEntry, len(items))
	for i, x := range items {
		m, ok := x.(map[string]any)
		if !ok {
			return false
		}
		if entries[i], ok = entryHeader(m); !ok {
			return false
		}
		e := &entries[i]
		fields, _ := m["fieldsV1"].(map[string]any)
		_, ownsStatus := fields["f:status"]
		if len(fields) == 0 || ownsStatus || e.FieldsType != "FieldsV1" || e.APIVersion != o.gv || e.Manager == "" ||
			e.Operation != metav1.ManagedFieldsOperationUpdate && e.Operation != metav1.ManagedFieldsOperationApply ||
			e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationUpdate && e.Subresource == SubStatus {
			return false
		}
		// The field manager writes times back in UTC; a time stored otherwise would
		// change, so it decides.
		if t, _ := m["time"].(string); e.Time != nil && e.Time.UTC().Format(time.RFC3339) != t {
			return false
		}
	}
	for i := 1; i < len(entries); i++ {
		if managedBefore(&entries[i], &entries[i-1]) {
			return false // not in the field manager's order, which it would restore
		}
	}
	// The status endpoint's field manager ignores every field but status (and
	// apiVersion and kind, which a write cannot change), so status alone is compared.
	for _, k := range []string{"apiVersion", "kind"} {
		c, ok1 := cur.Object[k].(string)
		n, ok2 := next.Object[k].(string)
		if !ok1 || !ok2 || c != n {
			return false
		}
	}
	var fields map[string]any
	if rhs, ok := next.Object["status"]; ok {
		lhs, hasL := cur.Object["status"]
		n, ok := o.walk.diff(o.status, lhs, hasL, rhs)
		if !ok {
			return false
		}
		if n != nil {
			fields = map[string]any{"f:status": n}
		}
	}
	kept := make([]any, len(items))
	for i, x := range items {
		kept[i] = runtime.DeepCopyJSONValue(x) // cur is shared with other readers
	}
	if fields == nil {
		nextMeta["managedFields"] = kept
		return true
	}
	// Placed as the field manager sorts what it encodes (managedBefore).
	mine := metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: o.gv, Time: &metav1.Time{Time: now}, Subresource: SubStatus}
	entry := map[string]any{"manager": manager, "operation": string(metav1.ManagedFieldsOperationUpdate), "apiVersion": o.gv,
		"time": now.UTC().Format(time.RFC3339), "fieldsType": "FieldsV1", "fieldsV1": fields, "subresource": SubStatus}
	at := len(entries)
	for i := range entries {
		if managedBefore(&mine, &entries[i]) {
			at = i
			break
		}
	}
	nextMeta["managedFields"] = slices.Insert(kept, at, any(entry))
	return true
}

// managedBefore is the field manager's order of managedFields entries: by operation,
// then by time to the second, manager, apiVersion and subresource.
func managedBefore(p, q *metav1.ManagedFieldsEntry) bool {
	if p.Operation != q.Operation {
		return p.Operation < q.Operation
	}
	var ps, qs int64
	if p.Time != nil {
		ps = p.Time.Unix()
	}
	if q.Time != nil {
		qs = q.Time.Unix()
	}
	if ps != qs {
		return ps < qs
	}
	if p.Manager != q.Manager {
		return p.Manager < q.Manager
	}
	if p.APIVersion != q.APIVersion {
		return p.APIVersion < q.APIVersion
	}
	return p.Subresource < q.Subresource
}
