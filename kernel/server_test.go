package kernel_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/openapi3"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/apiserver"
	"weft.dev/weft/kernel/kerneltest"
	"weft.dev/weft/kernel/registry"
)

func TestUnauthenticated(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	// Trust the server, but present no client certificate.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.Kernel.CA().Pool()}}}
	for _, path := range []string{"/api/v1/namespaces", "/api", "/version", "/metrics", "/openapi/v3"} {
		r := doWith(t, hc, c.Config.Host, http.MethodGet, path, "", nil)
		if st := r.status(t); r.code != 401 || st.Reason != metav1.StatusReasonUnauthorized {
			t.Fatalf("%s without credentials: want 401 Unauthorized, got %d %s", path, r.code, r.body)
		}
	}
	// Health endpoints are for probes and need no credentials.
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		if r := doWith(t, hc, c.Config.Host, http.MethodGet, path, "", nil); r.code != 200 || string(r.body) != "ok" {
			t.Fatalf("%s: %d %s", path, r.code, r.body)
		}
	}
}

func TestTooManyRequests(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Tune: func(cfg *kernel.Config) { cfg.MaxReadOnlyInflight = 1 }})
	// A read of a future revision holds its slot for seconds while it waits for the
	// revision; of several at once, only one can have the single slot.
	const n = 4
	results := make(chan response, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			results <- do(t, c, http.MethodGet, "/api/v1/namespaces/default/configmaps?resourceVersion=999999999", "", nil)
		})
	}
	wg.Wait()
	close(results)
	refused := 0
	for r := range results {
		if r.code != 429 {
			continue
		}
		refused++
		st := r.status(t)
		if st.Reason != metav1.StatusReasonTooManyRequests || r.header.Get("Retry-After") != "1" {
			t.Fatalf("429 without reason or Retry-After: %v %s", r.header, r.body)
		}
	}
	if refused < n-1 {
		t.Fatalf("%d of %d requests refused with one slot", refused, n)
	}
	// The limit frees up: the server answers again.
	if r := do(t, c, http.MethodGet, "/api/v1/namespaces/default/configmaps", "", nil); r.code != 200 {
		t.Fatalf("after the burst: %d", r.code)
	}
}

func TestDiscovery(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{kerneltest.WidgetKind(t)}})
	groups, lists, err := c.Client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	names := sets.New[string]()
	for _, g := range groups {
		names.Insert(g.Name)
	}
	if !names.HasAll("", "example.com") {
		t.Fatalf("groups: %v", sets.List(names))
	}
	found := map[string]metav1.APIResource{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			found[l.GroupVersion+"/"+r.Name] = r
		}
	}
	cm, ok := found["v1/configmaps"]
	if !ok || !cm.Namespaced || cm.Kind != "ConfigMap" || !sets.New(cm.ShortNames...).Has("cm") || !sets.New(cm.Verbs...).HasAll("create", "watch", "patch", "deletecollection") {
		t.Fatalf("configmaps: %+v", cm)
	}
	if ns := found["v1/namespaces"]; ns.Namespaced || !sets.New(ns.ShortNames...).Has("ns") {
		t.Fatalf("namespaces: %+v", ns)
	}
	for _, sub := range []string{"example.com/v1/widgets/status", "example.com/v1/widgets/scale", "v1/namespaces/finalize"} {
		if _, ok := found[sub]; !ok {
			t.Fatalf("subresource %s not discovered", sub)
		}
	}
	// Aggregated discovery, which kubectl asks for first.
	r := do(t, c, http.MethodGet, "/apis", "", nil, "Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	if r.code != 200 || !strings.Contains(r.header.Get("Content-Type"), "as=APIGroupDiscoveryList") || !strings.Contains(string(r.body), `"resource":"widgets"`) {
		t.Fatalf("aggregated discovery: %d %s %s", r.code, r.header.Get("Content-Type"), r.body)
	}
}

func TestOpenAPI(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{kerneltest.WidgetKind(t)}})
	root := openapi3.NewRoot(c.Client.Discovery().OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(gvs, widgets.GroupVersion()) || !slices.Contains(gvs, schema.GroupVersion{Version: "v1"}) {
		t.Fatalf("group versions: %v", gvs)
	}
	doc, err := root.GVSpec(widgets.GroupVersion())
	if err != nil {
		t.Fatal(err)
	}
	w, ok := doc.Components.Schemas["com.example.v1.Widget"]
	if !ok || w.Properties["spec"].Properties["color"].Default != "blue" {
		t.Fatalf("widget schema: %+v", w)
	}
	// kubectl sends fieldValidation only where the PATCH operation declares it, and
	// strategic merge patches only where that content type is listed.
	p := doc.Paths.Paths["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]
	if p == nil || p.Patch == nil {
		t.Fatalf("no PATCH for widgets: %v", doc.Paths.Paths)
	}
	params := sets.New[string]()
	for _, prm := range p.Patch.Parameters {
		params.Insert(prm.Name)
	}
	if !params.HasAll("fieldValidation", "fieldManager", "dryRun", "force") {
		t.Fatalf("PATCH parameters: %v", sets.List(params))
	}
	if _, ok := p.Patch.RequestBody.Content["application/strategic-merge-patch+json"]; !ok {
		t.Fatal("strategic merge patch not offered")
	}
	core, err := root.GVSpec(schema.GroupVersion{Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if s := core.Components.Schemas["io.k8s.api.core.v1.ConfigMap"]; s == nil || !strings.Contains(s.Properties["data"].Description, "configuration data") {
		t.Fatal("ConfigMap schema has no descriptions; kubectl explain would be empty")
	}
	if core.Components.Schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"] == nil {
		t.Fatal("ObjectMeta is not published")
	}
}

func TestTable(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{Kinds: []registry.Kind{kerneltest.WidgetKind(t)}})
	ctx := ctxT(t)
	if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, configMap("t", nil, map[string]string{"a": "1", "b": "2"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := do(t, c, http.MethodGet, "/api/v1/namespaces/default/configmaps", "", nil, "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	var table metav1.Table
	if err := json.Unmarshal(r.body, &table); err != nil || table.Kind != "Table" {
		t.Fatalf("not a Table: %v %s", err, r.body)
	}
	var cols []string
	for _, col := range table.ColumnDefinitions {
		cols = append(cols, col.Name)
	}
	if strings.Join(cols, ",") != "Name,Data,Age" || len(table.Rows) != 1 || table.Rows[0].Cells[0] != "t" || table.Rows[0].Cells[1] != float64(2) {
		t.Fatalf("table: %v %+v", cols, table.Rows)
	}
	var meta metav1.PartialObjectMetadata
	if err := json.Unmarshal(table.Rows[0].Object.Raw, &meta); err != nil || meta.Name != "t" || meta.Kind != "PartialObjectMetadata" {
		t.Fatalf("row object: %v %s", err, table.Rows[0].Object.Raw)
	}
	if r := do(t, c, http.MethodGet, "/api/v1/namespaces/default/configmaps", "", nil, "Accept", "application/vnd.kubernetes.protobuf"); r.code != 406 {
		t.Fatalf("unsatisfiable Accept: want 406, got %d", r.code)
	}
}

func TestMetricsAndVersion(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctxT(t), configMap("m", nil, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := do(t, c, http.MethodGet, "/metrics", "", nil)
	for _, m := range []string{"apiserver_request_total{", "apiserver_request_duration_seconds_bucket{", "weft_store_commit_duration_seconds_bucket", "weft_store_watchers{"} {
		if !strings.Contains(string(r.body), m) {
			t.Fatalf("metric %s missing", m)
		}
	}
	v, err := c.Client.Discovery().ServerVersion()
	if err != nil || v.Major != "1" || !strings.Contains(v.GitVersion, "weft") {
		t.Fatalf("version: %v %+v", err, v)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	c := kerneltest.Start(t, kerneltest.Options{Dir: dir})
	ctx := ctxT(t)
	newNamespace(t, c, "keep")
	cm, err := c.Client.CoreV1().ConfigMaps("keep").Create(ctx, configMap("a", map[string]string{"x": "y"}, map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	c2 := kerneltest.Start(t, kerneltest.Options{Dir: dir})
	got, err := c2.Client.CoreV1().ConfigMaps("keep").Get(ctx, "a", metav1.GetOptions{})
	if err != nil || got.ResourceVersion != cm.ResourceVersion || got.UID != cm.UID || got.Data["k"] != "v" {
		t.Fatalf("after restart: %v %+v", err, got)
	}
	// Revisions continue from where they were.
	next, err := c2.Client.CoreV1().ConfigMaps("keep").Create(ctx, configMap("b", nil, nil), metav1.CreateOptions{})
	if err != nil || mustRV(t, next.ResourceVersion) <= mustRV(t, cm.ResourceVersion) {
		t.Fatalf("revision went backwards: %v %s <= %s", err, next.ResourceVersion, cm.ResourceVersion)
	}
	if c2.Kernel.CA().Fingerprint() != c.Kernel.CA().Fingerprint() {
		t.Fatal("CA changed across restarts")
	}
}

func TestExtensionSubresource(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	c.Kernel.API().HandleSubresource(apiserver.Subresource{
		Resource: schema.GroupResource{Resource: "configmaps"},
		Name:     "echo",
		Verbs:    []string{"get"},
		Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		Handler: apiserver.SubresourceHandlerFunc(func(w http.ResponseWriter, r *http.Request, req apiserver.SubresourceRequest) {
			w.Write([]byte(req.Namespace + "/" + req.Name + "/" + req.Subresource + " " + req.Verb))
		}),
	})
	if r := do(t, c, http.MethodGet, "/api/v1/namespaces/default/configmaps/x/echo", "", nil); r.code != 200 || string(r.body) != "default/x/echo get" {
		t.Fatalf("extension: %d %s", r.code, r.body)
	}
	if r := do(t, c, http.MethodPost, "/api/v1/namespaces/default/configmaps/x/echo", "application/json", []byte("{}")); r.code != 405 {
		t.Fatalf("verb not offered: want 405, got %d %s", r.code, r.body)
	}
	if r := do(t, c, http.MethodGet, "/api/v1/configmaps/x/echo", "", nil); r.code != 404 {
		t.Fatalf("namespaced extension without a namespace: want 404, got %d", r.code)
	}
	_, lists, err := c.Client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		for _, r := range l.APIResources {
			if r.Name == "configmaps/echo" {
				return
			}
		}
	}
	t.Fatal("extension subresource not discovered")
}
