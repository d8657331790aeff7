package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestInfo is what the URL of a resource request says.
type requestInfo struct {
	// Resource requests are /api/v1/... or /apis/GROUP/VERSION/...
	IsResource  bool
	Verb        string // get, list, watch, create, update, patch, delete, deletecollection
	GV          schema.GroupVersion
	Namespace   string
	Resource    string
	Name        string
	Subresource string
	// Parts are the path segments after the API prefix, for discovery requests.
	Parts []string
}

// namespaceSubresources are the subresources of namespaces themselves: a path
// /namespaces/NAME/status addresses a namespace, not a resource called status.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequest splits a request path the way kube-apiserver's RequestInfoFactory does.
func parseRequest(r *http.Request) (requestInfo, bool) {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	var ri requestInfo
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		ri.GV = schema.GroupVersion{Version: parts[1]}
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		ri.GV = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		parts = parts[3:]
	default:
		return ri, false
	}
	ri.Parts = parts
	if len(parts) == 0 {
		return ri, true // discovery of a group version
	}
	ri.IsResource = true
	// Legacy /watch/ prefix.
	watchPrefix := false
	if parts[0] == "watch" {
		watchPrefix = true
		parts = parts[1:]
		if len(parts) == 0 {
			ri.IsResource = false
			return ri, false
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		ri.Namespace = parts[1]
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		} else {
			// The namespace itself: /namespaces/NAME[/status|finalize].
			ri.Namespace = ""
		}
	}
	ri.Resource = parts[0]
	if len(parts) > 1 {
		ri.Name = parts[1]
	}
	if len(parts) > 2 {
		ri.Subresource = parts[2]
	}
	if len(parts) > 3 {
		return ri, false
	}
	if ri.Resource == "namespaces" && ri.Namespace == "" && len(parts) > 1 {
		ri.Name = parts[1]
	}

	collection := ri.Name == ""
	isWatch := watchPrefix || isTrue(r.URL.Query().Get("watch"))
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatch:
			ri.Verb = "watch"
		case collection:
			ri.Verb = "list"
		default:
			ri.Verb = "get"
		}
	case http.MethodPost:
		ri.Verb = "create"
	case http.MethodPut:
		ri.Verb = "update"
	case http.MethodPatch:
		ri.Verb = "patch"
	case http.MethodDelete:
		if collection {
			ri.Verb = "deletecollection"
		} else {
			ri.Verb = "delete"
		}
	default:
		ri.Verb = strings.ToLower(r.Method)
	}
	return ri, true
}

func isTrue(s string) bool { return s == "true" || s == "1" }

// longRunning requests are exempt from the in-flight limit and request timeout.
func (ri requestInfo) longRunning() bool {
	return ri.Verb == "watch" || ri.Subresource == "log" || ri.Subresource == "exec" ||
		ri.Subresource == "attach" || ri.Subresource == "portforward" || ri.Subresource == "proxy"
}

// mutating requests count against the mutating in-flight limit.
func (ri requestInfo) mutating() bool {
	switch ri.Verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}
