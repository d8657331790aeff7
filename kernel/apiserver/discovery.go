package apiserver

import (
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"weft.dev/weft/kernel/registry"
)

var (
	resourceVerbs    = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	subresourceVerbs = []string{"get", "patch", "update"}
)

// discoveryDocs are the discovery documents of one registry and extensions generation.
type discoveryDocs struct {
	generation  uint64
	extGen      uint64
	groups      metav1.APIGroupList // non-core groups, for /apis
	groupByName map[string]metav1.APIGroup
	resources   map[string]*metav1.APIResourceList // by group/version ("v1" for core)
	aggCore     apidiscoveryv2.APIGroupDiscoveryList
	aggGroups   apidiscoveryv2.APIGroupDiscoveryList
}

// discoveryCache rebuilds the documents when the registry or the extension
// subresources change.
type discoveryCache struct {
	reg  *registry.Registry
	ext  extensionSource
	mu   sync.Mutex
	docs *discoveryDocs
}

// extensionSource lists extension subresources; *Server is one.
type extensionSource interface {
	extensionsFor(e *registry.Entry) []Subresource
	extensionsGeneration() uint64
}

func newDiscoveryCache(reg *registry.Registry, ext extensionSource) *discoveryCache {
	return &discoveryCache{reg: reg, ext: ext}
}

func (c *discoveryCache) get() *discoveryDocs {
	snap := c.reg.Snapshot()
	extGen := c.ext.extensionsGeneration()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs == nil || c.docs.generation != snap.Generation || c.docs.extGen != extGen {
		c.docs = buildDiscovery(snap, c.ext)
		c.docs.extGen = extGen
	}
	return c.docs
}

func buildDiscovery(snap *registry.Snapshot, ext extensionSource) *discoveryDocs {
	d := &discoveryDocs{
		generation:  snap.Generation,
		groupByName: map[string]metav1.APIGroup{},
		resources:   map[string]*metav1.APIResourceList{},
	}
	d.groups.Kind, d.groups.APIVersion = "APIGroupList", "v1"
	d.aggCore = apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	d.aggGroups = d.aggCore
	aggByGroup := map[string]*apidiscoveryv2.APIGroupDiscovery{}
	var groupOrder []string
	for _, e := range snap.Entries() {
		gv := e.GVK().GroupVersion().String()
		rl, ok := d.resources[gv]
		if !ok {
			rl = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
			d.resources[gv] = rl
		}
		rl.APIResources = append(rl.APIResources, metav1.APIResource{
			Name: e.Resource, SingularName: e.Singular, Namespaced: e.Namespaced,
			Kind: e.Kind.Kind, Verbs: resourceVerbs, ShortNames: e.ShortNames, Categories: e.Categories,
		})
		agg := apidiscoveryv2.APIResourceDiscovery{
			Resource:         e.Resource,
			ResponseKind:     &metav1.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind.Kind},
			Scope:            apidiscoveryv2.ScopeCluster,
			SingularResource: e.Singular,
			Verbs:            resourceVerbs,
			ShortNames:       e.ShortNames,
			Categories:       e.Categories,
		}
		if e.Namespaced {
			agg.Scope = apidiscoveryv2.ScopeNamespace
		}
		subs := subresources(e)
		for _, x := range ext.extensionsFor(e) {
			subs = append(subs, subresource{x.Name, x.Kind, x.Verbs})
		}
		for _, sub := range subs {
			kind := sub.kind
			rl.APIResources = append(rl.APIResources, metav1.APIResource{
				Name: e.Resource + "/" + sub.name, Namespaced: e.Namespaced, Kind: kind.Kind,
				Group: kind.Group, Version: kind.Version, Verbs: sub.verbs,
			})
			agg.Subresources = append(agg.Subresources, apidiscoveryv2.APISubresourceDiscovery{
				Subresource: sub.name, ResponseKind: &kind, Verbs: sub.verbs,
			})
		}
		g, ok := aggByGroup[e.Group]
		if !ok {
			g = &apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: e.Group}}
			aggByGroup[e.Group] = g
			groupOrder = append(groupOrder, e.Group)
		}
		i := slices.IndexFunc(g.Versions, func(v apidiscoveryv2.APIVersionDiscovery) bool { return v.Version == e.Version })
		if i < 0 {
			g.Versions = append(g.Versions, apidiscoveryv2.APIVersionDiscovery{Version: e.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent})
			i = len(g.Versions) - 1
		}
		g.Versions[i].Resources = append(g.Versions[i].Resources, agg)
	}
	for _, name := range groupOrder {
		g := aggByGroup[name]
		// Newest version first, as clients take the first as preferred.
		slices.SortStableFunc(g.Versions, func(a, b apidiscoveryv2.APIVersionDiscovery) int {
			return -compareVersions(a.Version, b.Version)
		})
		if name == "" {
			d.aggCore.Items = append(d.aggCore.Items, *g)
			continue
		}
		d.aggGroups.Items = append(d.aggGroups.Items, *g)
		ag := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: name}
		for _, v := range g.Versions {
			ag.Versions = append(ag.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v.Version, Version: v.Version})
		}
		ag.PreferredVersion = ag.Versions[0]
		d.groupByName[name] = ag
		d.groups.Groups = append(d.groups.Groups, ag)
	}
	return d
}

type subresource struct {
	name  string
	kind  metav1.GroupVersionKind
	verbs []string
}

func subresources(e *registry.Entry) []subresource {
	self := metav1.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind.Kind}
	var subs []subresource
	if e.Status {
		subs = append(subs, subresource{"status", self, subresourceVerbs})
	}
	if e.Scale != nil {
		subs = append(subs, subresource{"scale", metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, subresourceVerbs})
	}
	if e.Group == "" && e.Kind.Kind == "Namespace" {
		subs = append(subs, subresource{"finalize", self, []string{"update"}})
	}
	return subs
}

// compareVersions orders Kubernetes API versions: GA > beta > alpha, then by number.
func compareVersions(a, b string) int {
	rank := func(v string) (int, int, int) {
		v = strings.TrimPrefix(v, "v")
		major, rest := 0, ""
		i := 0
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			major = major*10 + int(v[i]-'0')
			i++
		}
		rest = v[i:]
		stability, minor := 3, 0
		switch {
		case strings.HasPrefix(rest, "beta"):
			stability, rest = 2, rest[4:]
		case strings.HasPrefix(rest, "alpha"):
			stability, rest = 1, rest[5:]
		case rest != "":
			stability = 0
		}
		for _, c := range rest {
			if c >= '0' && c <= '9' {
				minor = minor*10 + int(c-'0')
			}
		}
		return stability, major, minor
	}
	as, am, an := rank(a)
	bs, bm, bn := rank(b)
	switch {
	case as != bs:
		return as - bs
	case am != bm:
		return am - bm
	}
	return an - bn
}

// wantsAggregated reports whether the client asked for aggregated discovery, and
// which version of it.
func wantsAggregated(r *http.Request) (string, bool) {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == "application/json" && params["g"] == "apidiscovery.k8s.io" && params["as"] == "APIGroupDiscoveryList" &&
			(params["v"] == "v2" || params["v"] == "v2beta1") {
			return params["v"], true
		}
		if mt == "application/json" && params["as"] == "" {
			return "", false
		}
	}
	return "", false
}

func (s *Server) serveRootDiscovery(w http.ResponseWriter, r *http.Request) {
	docs := s.disc.get()
	core := strings.TrimSuffix(r.URL.Path, "/") == "/api"
	if v, ok := wantsAggregated(r); ok {
		list := docs.aggGroups
		if core {
			list = docs.aggCore
		}
		list.APIVersion = "apidiscovery.k8s.io/" + v
		w.Header().Set("Vary", "Accept")
		writeEncoded(w, "application/json;g=apidiscovery.k8s.io;v="+v+";as=APIGroupDiscoveryList", false, http.StatusOK, list)
		return
	}
	if core {
		writeJSON(w, output{}, http.StatusOK, metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		})
		return
	}
	writeJSON(w, output{}, http.StatusOK, docs.groups)
}

func (s *Server) serveGroupDiscovery(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	docs := s.disc.get()
	if ri.GV.Version == "" {
		writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
		return
	}
	if rl, ok := docs.resources[ri.GV.String()]; ok {
		writeJSON(w, output{}, http.StatusOK, rl)
		return
	}
	writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
}

// serveGroup answers /apis/GROUP, which parseRequest does not treat as a resource path.
func (s *Server) serveGroup(w http.ResponseWriter, group string) {
	if g, ok := s.disc.get().groupByName[group]; ok {
		writeJSON(w, output{}, http.StatusOK, g)
		return
	}
	writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
}
