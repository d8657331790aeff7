package apiserver

import (
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/objects"
)

// A write's JSON response is the bytes it stored, with the resourceVersion put back;
// YAML is still encoded from the object. (The stored bytes differ from the object
// here only so that the test can tell which one was written.)
func TestWriteResultSplicesStoredJSON(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "a", "resourceVersion": "7"}}}
	res := objects.Result{Object: obj, Created: true,
		JSON: []byte(`{"apiVersion":"v1","data":{"from":"store"},"kind":"ConfigMap","metadata":{"name":"a"}}`)}
	rec := httptest.NewRecorder()
	(&Server{}).writeResult(rec, nil, output{}, nil, res, nil)
	want := `{"apiVersion":"v1","data":{"from":"store"},"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"7"}}`
	if rec.Code != 201 || rec.Body.String() != want || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %s, want 201 application/json %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body, want)
	}
	rec = httptest.NewRecorder()
	(&Server{}).writeResult(rec, nil, output{yaml: true}, nil, res, nil)
	if rec.Code != 201 || strings.Contains(rec.Body.String(), "store") || !strings.Contains(rec.Body.String(), "resourceVersion") {
		t.Fatalf("YAML was not encoded from the object: %d %s", rec.Code, rec.Body)
	}
}
