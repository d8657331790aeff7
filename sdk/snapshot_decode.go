package sdk

import "errors"

// Hand-written decoders of the Node and Pod fields a scheduler reads.

// ErrQuantity reports a resource quantity that does not parse.
var ErrQuantity = errors.New("sdk: malformed quantity")

// DecodeNode decodes a Node's JSON.
func DecodeNode(b []byte) (*NodeInfo, error) {
	n := &NodeInfo{Ready: true}
	var capacity Resources
	var capPods int64
	haveAlloc := false
	var qerr error
	r := NewJSONReader(b)
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.Object(func(k []byte) {
				switch string(k) {
				case "name":
					n.Name = jstr(r)
				case "uid":
					n.UID = jstr(r)
				case "labels":
					r.StringMap(&n.Labels)
				default:
					r.Skip()
				}
			})
		case "spec":
			r.Object(func(k []byte) {
				switch string(k) {
				case "unschedulable":
					n.Unschedulable = r.Bool()
				case "taints":
					r.Array(func(int) {
						var t Taint
						r.Object(func(k []byte) {
							switch string(k) {
							case "key":
								t.Key = jstr(r)
							case "value":
								t.Value = jstr(r)
							case "effect":
								t.Effect = jstr(r)
							default:
								r.Skip()
							}
						})
						n.Taints = append(n.Taints, t)
					})
				default:
					r.Skip()
				}
			})
		case "status":
			r.Object(func(k []byte) {
				switch string(k) {
				case "allocatable":
					haveAlloc = true
					readResources(r, &n.Allocatable, &n.AllowedPods, false, &qerr)
				case "capacity":
					readResources(r, &capacity, &capPods, false, &qerr)
				case "conditions":
					r.Array(func(int) {
						var typ, status string
						r.Object(func(k []byte) {
							switch string(k) {
							case "type":
								typ = jstr(r)
							case "status":
								status = jstr(r)
							default:
								r.Skip()
							}
						})
						if typ == "Ready" {
							n.ReadyStatus = status
							n.Ready = status == "True"
						}
					})
				default:
					r.Skip()
				}
			})
		default:
			r.Skip()
		}
	})
	if err := r.End(); err != nil {
		return nil, err
	}
	if qerr != nil {
		return nil, qerr
	}
	if !haveAlloc {
		n.Allocatable, n.AllowedPods = capacity, capPods
	}
	if n.Name == "" {
		return nil, errors.New("sdk: node without a name")
	}
	n.Zone = n.Labels[LabelZone]
	if n.Zone == "" {
		n.Zone = n.Labels[LabelZoneBeta]
	}
	n.Hostname = n.Labels[LabelHostname]
	if n.Hostname == "" {
		n.Hostname = n.Name
	}
	return n, nil
}

// readResources reads a ResourceList; pods goes to *pods. With limits, it reads into
// res only names res lacks (a container's requests default to its limits).
func readResources(r *JSONReader, res *Resources, pods *int64, onlyMissing bool, qerr *error) {
	r.Object(func(k []byte) {
		s := jstr(r)
		name := string(k)
		milli := name == "cpu"
		v, err := ParseQuantity(s, milli)
		if err != nil {
			if *qerr == nil {
				*qerr = errors.Join(ErrQuantity, errors.New(name+": "+s))
			}
			return
		}
		if name == "pods" {
			if pods != nil {
				*pods = v
			}
			return
		}
		res.set(name, v)
	})
}

// ParseQuantity parses a Kubernetes quantity ("100m", "1.5Gi", "2e3") to an integer,
// rounding up as resource.Quantity's Value and MilliValue do; with milli, in
// thousandths. It saturates at ±2^63-1.
func ParseQuantity(s string, milli bool) (int64, error) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var mant uint64
	exp := 0
	inexact := false
	frac := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if frac {
				return 0, ErrQuantity
			}
			frac = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if mant < 1e17 {
			mant = mant*10 + uint64(c-'0')
			if frac {
				exp--
			}
		} else {
			if c != '0' {
				inexact = true
			}
			if !frac {
				exp++
			}
		}
	}
	suffix := s[i:]
	var bin uint // power of 2
	switch suffix {
	case "":
	case "n":
		exp -= 9
	case "u":
		exp -= 6
	case "m":
		exp -= 3
	case "k":
		exp += 3
	case "M":
		exp += 6
	case "G":
		exp += 9
	case "T":
		exp += 12
	case "P":
		exp += 15
	case "E":
		exp += 18
	case "Ki":
		bin = 10
	case "Mi":
		bin = 20
	case "Gi":
		bin = 30
	case "Ti":
		bin = 40
	case "Pi":
		bin = 50
	case "Ei":
		bin = 60
	default:
		if suffix[0] != 'e' && suffix[0] != 'E' {
			return 0, ErrQuantity
		}
		e, j, eneg := 0, 1, false
		if j < len(suffix) && (suffix[j] == '+' || suffix[j] == '-') {
			eneg = suffix[j] == '-'
			j++
		}
		if j == len(suffix) {
			return 0, ErrQuantity
		}
		for ; j < len(suffix); j++ {
			c := suffix[j]
			if c < '0' || c > '9' || e > 1000 {
				return 0, ErrQuantity
			}
			e = e*10 + int(c-'0')
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if milli {
		exp += 3
	}
	const limit = uint64(1<<63 - 1)
	sat := false
	v := mant
	// Binary multiplier.
	for ; bin > 0 && !sat; bin-- {
		if v > limit/2 {
			sat = true
		}
		v *= 2
	}
	for ; exp > 0 && !sat; exp-- {
		if v > limit/10 {
			sat = true
		}
		v *= 10
	}
	for ; exp < 0 && v > 0; exp++ {
		if v%10 != 0 {
			inexact = true
		}
		v /= 10
	}
	if exp < 0 && mant != 0 {
		inexact = true
	}
	if sat || v > limit {
		v = limit
		inexact = false
	}
	n := int64(v)
	if inexact {
		if neg {
			// Rounding up, toward +inf: truncation already did it.
		} else {
			n++
		}
	}
	if neg {
		n = -n
	}
	return n, nil
}

// DecodePod decodes a Pod's JSON, computing its requests by kube's rules.
func DecodePod(b []byte) (*PodInfo, error) {
	p := &PodInfo{}
	var qerr error
	var containers, inits []containerRes
	var overhead Resources
	var spread []rawSpread
	r := NewJSONReader(b)
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			r.Object(func(k []byte) {
				switch string(k) {
				case "name":
					p.Name = jstr(r)
				case "namespace":
					p.Namespace = jstr(r)
				case "uid":
					p.UID = jstr(r)
				case "labels":
					r.StringMap(&p.Labels)
				case "deletionTimestamp":
					p.Deleting = jstr(r) != ""
				case "ownerReferences":
					r.Array(func(int) {
						var kind string
						var ctl bool
						r.Object(func(k []byte) {
							switch string(k) {
							case "kind":
								kind = jstr(r)
							case "controller":
								ctl = r.Bool()
							default:
								r.Skip()
							}
						})
						if ctl {
							p.Controlled, p.ControllerKind = true, kind
						}
					})
				default:
					r.Skip()
				}
			})
		case "spec":
			r.Object(func(k []byte) {
				switch string(k) {
				case "nodeName":
					p.NodeName = jstr(r)
				case "schedulerName":
					p.SchedulerName = jstr(r)
				case "priority":
					p.Priority = r.Int32()
				case "containers":
					r.Array(func(int) { containers = append(containers, readContainer(r, &qerr)) })
				case "initContainers":
					r.Array(func(int) { inits = append(inits, readContainer(r, &qerr)) })
				case "overhead":
					readResources(r, &overhead, nil, false, &qerr)
				case "nodeSelector":
					r.StringMap(&p.NodeSelector)
				case "affinity":
					readAffinity(r, p)
				case "tolerations":
					r.Array(func(int) {
						var t Toleration
						r.Object(func(k []byte) {
							switch string(k) {
							case "key":
								t.Key = jstr(r)
							case "operator":
								t.Operator = jstr(r)
							case "value":
								t.Value = jstr(r)
							case "effect":
								t.Effect = jstr(r)
							default:
								r.Skip()
							}
						})
						p.Tolerations = append(p.Tolerations, t)
					})
				case "topologySpreadConstraints":
					r.Array(func(int) { spread = append(spread, readSpread(r)) })
				default:
					r.Skip()
				}
			})
		case "status":
			r.Object(func(k []byte) {
				if string(k) == "phase" {
					p.Phase = jstr(r)
				} else {
					r.Skip()
				}
			})
		default:
			r.Skip()
		}
	})
	if err := r.End(); err != nil {
		return nil, err
	}
	if qerr != nil {
		return nil, qerr
	}
	if p.Name == "" {
		return nil, errors.New("sdk: pod without a name")
	}
	podRequests(p, containers, inits, &overhead)
	for i := range p.RequiredAffinity {
		p.RequiredAffinity[i].resolve(p.Namespace)
	}
	for i := range p.RequiredAntiAffinity {
		p.RequiredAntiAffinity[i].resolve(p.Namespace)
	}
	for i := range p.PreferredAffinity {
		p.PreferredAffinity[i].Term.resolve(p.Namespace)
	}
	for i := range p.PreferredAntiAffinity {
		p.PreferredAntiAffinity[i].Term.resolve(p.Namespace)
	}
	for _, rs := range spread {
		c := rs.c
		if len(rs.matchLabelKeys) > 0 && c.Selector != nil {
			sel := &LabelSelector{MatchLabels: c.Selector.MatchLabels, MatchExpressions: append([]LabelSelectorRequirement(nil), c.Selector.MatchExpressions...)}
			for _, key := range rs.matchLabelKeys {
				if v, ok := p.Labels[key]; ok {
					sel.MatchExpressions = append(sel.MatchExpressions, LabelSelectorRequirement{Key: key, Operator: "In", Values: []string{v}})
				}
			}
			c.Selector = sel
		}
		p.TopologySpread = append(p.TopologySpread, c)
	}
	return p, nil
}

type containerRes struct {
	req     Resources
	sidecar bool // an init container with restartPolicy Always
}

func readContainer(r *JSONReader, qerr *error) containerRes {
	var c containerRes
	var limits Resources
	r.Object(func(k []byte) {
		switch string(k) {
		case "resources":
			r.Object(func(k []byte) {
				switch string(k) {
				case "requests":
					readResources(r, &c.req, nil, false, qerr)
				case "limits":
					readResources(r, &limits, nil, false, qerr)
				default:
					r.Skip()
				}
			})
		case "restartPolicy":
			c.sidecar = jstr(r) == "Always"
		default:
			r.Skip()
		}
	})
	// Requests default to limits, as the API server defaults them.
	if c.req.MilliCPU == 0 && limits.MilliCPU != 0 {
		c.req.MilliCPU = limits.MilliCPU
	}
	if c.req.Memory == 0 && limits.Memory != 0 {
		c.req.Memory = limits.Memory
	}
	if c.req.EphemeralStorage == 0 && limits.EphemeralStorage != 0 {
		c.req.EphemeralStorage = limits.EphemeralStorage
	}
	for k, v := range limits.Scalar {
		if _, ok := c.req.Scalar[k]; !ok {
			c.req.set(k, v)
		}
	}
	return c
}

// podRequests computes a pod's requests as k8s.io/component-helpers' PodRequests
// does: the containers' sum, plus sidecars; the maximum of that and each regular
// init container's request plus the sidecars started before it; plus overhead.
func podRequests(p *PodInfo, containers, inits []containerRes, overhead *Resources) {
	nonZero := func(r Resources) Resources {
		out := Resources{MilliCPU: r.MilliCPU, Memory: r.Memory}
		if out.MilliCPU == 0 {
			out.MilliCPU = DefaultMilliCPURequest
		}
		if out.Memory == 0 {
			out.Memory = DefaultMemoryRequest
		}
		return out
	}
	var sum, nz Resources
	for i := range containers {
		sum.add(&containers[i].req, 1)
		z := nonZero(containers[i].req)
		nz.add(&z, 1)
	}
	var sidecars, sidecarsNZ, initMax, initMaxNZ Resources
	for i := range inits {
		c := &inits[i]
		z := nonZero(c.req)
		if c.sidecar {
			sidecars.add(&c.req, 1)
			sidecarsNZ.add(&z, 1)
			sum.add(&c.req, 1)
			nz.add(&z, 1)
			continue
		}
		var t Resources
		t.add(&sidecars, 1)
		t.add(&c.req, 1)
		initMax.maxOf(&t)
		tz := sidecarsNZ
		tz.add(&z, 1)
		initMaxNZ.maxOf(&tz)
	}
	sum.maxOf(&initMax)
	nz.maxOf(&initMaxNZ)
	sum.add(overhead, 1)
	nz.MilliCPU += overhead.MilliCPU
	nz.Memory += overhead.Memory
	p.Requests = sum
	p.NonZeroRequests = Resources{MilliCPU: nz.MilliCPU, Memory: nz.Memory}
}

func readAffinity(r *JSONReader, p *PodInfo) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "nodeAffinity":
			r.Object(func(k []byte) {
				switch string(k) {
				case "requiredDuringSchedulingIgnoredDuringExecution":
					if r.Kind() == JSONNull {
						r.Skip()
						return
					}
					p.HasRequiredAffinity = true
					r.Object(func(k []byte) {
						if string(k) == "nodeSelectorTerms" {
							r.Array(func(int) { p.RequiredNodeAffinity = append(p.RequiredNodeAffinity, readNodeTerm(r)) })
						} else {
							r.Skip()
						}
					})
				case "preferredDuringSchedulingIgnoredDuringExecution":
					r.Array(func(int) {
						var t PreferredSchedulingTerm
						r.Object(func(k []byte) {
							switch string(k) {
							case "weight":
								t.Weight = r.Int()
							case "preference":
								t.Preference = readNodeTerm(r)
							default:
								r.Skip()
							}
						})
						p.PreferredNodeAffinity = append(p.PreferredNodeAffinity, t)
					})
				default:
					r.Skip()
				}
			})
		case "podAffinity":
			readPodAffinity(r, &p.RequiredAffinity, &p.PreferredAffinity)
		case "podAntiAffinity":
			readPodAffinity(r, &p.RequiredAntiAffinity, &p.PreferredAntiAffinity)
		default:
			r.Skip()
		}
	})
}

func readNodeTerm(r *JSONReader) NodeSelectorTerm {
	var t NodeSelectorTerm
	reqs := func(into *[]NodeSelectorRequirement) {
		r.Array(func(int) {
			var q NodeSelectorRequirement
			r.Object(func(k []byte) {
				switch string(k) {
				case "key":
					q.Key = jstr(r)
				case "operator":
					q.Operator = jstr(r)
				case "values":
					r.Array(func(int) { q.Values = append(q.Values, jstr(r)) })
				default:
					r.Skip()
				}
			})
			*into = append(*into, q)
		})
	}
	r.Object(func(k []byte) {
		switch string(k) {
		case "matchExpressions":
			reqs(&t.MatchExpressions)
		case "matchFields":
			reqs(&t.MatchFields)
		default:
			r.Skip()
		}
	})
	return t
}

func readPodAffinity(r *JSONReader, req *[]PodAffinityTerm, pref *[]WeightedPodAffinityTerm) {
	r.Object(func(k []byte) {
		switch string(k) {
		case "requiredDuringSchedulingIgnoredDuringExecution":
			r.Array(func(int) { *req = append(*req, readPodTerm(r)) })
		case "preferredDuringSchedulingIgnoredDuringExecution":
			r.Array(func(int) {
				var w WeightedPodAffinityTerm
				r.Object(func(k []byte) {
					switch string(k) {
					case "weight":
						w.Weight = r.Int()
					case "podAffinityTerm":
						w.Term = readPodTerm(r)
					default:
						r.Skip()
					}
				})
				*pref = append(*pref, w)
			})
		default:
			r.Skip()
		}
	})
}

// nsSelectorOther stands, in Namespaces, for a namespace selector other than {}:
// it names no real namespace.
const nsSelectorOther = "\x00other"

func readPodTerm(r *JSONReader) PodAffinityTerm {
	var t PodAffinityTerm
	r.Object(func(k []byte) {
		switch string(k) {
		case "labelSelector":
			if r.Kind() == JSONNull {
				r.Skip()
				return
			}
			t.Selector = &LabelSelector{}
			r.LabelSelector(t.Selector)
		case "namespaces":
			r.Array(func(int) { t.Namespaces = append(t.Namespaces, jstr(r)) })
		case "namespaceSelector":
			if r.Kind() == JSONNull {
				r.Skip()
				return
			}
			var sel LabelSelector
			r.LabelSelector(&sel)
			if sel.Empty() {
				t.AllNamespaces = true
			} else {
				t.Namespaces = append(t.Namespaces, nsSelectorOther)
			}
		case "topologyKey":
			t.TopologyKey = jstr(r)
		default:
			r.Skip()
		}
	})
	return t
}

// resolve applies the default namespace: the pod's own when the term names none
// and has no namespace selector.
func (t *PodAffinityTerm) resolve(ns string) {
	if t.AllNamespaces {
		return
	}
	if len(t.Namespaces) == 0 {
		t.Namespaces = []string{ns}
	}
}

type rawSpread struct {
	c              TopologySpreadConstraint
	matchLabelKeys []string
}

func readSpread(r *JSONReader) rawSpread {
	var s rawSpread
	r.Object(func(k []byte) {
		switch string(k) {
		case "maxSkew":
			s.c.MaxSkew = r.Int()
		case "topologyKey":
			s.c.TopologyKey = jstr(r)
		case "whenUnsatisfiable":
			s.c.WhenUnsatisfiable = jstr(r)
		case "labelSelector":
			if r.Kind() == JSONNull {
				r.Skip()
				return
			}
			s.c.Selector = &LabelSelector{}
			r.LabelSelector(s.c.Selector)
		case "minDomains":
			s.c.MinDomains = r.Int()
		case "nodeAffinityPolicy":
			s.c.NodeAffinityPolicy = jstr(r)
		case "nodeTaintsPolicy":
			s.c.NodeTaintsPolicy = jstr(r)
		case "matchLabelKeys":
			r.Array(func(int) { s.matchLabelKeys = append(s.matchLabelKeys, jstr(r)) })
		default:
			r.Skip()
		}
	})
	return s
}

// jstr reads a string (null reads as "").
func jstr(r *JSONReader) string { return string(r.Bytes()) }
