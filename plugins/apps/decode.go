package apps

import (
	"bytes"

	"weft.dev/weft/sdk"
)

// Hand-written decoders for the types the cache keeps (sdk.JSONDecoder), so fed
// objects are not decoded by encoding/json's reflection, which inside the wasm guest
// costs dozens of times what it costs natively. Each reads exactly the fields its
// type declares (for Pod, the fields it is reduced from), as json.Unmarshal would
// decode them (null leaves a field, or sets a pointer, slice or map to nil; unknown
// members are skipped; pod templates are kept as raw JSON); decode_test.go holds them
// to that. Keys match case-sensitively. What they keep is copied out of the fed
// bytes, which the cache does not keep.

// DecodeJSON implements sdk.JSONDecoder. It reads a pod as encoding/json would read
// it into metav1.ObjectMeta, nodeName, phase, conditions and container statuses, and
// keeps of that only what Pod holds.
func (p *Pod) DecodeJSON(r *sdk.JSONReader) error {
	var conds []sdk.Condition
	var statuses, initStatuses []containerStatus
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.ObjectMeta(&p.Metadata)
		case "spec":
			r.Object(func(k []byte) {
				if string(k) == "nodeName" {
					setString(r, &p.Spec.NodeName)
				} else {
					r.Skip()
				}
			})
		case "status":
			r.Object(func(k []byte) {
				switch string(k) {
				case "phase":
					setString(r, &p.Status.Phase)
				case "conditions":
					r.Conditions(&conds)
				case "containerStatuses":
					sdk.JSONSlice(r, &statuses, func(c *containerStatus) { c.decode(r) })
				case "initContainerStatuses":
					sdk.JSONSlice(r, &initStatuses, func(c *containerStatus) { c.decode(r) })
				default:
					r.Skip()
				}
			})
		default:
			r.Skip()
		}
	})
	m := &p.Metadata
	m.GenerateName, m.Generation, m.DeletionGracePeriodSeconds, m.Finalizers = "", 0, nil, nil
	if cost, ok := m.Annotations[deletionCostAnn]; !ok {
		m.Annotations = nil
	} else if len(m.Annotations) > 1 {
		m.Annotations = map[string]string{deletionCostAnn: cost}
	}
	if c := sdk.FindCondition(conds, "Ready"); c != nil {
		p.Status.Ready, p.Status.ReadySince = c.Status, c.LastTransitionTime
	}
	for _, cs := range [2][]containerStatus{statuses, initStatuses} {
		for _, c := range cs {
			p.Status.Restarts = max(p.Status.Restarts, c.RestartCount)
		}
	}
	p.share.share(p)
	p.share = nil
	return nil
}

// containerStatus is what a pod's restarts are read from.
type containerStatus struct {
	RestartCount int32 `json:"restartCount"`
}

func (c *containerStatus) decode(r *sdk.JSONReader) {
	r.Object(func(k []byte) {
		if string(k) == "restartCount" {
			setInt32(r, &c.RestartCount)
		} else {
			r.Skip()
		}
	})
}

// DecodeJSON implements sdk.JSONDecoder.
func (rs *ReplicaSet) DecodeJSON(r *sdk.JSONReader) error {
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.ObjectMeta(&rs.Metadata)
		case "spec":
			s := &rs.Spec
			r.Object(func(k []byte) {
				switch string(k) {
				case "replicas":
					setInt32Ptr(r, &s.Replicas)
				case "minReadySeconds":
					setInt32(r, &s.MinReadySeconds)
				case "selector":
					setSelector(r, &s.Selector)
				case "template":
					s.Template = bytes.Clone(r.Raw())
				default:
					r.Skip()
				}
			})
		case "status":
			s := &rs.Status
			r.Object(func(k []byte) {
				switch string(k) {
				case "replicas":
					setInt32(r, &s.Replicas)
				case "fullyLabeledReplicas":
					setInt32(r, &s.FullyLabeledReplicas)
				case "readyReplicas":
					setInt32(r, &s.ReadyReplicas)
				case "availableReplicas":
					setInt32(r, &s.AvailableReplicas)
				case "observedGeneration":
					setInt64(r, &s.ObservedGeneration)
				case "conditions":
					r.Conditions(&s.Conditions)
				default:
					r.Skip()
				}
			})
		default:
			r.Skip()
		}
	})
	return nil
}

// DecodeJSON implements sdk.JSONDecoder.
func (d *Deployment) DecodeJSON(r *sdk.JSONReader) error {
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.ObjectMeta(&d.Metadata)
		case "spec":
			s := &d.Spec
			r.Object(func(k []byte) {
				switch string(k) {
				case "replicas":
					setInt32Ptr(r, &s.Replicas)
				case "selector":
					setSelector(r, &s.Selector)
				case "template":
					s.Template = bytes.Clone(r.Raw())
				case "strategy":
					s.Strategy.decode(r)
				case "minReadySeconds":
					setInt32(r, &s.MinReadySeconds)
				case "revisionHistoryLimit":
					setInt32Ptr(r, &s.RevisionHistoryLimit)
				case "paused":
					if !r.Null() {
						s.Paused = r.Bool()
					}
				case "progressDeadlineSeconds":
					setInt32Ptr(r, &s.ProgressDeadlineSeconds)
				default:
					r.Skip()
				}
			})
		case "status":
			s := &d.Status
			r.Object(func(k []byte) {
				switch string(k) {
				case "observedGeneration":
					setInt64(r, &s.ObservedGeneration)
				case "replicas":
					setInt32(r, &s.Replicas)
				case "updatedReplicas":
					setInt32(r, &s.UpdatedReplicas)
				case "readyReplicas":
					setInt32(r, &s.ReadyReplicas)
				case "availableReplicas":
					setInt32(r, &s.AvailableReplicas)
				case "unavailableReplicas":
					setInt32(r, &s.UnavailableReplicas)
				case "conditions":
					r.Conditions(&s.Conditions)
				case "collisionCount":
					setInt32Ptr(r, &s.CollisionCount)
				default:
					r.Skip()
				}
			})
		default:
			r.Skip()
		}
	})
	return nil
}

func (s *Strategy) decode(r *sdk.JSONReader) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "type":
			setString(r, &s.Type)
		case "rollingUpdate":
			if r.Null() {
				s.RollingUpdate = nil
				return
			}
			if s.RollingUpdate == nil {
				s.RollingUpdate = new(struct {
					MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
					MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
				})
			}
			ru := s.RollingUpdate
			r.Object(func(k []byte) {
				switch string(k) {
				case "maxUnavailable":
					setIntOrString(r, &ru.MaxUnavailable)
				case "maxSurge":
					setIntOrString(r, &ru.MaxSurge)
				default:
					r.Skip()
				}
			})
		default:
			r.Skip()
		}
	})
}

// setIntOrString reads an int or a string into **p, as IntOrString.UnmarshalJSON
// does; null sets *p to nil.
func setIntOrString(r *sdk.JSONReader, p **IntOrString) {
	if r.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(IntOrString)
	}
	if r.Kind() == sdk.JSONString {
		(*p).IsString = true
		(*p).Str = r.Str()
	} else {
		(*p).Int = r.Int32()
	}
}

func setSelector(r *sdk.JSONReader, p **sdk.LabelSelector) {
	if r.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(sdk.LabelSelector)
	}
	r.LabelSelector(*p)
}

func setString(r *sdk.JSONReader, p *string) {
	if !r.Null() {
		*p = r.Str()
	}
}

func setInt32(r *sdk.JSONReader, p *int32) {
	if !r.Null() {
		*p = r.Int32()
	}
}

func setInt64(r *sdk.JSONReader, p *int64) {
	if !r.Null() {
		*p = r.Int()
	}
}

func setInt32Ptr(r *sdk.JSONReader, p **int32) {
	if r.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(int32)
	}
	**p = r.Int32()
}
