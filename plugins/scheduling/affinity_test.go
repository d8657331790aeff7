package scheduling

import (
	"maps"
	"testing"

	"weft.dev/weft/sdk"
)

func term(key string, labels map[string]string) obj {
	return obj{"labelSelector": obj{"matchLabels": labels}, "topologyKey": key}
}

func TestInterPodAffinityFilter(t *testing.T) {
	web := map[string]string{"app": "web"}
	db := map[string]string{"app": "db"}
	nodes := zoned(t, 4, 2, "4") // n0 z0, n1 z1, n2 z0, n3 z1
	anti := func(terms ...any) obj {
		return obj{"affinity": obj{"podAntiAffinity": obj{"requiredDuringSchedulingIgnoredDuringExecution": terms}}}
	}
	aff := func(terms ...any) obj {
		return obj{"affinity": obj{"podAffinity": obj{"requiredDuringSchedulingIgnoredDuringExecution": terms}}}
	}
	all := func(r string) map[string]string { return map[string]string{"n0": r, "n1": r, "n2": r, "n3": r} }
	for _, c := range []struct {
		name     string
		existing []podSpec
		pod      podSpec
		want     map[string]string
	}{
		{"no terms", []podSpec{{labels: web, node: "n0"}}, podSpec{labels: web}, all("")},
		{"anti hostname", []podSpec{{labels: web, node: "n0"}}, podSpec{labels: web, spec: anti(term(sdk.LabelHostname, web))},
			map[string]string{"n0": ReasonAntiAffinity, "n1": "", "n2": "", "n3": ""}},
		// Pods being deleted still count, as in kube-scheduler.
		{"anti hostname, deleting", []podSpec{{labels: web, node: "n0", deleting: true}}, podSpec{labels: web, spec: anti(term(sdk.LabelHostname, web))},
			map[string]string{"n0": ReasonAntiAffinity, "n1": "", "n2": "", "n3": ""}},
		{"anti zone", []podSpec{{labels: web, node: "n0"}}, podSpec{labels: web, spec: anti(term(sdk.LabelZone, web))},
			map[string]string{"n0": ReasonAntiAffinity, "n1": "", "n2": ReasonAntiAffinity, "n3": ""}},
		{"anti other namespace", []podSpec{{ns: "other", labels: web, node: "n0"}}, podSpec{labels: web, spec: anti(term(sdk.LabelHostname, web))}, all("")},
		{"anti all namespaces", []podSpec{{ns: "other", labels: web, node: "n0"}},
			podSpec{labels: web, spec: anti(obj{"labelSelector": obj{"matchLabels": web}, "topologyKey": sdk.LabelHostname, "namespaceSelector": obj{}})},
			map[string]string{"n0": ReasonAntiAffinity, "n1": "", "n2": "", "n3": ""}},
		{"existing anti", []podSpec{{labels: db, node: "n1", spec: anti(term(sdk.LabelHostname, web))}}, podSpec{labels: web},
			map[string]string{"n0": "", "n1": ReasonExistingAntiAffinity, "n2": "", "n3": ""}},
		{"existing anti zone", []podSpec{{labels: db, node: "n1", spec: anti(term(sdk.LabelZone, web))}}, podSpec{labels: web},
			map[string]string{"n0": "", "n1": ReasonExistingAntiAffinity, "n2": "", "n3": ReasonExistingAntiAffinity}},
		{"existing anti, not selected", []podSpec{{labels: db, node: "n1", spec: anti(term(sdk.LabelZone, web))}}, podSpec{labels: db}, all("")},
		{"affinity zone", []podSpec{{labels: db, node: "n1"}}, podSpec{labels: web, spec: aff(term(sdk.LabelZone, db))},
			map[string]string{"n0": ReasonAffinity, "n1": "", "n2": ReasonAffinity, "n3": ""}},
		{"affinity hostname", []podSpec{{labels: db, node: "n1"}}, podSpec{labels: web, spec: aff(term(sdk.LabelHostname, db))},
			map[string]string{"n0": ReasonAffinity, "n1": "", "n2": ReasonAffinity, "n3": ReasonAffinity}},
		{"affinity, nothing matches", nil, podSpec{labels: web, spec: aff(term(sdk.LabelZone, db))}, all(ReasonAffinity)},
		{"affinity to itself, first pod", nil, podSpec{labels: web, spec: aff(term(sdk.LabelZone, web))}, all("")},
		{"affinity to itself, later pods", []podSpec{{labels: web, node: "n2"}}, podSpec{labels: web, spec: aff(term(sdk.LabelZone, web))},
			map[string]string{"n0": "", "n1": ReasonAffinity, "n2": "", "n3": ReasonAffinity}},
		{"affinity and anti", []podSpec{{labels: db, node: "n1"}, {labels: web, node: "n3"}},
			podSpec{labels: web, spec: obj{"affinity": obj{
				"podAffinity":     obj{"requiredDuringSchedulingIgnoredDuringExecution": []any{term(sdk.LabelZone, db)}},
				"podAntiAffinity": obj{"requiredDuringSchedulingIgnoredDuringExecution": []any{term(sdk.LabelHostname, web)}},
			}}},
			map[string]string{"n0": ReasonAffinity, "n1": "", "n2": ReasonAffinity, "n3": ReasonAntiAffinity}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pods []*sdk.PodInfo
			for i, e := range c.existing {
				e.name = "e" + string(rune('0'+i))
				pods = append(pods, mkPod(t, e))
			}
			s := snap(t, nodes, pods...)
			c.pod.name = "p"
			for _, noIndex := range []bool{false, true} {
				if got := filterAll(s, &InterPodAffinity{NoIndex: noIndex}, mkPod(t, c.pod)); !maps.Equal(got, c.want) {
					t.Errorf("noIndex %v:\n got %v\nwant %v", noIndex, got, c.want)
				}
			}
		})
	}
}

func TestInterPodAffinityScore(t *testing.T) {
	web := map[string]string{"app": "web"}
	db := map[string]string{"app": "db"}
	nodes := zoned(t, 4, 2, "4")
	prefAff := func(w int, key string, l map[string]string) obj {
		return obj{"affinity": obj{"podAffinity": obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{obj{"weight": w, "podAffinityTerm": term(key, l)}}}}}
	}
	prefAnti := func(w int, key string, l map[string]string) obj {
		return obj{"affinity": obj{"podAntiAffinity": obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{obj{"weight": w, "podAffinityTerm": term(key, l)}}}}}
	}
	for _, c := range []struct {
		name     string
		existing []podSpec
		pod      podSpec
		want     map[string]int64
	}{
		{"none", []podSpec{{labels: db, node: "n1"}}, podSpec{labels: web}, map[string]int64{"n0": 0, "n1": 0, "n2": 0, "n3": 0}},
		{"preferred affinity zone", []podSpec{{labels: db, node: "n1"}}, podSpec{labels: web, spec: prefAff(10, sdk.LabelZone, db)},
			map[string]int64{"n0": 0, "n1": 100, "n2": 0, "n3": 100}},
		{"preferred anti hostname", []podSpec{{labels: web, node: "n0"}}, podSpec{labels: web, spec: prefAnti(10, sdk.LabelHostname, web)},
			map[string]int64{"n0": 0, "n1": 100, "n2": 100, "n3": 100}},
		// An existing pod's preferred affinity toward the incoming pod counts too.
		{"existing preferred", []podSpec{{labels: db, node: "n2", spec: prefAff(10, sdk.LabelZone, web)}}, podSpec{labels: web},
			map[string]int64{"n0": 100, "n1": 0, "n2": 100, "n3": 0}},
		// And its required affinity, with the hard weight.
		{"existing required", []podSpec{{labels: db, node: "n3", spec: obj{"affinity": obj{"podAffinity": obj{"requiredDuringSchedulingIgnoredDuringExecution": []any{term(sdk.LabelHostname, web)}}}}}},
			podSpec{labels: web}, map[string]int64{"n0": 0, "n1": 0, "n2": 0, "n3": 100}},
		// Affinity 10 to db by zone (z1) and anti 5 from web by hostname (n1): n1 5, n3 10, others 0.
		{"mixed", []podSpec{{labels: db, node: "n1"}, {labels: web, node: "n1"}},
			podSpec{labels: web, spec: obj{"affinity": obj{
				"podAffinity":     obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{obj{"weight": 10, "podAffinityTerm": term(sdk.LabelZone, db)}}},
				"podAntiAffinity": obj{"preferredDuringSchedulingIgnoredDuringExecution": []any{obj{"weight": 5, "podAffinityTerm": term(sdk.LabelHostname, web)}}},
			}}},
			map[string]int64{"n0": 0, "n1": 50, "n2": 0, "n3": 100}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pods []*sdk.PodInfo
			for i, e := range c.existing {
				e.name = "e" + string(rune('0'+i))
				pods = append(pods, mkPod(t, e))
			}
			s := snap(t, nodes, pods...)
			c.pod.name = "p"
			if got := scoreAll(s, &InterPodAffinity{HardPodAffinityWeight: 1}, mkPod(t, c.pod)); !maps.Equal(got, c.want) {
				t.Errorf("\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestPodTopologySpreadFilter(t *testing.T) {
	web := map[string]string{"app": "web"}
	spread := func(key string, skew int, extra obj) obj {
		c := obj{"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": obj{"matchLabels": web}}
		for k, v := range extra {
			c[k] = v
		}
		return obj{"topologySpreadConstraints": []any{c}}
	}
	nodes := zoned(t, 4, 2, "4")
	nodes = append(nodes, mkNode(t, nodeSpec{name: "nolabel", labels: map[string]string{"other": "x"}}))
	missing := ReasonSpreadMissingLabel
	for _, c := range []struct {
		name     string
		existing []podSpec
		pod      podSpec
		want     map[string]string
	}{
		{"zone skew", []podSpec{{labels: web, node: "n0"}, {labels: web, node: "n2"}}, podSpec{labels: web, spec: spread(sdk.LabelZone, 1, nil)},
			map[string]string{"n0": ReasonSpread, "n1": "", "n2": ReasonSpread, "n3": "", "nolabel": missing}},
		{"zone skew 2", []podSpec{{labels: web, node: "n0"}, {labels: web, node: "n2"}}, podSpec{labels: web, spec: spread(sdk.LabelZone, 2, nil)},
			map[string]string{"n0": ReasonSpread, "n1": "", "n2": ReasonSpread, "n3": "", "nolabel": missing}},
		{"zone skew 3", []podSpec{{labels: web, node: "n0"}, {labels: web, node: "n2"}}, podSpec{labels: web, spec: spread(sdk.LabelZone, 3, nil)},
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "nolabel": missing}},
		// hostname is a key like any other; the label-less node falls back to its name.
		{"hostname", []podSpec{{labels: web, node: "n0"}}, podSpec{labels: web, spec: spread(sdk.LabelHostname, 1, nil)},
			map[string]string{"n0": ReasonSpread, "n1": "", "n2": "", "n3": "", "nolabel": ""}},
		{"other labels not counted", []podSpec{{labels: map[string]string{"app": "db"}, node: "n0"}, {labels: web, node: "n0", ns: "other"}}, podSpec{labels: web, spec: spread(sdk.LabelHostname, 1, nil)},
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "nolabel": ""}},
		// A pod its own selector misses adds no skew.
		{"self not matching", []podSpec{{labels: web, node: "n0"}}, podSpec{labels: map[string]string{"app": "x"}, spec: spread(sdk.LabelHostname, 1, nil)},
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "nolabel": ""}},
		// minDomains above the domain count makes the minimum 0.
		{"minDomains", []podSpec{{labels: web, node: "n0"}, {labels: web, node: "n1"}}, podSpec{labels: web, spec: spread(sdk.LabelZone, 1, obj{"minDomains": 3})},
			map[string]string{"n0": ReasonSpread, "n1": ReasonSpread, "n2": ReasonSpread, "n3": ReasonSpread, "nolabel": missing}},
		// Nodes the pod's node selector excludes do not count as domains (nodeAffinityPolicy Honor).
		{"node affinity honored", []podSpec{{labels: web, node: "n0"}}, podSpec{labels: web, spec: func() obj {
			s := spread(sdk.LabelHostname, 1, nil)
			s["nodeSelector"] = obj{sdk.LabelZone: "z0"}
			return s
		}()}, map[string]string{"n0": ReasonSpread, "n1": "", "n2": "", "n3": "", "nolabel": ""}},
		// ...but not for spreading.
		{"deleting not counted", []podSpec{{labels: web, node: "n0", deleting: true}}, podSpec{labels: web, spec: spread(sdk.LabelHostname, 1, nil)},
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "nolabel": ""}},
		{"ScheduleAnyway does not filter", []podSpec{{labels: web, node: "n0"}, {labels: web, node: "n0"}}, podSpec{labels: web, spec: obj{"topologySpreadConstraints": []any{
			obj{"maxSkew": 1, "topologyKey": sdk.LabelHostname, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": obj{"matchLabels": web}}}}},
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "nolabel": ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pods []*sdk.PodInfo
			for i, e := range c.existing {
				e.name = "e" + string(rune('0'+i))
				pods = append(pods, mkPod(t, e))
			}
			s := snap(t, nodes, pods...)
			c.pod.name = "p"
			if got := filterAll(s, &PodTopologySpread{}, mkPod(t, c.pod)); !maps.Equal(got, c.want) {
				t.Errorf("\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestPodTopologySpreadScore(t *testing.T) {
	web := map[string]string{"app": "web"}
	nodes := zoned(t, 4, 2, "4")
	existing := []*sdk.PodInfo{
		mkPod(t, podSpec{name: "e0", labels: web, node: "n0"}),
		mkPod(t, podSpec{name: "e1", labels: web, node: "n0"}),
		mkPod(t, podSpec{name: "e2", labels: web, node: "n1"}),
	}
	s := snap(t, nodes, existing...)
	// System defaults (hostname skew 3, zone skew 5): raw scores n0 12, n1 9, n2 9,
	// n3 7; normalised 100 × (12 + 7 − s) / 12.
	got := scoreAll(s, &PodTopologySpread{}, mkPod(t, podSpec{name: "p", labels: web, owned: true}))
	if want := map[string]int64{"n0": 58, "n1": 83, "n2": 83, "n3": 100}; !maps.Equal(got, want) {
		t.Errorf("defaults: got %v, want %v", got, want)
	}
	// Not controlled: no default constraints.
	got = scoreAll(s, &PodTopologySpread{}, mkPod(t, podSpec{name: "p", labels: web}))
	if want := map[string]int64{"n0": 0, "n1": 0, "n2": 0, "n3": 0}; !maps.Equal(got, want) {
		t.Errorf("uncontrolled: got %v, want %v", got, want)
	}
	got = scoreAll(s, &PodTopologySpread{NoSystemDefaults: true}, mkPod(t, podSpec{name: "p", labels: web, owned: true}))
	if want := map[string]int64{"n0": 0, "n1": 0, "n2": 0, "n3": 0}; !maps.Equal(got, want) {
		t.Errorf("no defaults: got %v, want %v", got, want)
	}
	// An explicit hostname constraint: raw n0 2·ln6+0 = 3.58 → 4, n1 1.79 → 2, n2 n3 0;
	// max 4, min 0: 100 × (4 − s) / 4.
	hostOnly := obj{"topologySpreadConstraints": []any{obj{"maxSkew": 1, "topologyKey": sdk.LabelHostname, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": obj{"matchLabels": web}}}}
	got = scoreAll(s, &PodTopologySpread{}, mkPod(t, podSpec{name: "p", labels: web, spec: hostOnly}))
	if want := map[string]int64{"n0": 0, "n1": 50, "n2": 100, "n3": 100}; !maps.Equal(got, want) {
		t.Errorf("hostname: got %v, want %v", got, want)
	}
}
