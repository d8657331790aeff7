package apiserver

import (
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"weft.dev/weft/kernel/registry"
	wschema "weft.dev/weft/kernel/schema"
)

// OpenAPI v3 is served as one document per group version plus an index, as
// kube-apiserver does. kubectl reads it to decide server-side field validation and
// strategic merge patches, and `kubectl explain` reads the schemas.

const metaRef = "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1."

type openapiDocs struct {
	generation uint64
	index      []byte
	byGV       map[string][]byte // "api/v1", "apis/apps/v1"
	hashes     map[string]string
}

type openapiCache struct {
	reg     *registry.Registry
	version version.Info
	mu      sync.Mutex
	docs    *openapiDocs
}

func newOpenAPICache(reg *registry.Registry, v version.Info) *openapiCache {
	return &openapiCache{reg: reg, version: v}
}

func (c *openapiCache) get() (*openapiDocs, error) {
	snap := c.reg.Snapshot()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs != nil && c.docs.generation == snap.Generation {
		return c.docs, nil
	}
	docs, err := buildOpenAPI(snap, c.version)
	if err != nil {
		return nil, err
	}
	c.docs = docs
	return docs, nil
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/"), "/")
	if path != "v3" && !strings.HasPrefix(path, "v3/") {
		// OpenAPI v2 is not served: kubectl 1.27+ uses v3 and falls back gracefully.
		writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
		return
	}
	docs, err := s.openapi.get()
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	if path == "v3" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(docs.index)
		return
	}
	gv := strings.TrimPrefix(path, "v3/")
	doc, ok := docs.byGV[gv]
	if !ok {
		writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Etag", `"`+docs.hashes[gv]+`"`)
	if r.URL.Query().Get("hash") == docs.hashes[gv] {
		w.Header().Set("Cache-Control", "public, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache, private")
	}
	_, _ = w.Write(doc)
}

// DefinitionName is the OpenAPI definition name of a kind, following Kubernetes:
// io.k8s.api.core.v1.ConfigMap, io.k8s.api.apps.v1.Deployment,
// io.k8s.api.networking.v1.Ingress, and reversed domains for everything else
// (com.example.v1.Widget).
func DefinitionName(group, version, kind string) string {
	switch {
	case group == "":
		return "io.k8s.api.core." + version + "." + kind
	case !strings.Contains(group, "."):
		return "io.k8s.api." + group + "." + version + "." + kind
	case strings.HasSuffix(group, ".k8s.io"):
		return "io.k8s.api." + strings.SplitN(group, ".", 2)[0] + "." + version + "." + kind
	}
	labels := strings.Split(group, ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".") + "." + version + "." + kind
}

func gvPath(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

func buildOpenAPI(snap *registry.Snapshot, v version.Info) (*openapiDocs, error) {
	docs := &openapiDocs{generation: snap.Generation, byGV: map[string][]byte{}, hashes: map[string]string{}}
	byGV := map[string][]*registry.Entry{}
	var order []string
	for _, e := range snap.Entries() {
		p := gvPath(e.Group, e.Version)
		if _, ok := byGV[p]; !ok {
			order = append(order, p)
		}
		byGV[p] = append(byGV[p], e)
	}
	index := map[string]map[string]string{}
	for _, p := range order {
		raw, err := gvDocument(byGV[p], v)
		if err != nil {
			return nil, fmt.Errorf("openapi for %s: %w", p, err)
		}
		sum := sha512.Sum512(raw)
		hash := strings.ToUpper(fmt.Sprintf("%x", sum))
		docs.byGV[p], docs.hashes[p] = raw, hash
		index[p] = map[string]string{"serverRelativeURL": "/openapi/v3/" + p + "?hash=" + hash}
	}
	raw, err := json.Marshal(map[string]any{"paths": index})
	if err != nil {
		return nil, err
	}
	docs.index = raw
	return docs, nil
}

// gvDocument builds the OpenAPI document of one group version.
func gvDocument(entries []*registry.Entry, v version.Info) ([]byte, error) {
	schemas := map[string]any{}
	for name, s := range wschema.MetaDefinitions() {
		schemas[name] = s
	}
	schemas["io.k8s.api.autoscaling.v1.Scale"] = scaleSchema()
	paths := map[string]any{}
	for _, e := range entries {
		name := DefinitionName(e.Group, e.Version, e.Kind.Kind)
		ks, err := kindSchema(e)
		if err != nil {
			return nil, err
		}
		schemas[name] = ks
		schemas[DefinitionName(e.Group, e.Version, e.ListKind)] = listSchema(e, name)
		addPaths(paths, e, name)
	}
	return json.Marshal(map[string]any{
		"openapi": "3.0.0",
		"info":    map[string]any{"title": "Weft", "version": v.GitVersion},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"BearerToken": map[string]any{"type": "apiKey", "name": "authorization", "in": "header"}},
		},
	})
}

func gvkExt(group, version, kind string) []map[string]string {
	return []map[string]string{{"group": group, "version": version, "kind": kind}}
}

// kindSchema is the kind's structural schema with metadata pointing at ObjectMeta, as
// published by Kubernetes, so that clients resolve metadata's own schema.
func kindSchema(e *registry.Entry) (*spec.Schema, error) {
	raw, err := json.Marshal(e.Structural.Schema())
	if err != nil {
		return nil, err
	}
	s := &spec.Schema{}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, err
	}
	if s.Properties == nil {
		s.Properties = map[string]spec.Schema{}
	}
	meta := spec.Schema{}
	meta.AllOf = []spec.Schema{*spec.RefSchema(metaRef + "ObjectMeta")}
	meta.Description = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
	s.Properties["metadata"] = meta
	s.AddExtension("x-kubernetes-group-version-kind", gvkExt(e.Group, e.Version, e.Kind.Kind))
	return s, nil
}

func listSchema(e *registry.Entry, item string) map[string]any {
	return map[string]any{
		"description": e.ListKind + " is a list of " + e.Kind.Kind + ".",
		"type":        "object",
		"required":    []string{"items"},
		"properties": map[string]any{
			"apiVersion": map[string]any{"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
			"kind":       map[string]any{"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
			"metadata":   map[string]any{"allOf": []any{map[string]any{"$ref": metaRef + "ListMeta"}}, "default": map[string]any{}},
			"items":      map[string]any{"type": "array", "items": map[string]any{"allOf": []any{map[string]any{"$ref": "#/components/schemas/" + item}}, "default": map[string]any{}}},
		},
		"x-kubernetes-group-version-kind": gvkExt(e.Group, e.Version, e.ListKind),
	}
}

func scaleSchema() map[string]any {
	return map[string]any{
		"description": "Scale represents a scaling request for a resource.",
		"type":        "object",
		"properties": map[string]any{
			"apiVersion": map[string]any{"type": "string"},
			"kind":       map[string]any{"type": "string"},
			"metadata":   map[string]any{"allOf": []any{map[string]any{"$ref": metaRef + "ObjectMeta"}}, "default": map[string]any{}},
			"spec": map[string]any{"type": "object", "description": "ScaleSpec describes the attributes of a scale subresource.",
				"properties": map[string]any{"replicas": map[string]any{"type": "integer", "format": "int32", "description": "replicas is the desired number of instances for the scaled object."}}},
			"status": map[string]any{"type": "object", "description": "ScaleStatus represents the current status of a scale subresource.",
				"required": []string{"replicas"},
				"properties": map[string]any{
					"replicas": map[string]any{"type": "integer", "format": "int32", "default": 0},
					"selector": map[string]any{"type": "string"},
				}},
		},
		"x-kubernetes-group-version-kind": gvkExt("autoscaling", "v1", "Scale"),
	}
}

func param(name, in, typ, desc string, required bool) map[string]any {
	p := map[string]any{"name": name, "in": in, "description": desc, "schema": map[string]any{"type": typ, "uniqueItems": true}}
	if required {
		p["required"] = true
	}
	return p
}

var (
	listParams = []any{
		param("allowWatchBookmarks", "query", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".", false),
		param("continue", "query", "string", "The continue option should be set when retrieving more results from the server.", false),
		param("fieldSelector", "query", "string", "A selector to restrict the list of returned objects by their fields.", false),
		param("labelSelector", "query", "string", "A selector to restrict the list of returned objects by their labels.", false),
		param("limit", "query", "integer", "limit is a maximum number of responses to return for a list call.", false),
		param("resourceVersion", "query", "string", "resourceVersion sets a constraint on what resource versions a request may be served from.", false),
		param("resourceVersionMatch", "query", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls.", false),
		param("sendInitialEvents", "query", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`.", false),
		param("timeoutSeconds", "query", "integer", "Timeout for the list/watch call.", false),
		param("watch", "query", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.", false),
	}
	writeParams = []any{
		param("dryRun", "query", "string", "When present, indicates that modifications should not be persisted. Valid value: All.", false),
		param("fieldManager", "query", "string", "fieldManager is a name associated with the actor or entity that is making these changes.", false),
		param("fieldValidation", "query", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values: Ignore, Warn, Strict.", false),
	}
	deleteParams = []any{
		param("dryRun", "query", "string", "When present, indicates that modifications should not be persisted. Valid value: All.", false),
		param("gracePeriodSeconds", "query", "integer", "The duration in seconds before the object should be deleted.", false),
		param("propagationPolicy", "query", "string", "Whether and how garbage collection will be performed: Orphan, Background or Foreground.", false),
	}
	patchContent = []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
)

func refContent(ref string, types ...string) map[string]any {
	c := map[string]any{}
	for _, t := range types {
		c[t] = map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + ref}}
	}
	return c
}

func op(id, action string, e *registry.Entry, kind, respRef string, params []any, codes ...string) map[string]any {
	responses := map[string]any{}
	for _, c := range codes {
		responses[c] = map[string]any{"description": httpText(c), "content": refContent(respRef, "application/json", "application/yaml")}
	}
	responses["401"] = map[string]any{"description": "Unauthorized"}
	o := map[string]any{
		"operationId":                     id,
		"tags":                            []string{strings.ReplaceAll(gvPath(e.Group, e.Version), "/", "_")},
		"responses":                       responses,
		"x-kubernetes-action":             action,
		"x-kubernetes-group-version-kind": gvkExt(e.Group, e.Version, kind)[0],
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	return o
}

func httpText(code string) string {
	switch code {
	case "200":
		return "OK"
	case "201":
		return "Created"
	case "202":
		return "Accepted"
	}
	return code
}

// addPaths publishes the operations of one kind.
func addPaths(paths map[string]any, e *registry.Entry, def string) {
	base := "/" + gvPath(e.Group, e.Version)
	coll := base + "/" + e.Resource
	scope := ""
	pathParams := []any{}
	if e.Namespaced {
		coll = base + "/namespaces/{namespace}/" + e.Resource
		scope = "Namespaced"
		pathParams = append(pathParams, param("namespace", "path", "string", "object name and auth scope, such as for teams and projects", true))
	}
	id := opID(e)
	kind := e.Kind.Kind
	listDef := DefinitionName(e.Group, e.Version, e.ListKind)
	paths[coll] = map[string]any{
		"parameters": pathParams,
		"get":        op("list"+id+scope+kind, "list", e, kind, listDef, listParams, "200"),
		"post": withBody(op("create"+id+scope+kind, "post", e, kind, def, writeParams, "200", "201", "202"),
			refContent(def, "*/*")),
		"delete": op("deletecollection"+id+scope+kind, "deletecollection", e, kind, metaStatus, append(append([]any{}, listParams...), deleteParams...), "200"),
	}
	item := append(append([]any{}, pathParams...), param("name", "path", "string", "name of the "+kind, true))
	paths[coll+"/{name}"] = map[string]any{
		"parameters": item,
		"get":        op("read"+id+scope+kind, "get", e, kind, def, nil, "200"),
		"put":        withBody(op("replace"+id+scope+kind, "put", e, kind, def, writeParams, "200", "201"), refContent(def, "*/*")),
		"patch":      patchOp("patch"+id+scope+kind, e, kind, def),
		"delete":     op("delete"+id+scope+kind, "delete", e, kind, metaStatus, deleteParams, "200", "202"),
	}
	if e.Namespaced {
		paths[base+"/"+e.Resource] = map[string]any{
			"get": op("list"+id+kind+"ForAllNamespaces", "list", e, kind, listDef, listParams, "200"),
		}
	}
	for _, sub := range subresources(e) {
		subDef := def
		if sub.name == "scale" {
			subDef = "io.k8s.api.autoscaling.v1.Scale"
		}
		suffix := kind + strings.ToUpper(sub.name[:1]) + sub.name[1:]
		p := map[string]any{"parameters": item}
		if slices.Contains(sub.verbs, "get") {
			p["get"] = op("read"+id+scope+suffix, "get", e, kind, subDef, nil, "200")
		}
		p["put"] = withBody(op("replace"+id+scope+suffix, "put", e, kind, subDef, writeParams, "200", "201"), refContent(subDef, "*/*"))
		if slices.Contains(sub.verbs, "patch") {
			p["patch"] = patchOp("patch"+id+scope+suffix, e, kind, subDef)
		}
		paths[coll+"/{name}/"+sub.name] = p
	}
}

const metaStatus = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"

func patchOp(id string, e *registry.Entry, kind, def string) map[string]any {
	params := append(append([]any{}, writeParams...), param("force", "query", "boolean", "Force is going to \"force\" Apply requests.", false))
	return withBody(op(id, "patch", e, kind, def, params, "200", "201"),
		refContent("io.k8s.apimachinery.pkg.apis.meta.v1.Patch", patchContent...))
}

func withBody(o map[string]any, content map[string]any) map[string]any {
	o["requestBody"] = map[string]any{"content": content, "required": true}
	return o
}

// opID is the group-version part of an operation id: CoreV1, AppsV1, ExampleComV1.
func opID(e *registry.Entry) string {
	g := e.Group
	if g == "" {
		g = "core"
	}
	var b strings.Builder
	for _, part := range strings.FieldsFunc(g, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	b.WriteString(strings.ToUpper(e.Version[:1]) + e.Version[1:])
	return b.String()
}
