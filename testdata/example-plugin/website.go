package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"sort"
	"strings"

	"weft.dev/weft/sdk"
)

var (
	websiteKind   = sdk.GVK{Group: "example.dev", Version: "v1", Kind: "Website"}
	configMapKind = sdk.GVK{Version: "v1", Kind: "ConfigMap"}
	websites      = sdk.Resource{Group: "example.dev", Version: "v1", Resource: "websites"}
	configMaps    = sdk.Resource{Version: "v1", Resource: "configmaps"}
)

//go:embed schema.json
var schema []byte

// Website is the plugin's kind.
type Website struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   sdk.ObjectMeta `json:"metadata"`
	Spec       WebsiteSpec    `json:"spec"`
	Status     WebsiteStatus  `json:"status,omitempty"`
}

// WebsiteSpec is what the user asks for.
type WebsiteSpec struct {
	Title string            `json:"title"`
	Pages map[string]string `json:"pages,omitempty"`
}

// WebsiteStatus is what the controller reports.
type WebsiteStatus struct {
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	ConfigMap          string `json:"configMap,omitempty"`
	Pages              int    `json:"pages,omitempty"`
}

// ObjectMeta lets the SDK's cache take metadata from the one decode.
func (w *Website) ObjectMeta() *sdk.ObjectMeta { return &w.Metadata }

// configMap is the part of a ConfigMap the controller reads.
type configMap struct {
	Metadata sdk.ObjectMeta    `json:"metadata"`
	Data     map[string]string `json:"data,omitempty"`
}

func (c *configMap) ObjectMeta() *sdk.ObjectMeta { return &c.Metadata }

// Plugin returns the manifest and handlers; tests use them natively.
func Plugin() (sdk.Manifest, sdk.Handlers) {
	m := sdk.Manifest{
		Name:    "website",
		Version: "0.1.0",
		Kinds: []sdk.KindSpec{{
			Group: "example.dev", Version: "v1", Kind: "Website", Resource: "websites", Singular: "website",
			ShortNames: []string{"site"}, Namespaced: true, Status: true, Schema: schema,
			Columns: []sdk.Column{
				{Name: "Title", Type: "string", JSONPath: ".spec.title"},
				{Name: "Pages", Type: "integer", JSONPath: ".status.pages"},
				{Name: "ConfigMap", Type: "string", JSONPath: ".status.configMap", Priority: 1},
			},
		}},
		Controllers: []sdk.Controller{{
			Name: "websites", For: websiteKind, Owns: []sdk.GVK{configMapKind},
			Fields: []sdk.FieldSet{{Kind: configMapKind, Paths: []string{".data"}}},
		}},
		Admission: []sdk.AdmissionHook{{
			Name: "pages",
			Rules: []sdk.AdmissionRule{{
				Groups: []string{"example.dev"}, Resources: []string{"websites"}, Operations: []string{"CREATE", "UPDATE"},
			}},
		}},
		Permissions: []sdk.Permission{
			{Group: "example.dev", Resource: "websites", Verbs: []string{"get", "list", "watch"}},
			{Group: "example.dev", Resource: "websites/status", Verbs: []string{"update"}},
			{Resource: "configmaps", Verbs: []string{"get", "list", "watch", "create", "update"}},
			{Resource: "events", Verbs: []string{"create"}},
		},
	}
	h := sdk.Handlers{
		Reconciler: sdk.ReconcileFunc(reconcile),
		Admitter:   sdk.AdmitFunc(admit),
		Types: map[sdk.GVK]func() any{
			websiteKind:   func() any { return new(Website) },
			configMapKind: func() any { return new(configMap) },
		},
	}
	return m, h
}

// render makes the site's files.
func render(w *Website) map[string]string {
	names := make([]string, 0, len(w.Spec.Pages))
	for n := range w.Spec.Pages {
		names = append(names, n)
	}
	sort.Strings(names)
	var index strings.Builder
	fmt.Fprintf(&index, "<h1>%s</h1>\n<ul>\n", html.EscapeString(w.Spec.Title))
	data := map[string]string{}
	for _, n := range names {
		fmt.Fprintf(&index, "<li><a href=%q>%s</a></li>\n", n, html.EscapeString(n))
		data[n] = w.Spec.Pages[n]
	}
	index.WriteString("</ul>\n")
	data["index.html"] = index.String()
	return data
}

func reconcile(c *sdk.Client, req sdk.ReconcileRequest) (sdk.ReconcileResult, error) {
	o := c.Cache().Get(websiteKind, req.Namespace, req.Name)
	if o == nil || o.Meta.Deleting() {
		return sdk.ReconcileResult{}, nil // the garbage collector removes the ConfigMap
	}
	w := *o.Value.(*Website)
	name := w.Metadata.Name + "-site"
	want := render(&w)
	cm := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": name, "namespace": req.Namespace,
			"labels":          map[string]string{"example.dev/website": w.Metadata.Name},
			"ownerReferences": []sdk.OwnerReference{sdk.ControllerRef(websiteKind, &w.Metadata)},
		},
		"data": want,
	}
	switch cur := c.Cache().Get(configMapKind, req.Namespace, name); {
	case cur == nil:
		if _, err := c.Create(configMaps, req.Namespace, cm); err != nil && !sdk.IsAlreadyExists(err) {
			return sdk.ReconcileResult{}, err
		}
		_ = c.Event(websites, &w.Metadata, "Normal", "Rendered", fmt.Sprintf("Rendered %d pages into ConfigMap %s", len(want), name))
	case !equal(cur.Value.(*configMap).Data, want):
		cm["metadata"].(map[string]any)["resourceVersion"] = cur.Meta.ResourceVersion
		if _, err := c.Update(configMaps, req.Namespace, cm); err != nil {
			return sdk.ReconcileResult{}, err
		}
	}
	st := WebsiteStatus{ObservedGeneration: w.Metadata.Generation, ConfigMap: name, Pages: len(want)}
	if w.Status != st {
		w.Status = st
		if _, err := c.UpdateStatus(websites, req.Namespace, &w); err != nil {
			return sdk.ReconcileResult{}, err
		}
	}
	return sdk.ReconcileResult{}, nil
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

var pageName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.html$`)

func admit(_ *sdk.Client, req sdk.AdmissionRequest) sdk.AdmissionResponse {
	var w Website
	if err := json.Unmarshal(req.Object, &w); err != nil {
		return deny(400, "BadRequest", "website: "+err.Error())
	}
	var problems []string
	for n, body := range w.Spec.Pages {
		if !pageName.MatchString(n) {
			problems = append(problems, fmt.Sprintf("spec.pages[%s]: Invalid value: %q: a page name must be lowercase letters, digits and '-', ending in .html", n, n))
		}
		if n == "index.html" {
			problems = append(problems, "spec.pages[index.html]: Forbidden: index.html is generated from the title and the other pages")
		}
		if strings.Contains(strings.ToLower(body), "<script") {
			problems = append(problems, fmt.Sprintf("spec.pages[%s]: Forbidden: scripts are not allowed", n))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		msg := problems[0]
		if len(problems) > 1 {
			msg = "[" + strings.Join(problems, ", ") + "]"
		}
		return deny(422, "Invalid", fmt.Sprintf("Website.example.dev %q is invalid: %s", w.Metadata.Name, msg))
	}
	resp := sdk.AdmissionResponse{Allowed: true}
	if len(w.Spec.Title) > 60 {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("spec.title is %d characters; browsers cut titles after about 60", len(w.Spec.Title)))
	}
	return resp
}

func deny(code int32, reason, msg string) sdk.AdmissionResponse {
	return sdk.AdmissionResponse{Status: &sdk.Status{Code: code, Reason: reason, Message: msg}}
}
