package apiserver

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestParseRequest(t *testing.T) {
	cases := []struct {
		method, path string
		ok           bool
		want         requestInfo
	}{
		{"GET", "/api/v1/namespaces", true, requestInfo{IsResource: true, Verb: "list", Resource: "namespaces"}},
		{"GET", "/api/v1/namespaces/default", true, requestInfo{IsResource: true, Verb: "get", Resource: "namespaces", Name: "default"}},
		{"PUT", "/api/v1/namespaces/default/finalize", true, requestInfo{IsResource: true, Verb: "update", Resource: "namespaces", Name: "default", Subresource: "finalize"}},
		{"GET", "/api/v1/namespaces/default/status", true, requestInfo{IsResource: true, Verb: "get", Resource: "namespaces", Name: "default", Subresource: "status"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps", true, requestInfo{IsResource: true, Verb: "list", Namespace: "ns1", Resource: "configmaps"}},
		{"GET", "/api/v1/namespaces/ns1/configmaps?watch=true", true, requestInfo{IsResource: true, Verb: "watch", Namespace: "ns1", Resource: "configmaps"}},
		{"GET", "/api/v1/watch/namespaces/ns1/configmaps", true, requestInfo{IsResource: true, Verb: "watch", Namespace: "ns1", Resource: "configmaps"}},
		{"POST", "/api/v1/namespaces/ns1/configmaps", true, requestInfo{IsResource: true, Verb: "create", Namespace: "ns1", Resource: "configmaps"}},
		{"DELETE", "/api/v1/namespaces/ns1/configmaps", true, requestInfo{IsResource: true, Verb: "deletecollection", Namespace: "ns1", Resource: "configmaps"}},
		{"DELETE", "/api/v1/namespaces/ns1/configmaps/a", true, requestInfo{IsResource: true, Verb: "delete", Namespace: "ns1", Resource: "configmaps", Name: "a"}},
		{"PATCH", "/apis/example.com/v1/namespaces/ns1/widgets/w/scale", true, requestInfo{IsResource: true, Verb: "patch", Namespace: "ns1", Resource: "widgets", Name: "w", Subresource: "scale"}},
		{"GET", "/api/v1/configmaps", true, requestInfo{IsResource: true, Verb: "list", Resource: "configmaps"}},
		{"GET", "/api/v1", true, requestInfo{}},
		{"GET", "/apis/example.com/v1", true, requestInfo{}},
		{"GET", "/api/v1/namespaces/ns1/configmaps/a/b/c", false, requestInfo{}},
		{"GET", "/apis/example.com", false, requestInfo{}},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			got, ok := parseRequest(httptest.NewRequest(tc.method, tc.path, nil))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			got.GV, got.Parts = tc.want.GV, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		accept string
		want   output
		err    bool
	}{
		{"", output{}, false},
		{"*/*", output{}, false},
		{"application/json", output{}, false},
		{"application/yaml", output{yaml: true}, false},
		{"application/json;as=Table;v=v1;g=meta.k8s.io,application/json", output{as: "Table", metaVersion: "v1"}, false},
		{"application/json;as=Table;v=v1beta1;g=meta.k8s.io", output{as: "Table", metaVersion: "v1beta1"}, false},
		{"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", output{as: "PartialObjectMetadataList", metaVersion: "v1"}, false},
		{"application/json;as=Table;v=v2;g=meta.k8s.io,application/json", output{}, false},
		{"application/vnd.kubernetes.protobuf,application/json", output{}, false},
		{"application/vnd.kubernetes.protobuf", output{}, true},
		{"text/html", output{}, true},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept", tc.accept)
		got, err := negotiate(r)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Accept %q: got %+v, %v; want %+v, error %v", tc.accept, got, err, tc.want, tc.err)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	// Kubernetes orders GA before beta before alpha, then by number.
	order := []string{"v1alpha1", "v1alpha2", "v2alpha1", "v1beta1", "v1beta2", "v1", "v2"}
	for i := range order {
		for j := range order {
			got := compareVersions(order[i], order[j])
			if (i < j) != (got < 0) || (i == j) != (got == 0) {
				t.Errorf("compareVersions(%s, %s) = %d", order[i], order[j], got)
			}
		}
	}
}

func TestDefinitionName(t *testing.T) {
	for _, tc := range [][4]string{
		{"", "v1", "ConfigMap", "io.k8s.api.core.v1.ConfigMap"},
		{"apps", "v1", "Deployment", "io.k8s.api.apps.v1.Deployment"},
		{"networking.k8s.io", "v1", "Ingress", "io.k8s.api.networking.v1.Ingress"},
		{"example.com", "v1", "Widget", "com.example.v1.Widget"},
		{"weft.dev", "v1alpha1", "Plugin", "dev.weft.v1alpha1.Plugin"},
	} {
		if got := DefinitionName(tc[0], tc[1], tc[2]); got != tc[3] {
			t.Errorf("DefinitionName(%q, %q, %q) = %q, want %q", tc[0], tc[1], tc[2], got, tc[3])
		}
	}
}
