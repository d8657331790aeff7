package schema

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"weft.dev/weft/plugins/core/schemas"
)

// bothConverters loads the built-in schemas of gvks and returns our converter (named
// types) and managedfields' own over the same models (inlined types).
func bothConverters(t testing.TB, gvks ...schema.GroupVersionKind) (named, inlined managedfields.TypeConverter) {
	t.Helper()
	kinds := map[schema.GroupVersionKind]*Structural{}
	for _, gvk := range gvks {
		sp, err := schemas.Load(gvk.Group, gvk.Version, gvk.Kind)
		if err != nil {
			t.Fatal(err)
		}
		if kinds[gvk], err = Compile(sp); err != nil {
			t.Fatal(err)
		}
	}
	named, err := NewTypeConverter(kinds)
	if err != nil {
		t.Fatal(err)
	}
	models, err := applyModels(kinds)
	if err != nil {
		t.Fatal(err)
	}
	if inlined, err = managedfields.NewTypeConverter(models, false); err != nil {
		t.Fatal(err)
	}
	return named, inlined
}

// TestNamedTypesConvertAsInlined: the converter with named types must give the
// answers of managedfields' own converter over the same (inlined) models: the same
// field sets, comparisons and merges, and the same error for an unknown kind.
func TestNamedTypesConvertAsInlined(t *testing.T) {
	named, inlined := bothConverters(t, schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		schema.GroupVersionKind{Version: "v1", Kind: "Service"}, schema.GroupVersionKind{Version: "v1", Kind: "Node"})
	obj := func(s string) *unstructured.Unstructured {
		var m map[string]any
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: m}
	}
	pairs := [][2]string{
		{`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"1"}},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80}],"env":[{"name":"A","value":"1"}]}],"tolerations":[{"key":"k","operator":"Exists"}]}}`,
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"2","b":"3"}},"spec":{"containers":[{"name":"c","image":"j","ports":[{"containerPort":80},{"containerPort":81,"protocol":"UDP"}]},{"name":"d","image":"i"}],"nodeName":"n1","affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"z","operator":"In","values":["a"]}]}]}}}},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],"podIPs":[{"ip":"10.0.0.1"}]}}`},
		{`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`,
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","annotations":{"x":"y"}},"spec":{"replicas":5,"selector":{"matchLabels":{"app":"x"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"50%"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"j","resources":{"limits":{"cpu":"1"}}}]}}},"status":{"replicas":5}}`},
		{`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80,"protocol":"TCP"}],"selector":{"app":"x"}}}`,
			`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":8080},{"port":443,"protocol":"TCP"}],"selector":{"app":"y"},"type":"NodePort"}}`},
		{`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"spec":{"taints":[{"key":"a","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"4"},"conditions":[{"type":"Ready","status":"True"}]}}`,
			`{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"spec":{"podCIDR":"10.0.0.0/24","taints":[]},"status":{"capacity":{"cpu":"8"},"addresses":[{"type":"InternalIP","address":"1.2.3.4"}],"conditions":[{"type":"Ready","status":"False"}]}}`},
	}
	typedPair := func(tc managedfields.TypeConverter, p [2]string) (a, b *typed.TypedValue) {
		var err error
		if a, err = tc.ObjectToTyped(obj(p[0])); err != nil {
			t.Fatal(err)
		}
		if b, err = tc.ObjectToTyped(obj(p[1])); err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	for _, p := range pairs {
		na, nb := typedPair(named, p)
		ia, ib := typedPair(inlined, p)
		for i, v := range [][2]*typed.TypedValue{{na, ia}, {nb, ib}} {
			nset, err1 := v[0].ToFieldSet()
			iset, err2 := v[1].ToFieldSet()
			if err1 != nil || err2 != nil || !nset.Equals(iset) {
				t.Fatalf("object %d: field sets differ (%v, %v):\nnamed   %v\ninlined %v", i, err1, err2, nset, iset)
			}
		}
		nc, err1 := na.Compare(nb)
		ic, err2 := ia.Compare(ib)
		if err1 != nil || err2 != nil || !nc.Added.Equals(ic.Added) || !nc.Removed.Equals(ic.Removed) || !nc.Modified.Equals(ic.Modified) {
			t.Fatalf("comparisons differ (%v, %v):\nnamed   %v\ninlined %v", err1, err2, nc, ic)
		}
		nm, err1 := na.Merge(nb)
		im, err2 := ia.Merge(ib)
		if err1 != nil || err2 != nil {
			t.Fatalf("merge: %v, %v", err1, err2)
		}
		if !value.Equals(nm.AsValue(), im.AsValue()) {
			t.Fatalf("merges differ:\nnamed   %v\ninlined %v", value.ToString(nm.AsValue()), value.ToString(im.AsValue()))
		}
	}
	unknown := obj(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`)
	_, err1 := named.ObjectToTyped(unknown)
	_, err2 := inlined.ObjectToTyped(unknown)
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
		t.Fatalf("unknown kind: %v, want %v", err1, err2)
	}
}

// BenchmarkManagedFields compares a pod's status write as the field manager does
// (both versions to typed values, then compared), with our named types and with
// managedfields' own converter over the same models, which inlines them.
func BenchmarkManagedFields(b *testing.B) {
	named, inlined := bothConverters(b, schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	var cur, next map[string]any
	_ = sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"nodeName":"n","containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"100m"}}}]},"status":{"phase":"Pending"}}`), &cur)
	_ = sigsjson.UnmarshalCaseSensitivePreserveInts([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"nodeName":"n","containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"100m"}}}]},"status":{"phase":"Running","podIP":"10.0.0.1","conditions":[{"type":"Ready","status":"True"}],"containerStatuses":[{"name":"c","ready":true,"restartCount":0,"image":"i","imageID":""}]}}`), &next)
	a, n := &unstructured.Unstructured{Object: cur}, &unstructured.Unstructured{Object: next}
	for _, c := range []struct {
		name string
		tc   managedfields.TypeConverter
	}{{"types=named", named}, {"types=inlined", inlined}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ta, err := c.tc.ObjectToTyped(a)
				if err != nil {
					b.Fatal(err)
				}
				tn, err := c.tc.ObjectToTyped(n)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ta.Compare(tn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
