package apiserver

import (
	"net/http"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/registry"
)

// SubresourceHandler serves a subresource that is not plain object storage:
// pods/binding, pods/log, pods/exec and the like. The request is authenticated and its
// kind and scope are checked; the handler finds the object itself.
type SubresourceHandler interface {
	ServeSubresource(w http.ResponseWriter, r *http.Request, req SubresourceRequest)
}

// SubresourceHandlerFunc adapts a function to SubresourceHandler.
type SubresourceHandlerFunc func(w http.ResponseWriter, r *http.Request, req SubresourceRequest)

// ServeSubresource implements SubresourceHandler.
func (f SubresourceHandlerFunc) ServeSubresource(w http.ResponseWriter, r *http.Request, req SubresourceRequest) {
	f(w, r, req)
}

// SubresourceRequest says which object and subresource a request addresses.
type SubresourceRequest struct {
	Kind        *registry.Entry
	Namespace   string
	Name        string
	Subresource string
	// Verb is get, create (POST), update, patch or delete.
	Verb string
}

// Subresource describes an extension subresource for routing and discovery.
type Subresource struct {
	Resource schema.GroupResource
	Name     string
	// Verbs are the verbs it answers, as discovery lists them (get, create, ...).
	Verbs []string
	// Kind is what it accepts or returns (v1 Binding, v1 Pod for log), for discovery.
	Kind    metav1.GroupVersionKind
	Handler SubresourceHandler
	// MaxBodyBytes, when set, replaces the server's request body limit (module uploads
	// are larger than any object).
	MaxBodyBytes int64
}

type extKey struct {
	gr  schema.GroupResource
	sub string
}

// extensions holds the registered extension subresources.
type extensions struct {
	mu         sync.RWMutex
	generation uint64
	byKey      map[extKey]Subresource
}

// HandleSubresource adds an extension subresource. Kernel parts that own behaviour
// beyond storage (binding, node streams) register here before the server starts.
func (s *Server) HandleSubresource(sr Subresource) {
	s.ext.mu.Lock()
	defer s.ext.mu.Unlock()
	if s.ext.byKey == nil {
		s.ext.byKey = map[extKey]Subresource{}
	}
	s.ext.byKey[extKey{sr.Resource, sr.Name}] = sr
	s.ext.generation++
}

func (s *Server) extension(e *registry.Entry, sub string) (Subresource, bool) {
	return s.extensionFor(schema.GroupResource{Group: e.Group, Resource: e.Resource}, sub)
}

func (s *Server) extensionFor(gr schema.GroupResource, sub string) (Subresource, bool) {
	s.ext.mu.RLock()
	defer s.ext.mu.RUnlock()
	sr, ok := s.ext.byKey[extKey{gr, sub}]
	return sr, ok
}

// extensionsFor lists a kind's extension subresources, sorted by name, and the
// extensions' generation.
func (s *Server) extensionsFor(e *registry.Entry) []Subresource {
	s.ext.mu.RLock()
	defer s.ext.mu.RUnlock()
	var out []Subresource
	for k, sr := range s.ext.byKey {
		if k.gr.Group == e.Group && k.gr.Resource == e.Resource {
			out = append(out, sr)
		}
	}
	slices.SortFunc(out, func(a, b Subresource) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

func (s *Server) extensionsGeneration() uint64 {
	s.ext.mu.RLock()
	defer s.ext.mu.RUnlock()
	return s.ext.generation
}
