package apps

import (
	"maps"
	"slices"

	"weft.dev/weft/sdk"
)

// podShare lets pods share what they have in common, rather than each keeping a
// copy: the label map and owner references, together as big as the rest of what a
// cached pod keeps, are almost always the same in every pod of a ReplicaSet, and a
// node's name is in every pod on it. Shared values are read-only, as everything in the
// cache is.
type podShare struct {
	byOwner map[string]*shared // by controller owner UID
	nodes   map[string]string
}

type shared struct {
	labels  map[string]string
	refs    []sdk.OwnerReference
	created string // creation timestamps repeat while a ReplicaSet scales up
}

// maxShared bounds what podShare holds for owners and nodes that are gone: past it, it
// starts over, and pods decoded before keep what they share.
const maxShared = 8192

func newPodShare() *podShare {
	return &podShare{byOwner: map[string]*shared{}, nodes: map[string]string{}}
}

// share replaces parts of p with equal ones an earlier pod kept, or offers p's to
// later pods.
func (s *podShare) share(p *Pod) {
	p.Metadata.Namespace, p.Status.Phase, p.Status.Ready = canonical(p.Metadata.Namespace), canonical(p.Status.Phase), canonical(p.Status.Ready)
	if s == nil {
		return
	}
	if n := p.Spec.NodeName; n != "" {
		if shared, ok := s.nodes[n]; ok {
			p.Spec.NodeName = shared
		} else {
			if len(s.nodes) >= maxShared {
				clear(s.nodes)
			}
			s.nodes[n] = n
		}
	}
	m := &p.Metadata
	ref := m.ControllerOf()
	if ref == nil {
		return
	}
	e := s.byOwner[ref.UID]
	if e == nil {
		if len(s.byOwner) >= maxShared {
			clear(s.byOwner)
		}
		e = &shared{}
		s.byOwner[ref.UID] = e
	}
	if m.Labels != nil && e.labels != nil && maps.Equal(e.labels, m.Labels) {
		m.Labels = e.labels
	} else {
		e.labels = m.Labels
	}
	if slices.EqualFunc(e.refs, m.OwnerReferences, equalRef) {
		m.OwnerReferences = e.refs
	} else {
		e.refs = m.OwnerReferences
	}
	if e.created == m.CreationTimestamp {
		m.CreationTimestamp = e.created
	} else {
		e.created = m.CreationTimestamp
	}
}

func equalRef(a, b sdk.OwnerReference) bool {
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.UID == b.UID &&
		equalBool(a.Controller, b.Controller) && equalBool(a.BlockOwnerDeletion, b.BlockOwnerDeletion)
}

func equalBool(a, b *bool) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// canonical returns s as a constant when it is one of the values most pods repeat, so
// that they do not each keep a copy.
func canonical(s string) string {
	switch s {
	case "":
		return ""
	case "True":
		return "True"
	case "False":
		return "False"
	case "Unknown":
		return "Unknown"
	case "Running":
		return "Running"
	case "Pending":
		return "Pending"
	case "Succeeded":
		return "Succeeded"
	case "Failed":
		return "Failed"
	case "default":
		return "default"
	}
	return s
}
