package kernel_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"weft.dev/weft/kernel/kerneltest"
)

func TestConfigMapLifecycle(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	newNamespace(t, c, "team")
	cms := c.Client.CoreV1().ConfigMaps("team")

	w, err := cms.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	created, err := cms.Create(ctx, configMap("app", map[string]string{"tier": "web"}, map[string]string{"k": "v"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Fatalf("server did not set uid, resourceVersion and creationTimestamp: %+v", created.ObjectMeta)
	}
	if _, err := cms.Create(ctx, configMap("other", map[string]string{"tier": "db"}, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, configMap("app", nil, nil), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: want AlreadyExists, got %v", err)
	}

	got, err := cms.Get(ctx, "app", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("get: %v %+v", err, got)
	}
	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "tier=web"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "app" {
		t.Fatalf("list tier=web: %v %+v", err, list)
	}
	list, err = cms.List(ctx, metav1.ListOptions{LabelSelector: "tier in (web,db),tier!=db"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("set-based selector: %v %d items", err, len(list.Items))
	}
	list, err = cms.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=other"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "other" {
		t.Fatalf("field selector: %v %+v", err, list)
	}
	if _, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "spec.nothing=x"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("unsupported field selector: want BadRequest, got %v", err)
	}
	all, err := c.Client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.namespace=team"})
	if err != nil || len(all.Items) != 2 {
		t.Fatalf("cross-namespace list by namespace field: %v %d", err, len(all.Items))
	}

	got.Data["k"] = "v2"
	updated, err := cms.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil || updated.Data["k"] != "v2" || updated.ResourceVersion == got.ResourceVersion {
		t.Fatalf("update: %v %+v", err, updated)
	}
	// The stale copy must conflict.
	got.Data["k"] = "v3"
	if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: want Conflict, got %v", err)
	}
	if err := cms.Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: want NotFound, got %v", err)
	}

	want := []struct {
		typ  watch.EventType
		name string
	}{{watch.Added, "app"}, {watch.Added, "other"}, {watch.Modified, "app"}, {watch.Deleted, "app"}}
	for i, wv := range want {
		ev := <-w.ResultChan()
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if !ok || ev.Type != wv.typ || cm.Name != wv.name {
			t.Fatalf("event %d: want %s %s, got %s %#v", i, wv.typ, wv.name, ev.Type, ev.Object)
		}
	}
}

func TestSecretsAreEncryptedAtRest(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	w, err := c.Client.CoreV1().Secrets("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": "correct-horse-battery-staple"},
	}
	created, err := c.Client.CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(created.Data["password"]) != "correct-horse-battery-staple" || created.Type != corev1.SecretTypeOpaque || len(created.StringData) != 0 {
		t.Fatalf("stringData must fold into data and type default to Opaque: %+v", created)
	}
	if ev := <-w.ResultChan(); ev.Type != watch.Added || string(ev.Object.(*corev1.Secret).Data["password"]) != "correct-horse-battery-staple" {
		t.Fatalf("watch of secrets: %s %+v", ev.Type, ev.Object)
	}
	kv, err := c.Kernel.Objects().Store().Get(ctx, "/core/secrets/default/db", 0)
	if err != nil {
		t.Fatal(err)
	}
	encoded := base64.StdEncoding.EncodeToString([]byte("correct-horse-battery-staple"))
	if bytes.Contains(kv.Value, []byte("correct-horse")) || bytes.Contains(kv.Value, []byte(encoded)) || !bytes.HasPrefix(kv.Value, []byte("weft:enc:aesgcm:v1:")) {
		t.Fatalf("secret stored in the clear: %q", kv.Value)
	}
	// A ConfigMap is not encrypted, so the check above can tell the difference.
	if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, configMap("plain", nil, map[string]string{"k": "visible"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kv, err = c.Kernel.Objects().Store().Get(ctx, "/core/configmaps/default/plain", 0)
	if err != nil || !bytes.Contains(kv.Value, []byte("visible")) {
		t.Fatalf("configmap: %v %q", err, kv.Value)
	}
	got, err := c.Client.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != "correct-horse-battery-staple" {
		t.Fatalf("read back: %v %+v", err, got)
	}
	list, err := c.Client.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{FieldSelector: "type=Opaque"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list by type: %v %+v", err, list)
	}
}

func TestImmutableConfigMap(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	yes := true
	cm := configMap("frozen", nil, map[string]string{"k": "v"})
	cm.Immutable = &yes
	created, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Data["k"] = "changed"
	if _, err := c.Client.CoreV1().ConfigMaps("default").Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("update of immutable data: want Invalid, got %v", err)
	}
	created.Data["k"] = "v"
	created.Labels = map[string]string{"metadata": "may-change"}
	if _, err := c.Client.CoreV1().ConfigMaps("default").Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("metadata of an immutable configmap may change: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	path := "/api/v1/namespaces/default/configmaps"
	valid := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"},"data":{"a":"b"}}`
	cases := []struct {
		name, path, contentType, body string
		code                          int
		reason                        metav1.StatusReason
		message                       string
	}{
		{"malformed JSON", path, "application/json", `{"apiVersion":"v1",`, 400, metav1.StatusReasonBadRequest, "could not be decoded"},
		{"malformed YAML", path, "application/yaml", "apiVersion: v1\n  kind: [", 400, metav1.StatusReasonBadRequest, "unknown format"},
		{"JSON array", path, "application/json", `[1,2]`, 400, metav1.StatusReasonBadRequest, "could not be decoded"},
		{"unknown field, strict", path + "?fieldValidation=Strict", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u"},"spec":{}}`, 400, metav1.StatusReasonBadRequest, `unknown field "spec"`},
		{"unknown metadata field, strict", path + "?fieldValidation=Strict", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u","colour":"red"}}`, 400, metav1.StatusReasonBadRequest, `unknown field "metadata.colour"`},
		{"duplicate field, strict", path + "?fieldValidation=Strict", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u"},"data":{"a":"1"},"data":{"a":"2"}}`, 400, metav1.StatusReasonBadRequest, `duplicate field "data"`},
		{"bad fieldValidation", path + "?fieldValidation=Maybe", "application/json", fmt.Sprintf(valid, "x"), 400, metav1.StatusReasonBadRequest, "fieldValidation"},
		{"invalid name", path, "application/json", fmt.Sprintf(valid, "Not_Valid"), 422, metav1.StatusReasonInvalid, "metadata.name: Invalid value"},
		{"wrong type", path, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"},"data":{"a":1}}`, 422, metav1.StatusReasonInvalid, "data[a]"},
		{"wrong metadata type", path, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t","labels":"x"}}`, 400, metav1.StatusReasonBadRequest, "metadata"},
		{"bad data key", path, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"},"data":{"no/slash":"1"}}`, 422, metav1.StatusReasonInvalid, "data[no/slash]"},
		{"kind mismatch", path, "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"t"}}`, 400, metav1.StatusReasonBadRequest, "do not match"},
		{"namespace mismatch", path, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t","namespace":"other"}}`, 400, metav1.StatusReasonBadRequest, "namespace"},
		{"missing namespace", "/api/v1/namespaces/nowhere/configmaps", "application/json", fmt.Sprintf(valid, "x"), 404, metav1.StatusReasonNotFound, `namespaces "nowhere" not found`},
		{"no name", path, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`, 422, metav1.StatusReasonInvalid, "name or generateName is required"},
		{"unsupported media type", path, "text/plain", "hello", 415, metav1.StatusReasonUnsupportedMediaType, "unknown format"},
		{"unknown resource", "/api/v1/namespaces/default/gizmos", "application/json", "{}", 404, metav1.StatusReasonNotFound, ""},
		{"bad label selector", path + "?labelSelector=a%20in%20(", "", "", 400, metav1.StatusReasonBadRequest, "unable to parse"},
		{"bad dryRun", path + "?dryRun=Some", "application/json", fmt.Sprintf(valid, "x"), 400, metav1.StatusReasonBadRequest, "dry run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			r := do(t, c, method, tc.path, tc.contentType, []byte(tc.body))
			st := r.status(t)
			if r.code != tc.code || st.Code != int32(tc.code) || st.Reason != tc.reason || !strings.Contains(st.Message, tc.message) {
				t.Fatalf("want %d %s containing %q, got %d %s: %s", tc.code, tc.reason, tc.message, r.code, st.Reason, st.Message)
			}
		})
	}
	// Nothing of the above was written.
	list, err := c.Client.CoreV1().ConfigMaps("default").List(ctxT(t), metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("bad requests left objects behind: %v %+v", err, list.Items)
	}
	// Under Warn, an unknown field is dropped and reported in a Warning header.
	r := do(t, c, http.MethodPost, path+"?fieldValidation=Warn", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"spec":{}}`))
	if r.code != 201 || !strings.Contains(r.header.Get("Warning"), `unknown field \"spec\"`) || bytes.Contains(r.body, []byte(`"spec"`)) {
		t.Fatalf("warn: %d %q %s", r.code, r.header.Values("Warning"), r.body)
	}
	// The kernel is still serving.
	if _, err := c.Client.CoreV1().ConfigMaps("default").Get(ctxT(t), "warned", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestOversizedObject(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	big := strings.Repeat("x", 1600*1024)
	_, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, configMap("big", nil, map[string]string{"blob": big}), metav1.CreateOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("create over 1.5 MiB: want 413, got %v", err)
	}
	// Over the request body limit too.
	huge := strings.Repeat("y", 4<<20)
	_, err = c.Client.CoreV1().ConfigMaps("default").Create(ctx, configMap("huge", nil, map[string]string{"blob": huge}), metav1.CreateOptions{})
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("create over the body limit: want 413, got %v", err)
	}
	// Growing an existing object past the limit fails and leaves it as it was.
	small, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, configMap("small", nil, map[string]string{"a": "b"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	small.Data["blob"] = big
	if _, err := c.Client.CoreV1().ConfigMaps("default").Update(ctx, small, metav1.UpdateOptions{}); !apierrors.IsRequestEntityTooLargeError(err) {
		t.Fatalf("update over 1.5 MiB: want 413, got %v", err)
	}
	got, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "small", metav1.GetOptions{})
	if err != nil || len(got.Data) != 1 {
		t.Fatalf("object changed by a failed update: %v %d keys", err, len(got.Data))
	}
	if _, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "big", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("oversized object was written: %v", err)
	}
}

func TestGenerateName(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	seen := map[string]bool{}
	for range 20 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}
		got, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.Name, "gen-") || len(got.Name) != len("gen-")+5 || seen[got.Name] {
			t.Fatalf("bad generated name %q", got.Name)
		}
		seen[got.Name] = true
	}
}

func TestDryRun(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	ctx := ctxT(t)
	cms := c.Client.CoreV1().ConfigMaps("default")
	dry := []string{metav1.DryRunAll}
	got, err := cms.Create(ctx, configMap("dry", nil, map[string]string{"a": "b"}), metav1.CreateOptions{DryRun: dry})
	if err != nil || got.Name != "dry" || got.UID == "" {
		t.Fatalf("dry-run create: %v %+v", err, got)
	}
	if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create persisted: %v", err)
	}
	real, err := cms.Create(ctx, configMap("real", nil, map[string]string{"a": "b"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	real.Data["a"] = "changed"
	if _, err := cms.Update(ctx, real, metav1.UpdateOptions{DryRun: dry}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "real", metav1.DeleteOptions{DryRun: dry}); err != nil {
		t.Fatal(err)
	}
	got, err = cms.Get(ctx, "real", metav1.GetOptions{})
	if err != nil || got.Data["a"] != "b" || got.ResourceVersion != real.ResourceVersion {
		t.Fatalf("dry-run update or delete persisted: %v %+v", err, got)
	}
	// A dry run still validates.
	if _, err := cms.Create(ctx, configMap("Bad", nil, nil), metav1.CreateOptions{DryRun: dry}); !apierrors.IsInvalid(err) {
		t.Fatalf("dry-run of an invalid object: want Invalid, got %v", err)
	}
}

// A write's response is spliced from the bytes it stored; it must be the very bytes a
// read of that version returns, for a create, an update, a patch and a status write,
// and for a kind with a status subresource as for one without.
func TestWriteResponseIsTheStoredObject(t *testing.T) {
	c := kerneltest.Start(t, kerneltest.Options{})
	const cms, pods = "/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/pods"
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`
	for _, w := range []struct {
		name, method, path, ctype, body, get string
	}{
		{"create", "POST", cms, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","annotations":{"x":"1"}},"data":{"k":"v"}}`, cms + "/cm"},
		{"update", "PUT", cms + "/cm", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"k":"w"}}`, cms + "/cm"},
		{"patch", "PATCH", cms + "/cm", "application/merge-patch+json", `{"data":{"n":"1"}}`, cms + "/cm"},
		{"create pod", "POST", pods, "application/json", pod, pods + "/p"},
		{"status", "PATCH", pods + "/p/status", "application/merge-patch+json", `{"status":{"phase":"Running"}}`, pods + "/p"},
	} {
		r := do(t, c, w.method, w.path, w.ctype, []byte(w.body))
		if r.code >= 300 {
			t.Fatalf("%s: %d %s", w.name, r.code, r.body)
		}
		got := do(t, c, "GET", w.get, "", nil)
		if !bytes.Equal(r.body, got.body) {
			t.Fatalf("%s: the response is not what a read returns\nwrite: %s\nread:  %s", w.name, r.body, got.body)
		}
	}
}
