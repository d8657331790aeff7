package sdk

import "testing"

func TestLabelSelector(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front"}
	cases := []struct {
		sel  *LabelSelector
		want bool
		str  string
	}{
		{nil, false, ""},
		{&LabelSelector{}, true, ""},
		{&LabelSelector{MatchLabels: map[string]string{"app": "web"}}, true, "app=web"},
		{&LabelSelector{MatchLabels: map[string]string{"app": "db"}}, false, "app=db"},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: "In", Values: []string{"front", "back"}}}}, true, "tier in (front,back)"},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: "NotIn", Values: []string{"front"}}}}, false, "tier notin (front)"},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: "NotIn", Values: []string{"a"}}}}, true, "zone notin (a)"},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Exists"}}}, true, "app"},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "DoesNotExist"}}}, false, "!app"},
		{&LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}, false, ""},
		{&LabelSelector{MatchLabels: map[string]string{"tier": "front", "app": "web"}}, true, "app=web,tier=front"},
	}
	for _, tc := range cases {
		if got := tc.sel.Matches(labels); got != tc.want {
			t.Errorf("%+v matches: %v, want %v", tc.sel, got, tc.want)
		}
		if got := tc.sel.String(); got != tc.str {
			t.Errorf("%+v string: %q, want %q", tc.sel, got, tc.str)
		}
	}
}

func TestControllerRef(t *testing.T) {
	owner := ObjectMeta{Name: "web", UID: "u1"}
	ref := ControllerRef(GVK{"apps", "v1", "ReplicaSet"}, &owner)
	m := ObjectMeta{OwnerReferences: []OwnerReference{{Kind: "Other", UID: "x"}, ref}}
	if got := m.ControllerOf(); got == nil || got.UID != "u1" || got.APIVersion != "apps/v1" {
		t.Fatalf("controller of: %+v", got)
	}
	if (&ObjectMeta{}).ControllerOf() != nil {
		t.Fatal("no owner has no controller")
	}
}
