package apps

import (
	"sort"

	"weft.dev/weft/sdk"
)

// claim is kube's ControllerRefManager: it adopts orphans of kind that match sel
// (unless the owner or the orphan is being deleted) and releases objects the owner
// controls that no longer match (unless the owner is being deleted). Objects another
// controller owns are left alone. It returns the objects the owner controls and that
// match, adopted ones included, ordered by name; filter, when set, skips objects
// before anything else (the ReplicaSet controller ignores inactive pods). With
// fresh set, the cache holds only the metadata of objects nobody controls
// (sdk.FieldSet.ControlledOnly), so an orphan is read afresh before filter judges
// it and the adoption names its resourceVersion.
func claim(c *sdk.Client, res sdk.Resource, kind, ownerKind sdk.GVK, owner *sdk.ObjectMeta, sel *sdk.LabelSelector, filter func(*sdk.Object) bool, fresh bool) ([]*sdk.Object, error) {
	cache := c.Cache()
	var out []*sdk.Object
	for _, o := range cache.Controlled(kind, owner.UID) {
		if o.Meta.Namespace != owner.Namespace || (filter != nil && !filter(o)) {
			continue
		}
		if sel.Matches(o.Meta.Labels) {
			out = append(out, o)
			continue
		}
		if owner.Deleting() {
			continue
		}
		if err := release(c, res, o, owner.UID); err != nil {
			return nil, err
		}
	}
	adopted := false
	if !owner.Deleting() && sel != nil && !sel.Empty() {
		for _, o := range cache.List(kind, owner.Namespace, sel) {
			if o.Meta.ControllerOf() != nil || o.Meta.Deleting() {
				continue
			}
			if fresh {
				f, err := c.Fresh(res, kind, o.Meta.Namespace, o.Meta.Name)
				if sdk.IsNotFound(err) {
					continue
				}
				if err != nil {
					return nil, err
				}
				if o = f; o.Meta.ControllerOf() != nil || o.Meta.Deleting() || !sel.Matches(o.Meta.Labels) {
					continue
				}
			}
			if filter != nil && !filter(o) {
				continue
			}
			refs := append(append([]sdk.OwnerReference{}, o.Meta.OwnerReferences...), sdk.ControllerRef(ownerKind, owner))
			patch := rawJSON(map[string]any{"metadata": map[string]any{"ownerReferences": refs, "resourceVersion": o.Meta.ResourceVersion}})
			if _, err := c.Patch(res, o.Meta.Namespace, o.Meta.Name, sdk.MergePatch, patch); err != nil {
				if sdk.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			out = append(out, o)
			adopted = true
		}
	}
	if adopted {
		sort.Slice(out, func(i, j int) bool { return out[i].Meta.Name < out[j].Meta.Name })
	}
	return out, nil
}

// release removes owner's reference from o.
func release(c *sdk.Client, res sdk.Resource, o *sdk.Object, ownerUID string) error {
	var keep []sdk.OwnerReference
	for _, r := range o.Meta.OwnerReferences {
		if r.UID != ownerUID {
			keep = append(keep, r)
		}
	}
	var refs any = keep
	if len(keep) == 0 {
		refs = nil
	}
	patch := rawJSON(map[string]any{"metadata": map[string]any{"ownerReferences": refs, "resourceVersion": o.Meta.ResourceVersion}})
	_, err := c.Patch(res, o.Meta.Namespace, o.Meta.Name, sdk.MergePatch, patch)
	if sdk.IsNotFound(err) || isStatus(err, "Invalid") {
		return nil
	}
	return err
}
