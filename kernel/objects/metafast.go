package objects

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// metaFromMap converts decoded metadata to ObjectMeta by hand, as
// runtime.DefaultUnstructuredConverter does by reflection, which was most of the cost
// of validating metadata on every write. It reports false for anything it does not
// expect (a key it does not know, a null, a value of another type), and metaOf then
// converts by reflection, so the result and any error are the converter's.
func metaFromMap(mm map[string]any) (*metav1.ObjectMeta, bool) {
	m := &metav1.ObjectMeta{}
	for k, v := range mm {
		ok := true
		switch k {
		case "name":
			m.Name, ok = v.(string)
		case "generateName":
			m.GenerateName, ok = v.(string)
		case "namespace":
			m.Namespace, ok = v.(string)
		case "selfLink":
			m.SelfLink, ok = v.(string)
		case "uid":
			var s string
			s, ok = v.(string)
			m.UID = types.UID(s)
		case "resourceVersion":
			m.ResourceVersion, ok = v.(string)
		case "generation":
			m.Generation, ok = v.(int64)
		case "creationTimestamp":
			var t *metav1.Time
			if t, ok = timeFrom(v); ok {
				m.CreationTimestamp = *t
			}
		case "deletionTimestamp":
			m.DeletionTimestamp, ok = timeFrom(v)
		case "deletionGracePeriodSeconds":
			var n int64
			if n, ok = v.(int64); ok {
				m.DeletionGracePeriodSeconds = &n
			}
		case "labels":
			m.Labels, ok = stringMap(v)
		case "annotations":
			m.Annotations, ok = stringMap(v)
		case "finalizers":
			m.Finalizers, ok = stringSlice(v)
		case "ownerReferences":
			m.OwnerReferences, ok = ownerRefs(v)
		case "managedFields":
			var items []any
			if items, ok = v.([]any); ok {
				m.ManagedFields = make([]metav1.ManagedFieldsEntry, len(items))
				for i, it := range items {
					e, isMap := it.(map[string]any)
					if !isMap {
						return nil, false
					}
					if m.ManagedFields[i], ok = entryFromMap(e); !ok {
						return nil, false
					}
				}
			}
		default:
			ok = false
		}
		if !ok {
			return nil, false
		}
	}
	return m, true
}

// timeFrom reads a timestamp as metav1.Time's UnmarshalJSON does.
func timeFrom(v any) (*metav1.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, false
	}
	return &metav1.Time{Time: t.Local()}, true
}

func stringMap(v any) (map[string]string, bool) {
	in, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(in))
	for k, x := range in {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

func stringSlice(v any) ([]string, bool) {
	in, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(in))
	for i, x := range in {
		if out[i], ok = x.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

func ownerRefs(v any) ([]metav1.OwnerReference, bool) {
	in, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]metav1.OwnerReference, len(in))
	for i, x := range in {
		ref, ok := x.(map[string]any)
		if !ok {
			return nil, false
		}
		r := &out[i]
		for k, f := range ref {
			ok := true
			switch k {
			case "apiVersion":
				r.APIVersion, ok = f.(string)
			case "kind":
				r.Kind, ok = f.(string)
			case "name":
				r.Name, ok = f.(string)
			case "uid":
				var s string
				s, ok = f.(string)
				r.UID = types.UID(s)
			case "controller":
				var b bool
				if b, ok = f.(bool); ok {
					r.Controller = &b
				}
			case "blockOwnerDeletion":
				var b bool
				if b, ok = f.(bool); ok {
					r.BlockOwnerDeletion = &b
				}
			default:
				ok = false
			}
			if !ok {
				return nil, false
			}
		}
	}
	return out, true
}
