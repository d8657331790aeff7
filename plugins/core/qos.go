package core

import "strings"

// qosClass is the pod's quality-of-service class, as kube-apiserver computes it on
// create (BestEffort, Burstable or Guaranteed). Only cpu and memory count; a limit
// without a request stands for the request, as defaulting makes it.
func qosClass(spec *podSpec) string {
	any, guaranteed := false, true
	all := append(append([]container(nil), spec.InitContainers...), spec.Containers...)
	for i := range all {
		r := &all[i].Resources
		for _, name := range []string{"cpu", "memory"} {
			req, hasReq := quantityOf(r.Requests, name)
			lim, hasLim := quantityOf(r.Limits, name)
			if hasReq && !req.isZero() || hasLim && !lim.isZero() {
				any = true
			}
			if !hasLim || lim.isZero() {
				guaranteed = false
				continue
			}
			if hasReq && req.cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return "BestEffort"
	case guaranteed:
		return "Guaranteed"
	}
	return "Burstable"
}

func quantityOf(l rawList, name string) (quantity, bool) {
	raw, ok := l.get(name)
	if !ok {
		return quantity{}, false
	}
	q, err := parseQuantity(strings.TrimSpace(rawQuantity(raw)))
	return q, err == nil
}

func (q quantity) isZero() bool { return len(q.digits) == 0 }
