package sdk

import (
	"reflect"
	"testing"
)

func TestManifestControlledOnly(t *testing.T) {
	rs, dep, pod := GVK{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, GVK{Group: "apps", Version: "v1", Kind: "Deployment"}, PodKind
	only := func(k GVK) FieldSet { return FieldSet{Kind: k, Paths: []string{".status"}, ControlledOnly: true} }
	for _, tc := range []struct {
		name string
		ctrl []Controller
		want map[GVK]map[string]bool
		err  bool
	}{
		{"owned", []Controller{{Name: "rs", For: rs, Owns: []GVK{pod}, Fields: []FieldSet{only(pod)}}},
			map[GVK]map[string]bool{pod: {"apps/ReplicaSet": true}}, false},
		{"not asked", []Controller{{Name: "rs", For: rs, Owns: []GVK{pod}, Fields: []FieldSet{{Kind: pod, Paths: []string{".status"}}}}},
			map[GVK]map[string]bool{}, false},
		{"another controller wants all of it", []Controller{
			{Name: "rs", For: rs, Owns: []GVK{pod}, Fields: []FieldSet{only(pod)}},
			{Name: "dep", For: dep, Owns: []GVK{pod}},
		}, map[GVK]map[string]bool{}, false},
		{"both ask", []Controller{
			{Name: "rs", For: rs, Owns: []GVK{pod}, Fields: []FieldSet{only(pod)}},
			{Name: "dep", For: dep, Owns: []GVK{pod, rs}, Fields: []FieldSet{only(pod)}},
		}, map[GVK]map[string]bool{pod: {"apps/ReplicaSet": true, "apps/Deployment": true}}, false},
		{"a primary", []Controller{
			{Name: "rs", For: rs, Owns: []GVK{pod}},
			{Name: "dep", For: dep, Owns: []GVK{rs}, Fields: []FieldSet{only(rs)}},
		}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Manifest{Controllers: tc.ctrl}.ControlledOnly()
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error=%v", err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
