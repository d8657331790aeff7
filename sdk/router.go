package sdk

// Router is an ingress router: for each HTTP request the kernel's ingress proxy
// receives, it names where the request goes. A router reads Ingress, Service and
// EndpointSlice objects from its fed cache (declare a controller over them to be fed)
// and answers without crossing the boundary again.
type Router interface {
	Route(c *Client, req RouteRequest) RouteResponse
}

// RouteFunc adapts a function to Router.
type RouteFunc func(c *Client, req RouteRequest) RouteResponse

// Route calls f.
func (f RouteFunc) Route(c *Client, req RouteRequest) RouteResponse { return f(c, req) }

// RouteRequest summarises one HTTP request: enough to route it, not its body.
type RouteRequest struct {
	Method string
	Host   string
	Path   string
	// Headers are the request's headers the router's manifest asked for, by their
	// canonical names; one value each (the first).
	Headers    map[string]string
	RemoteAddr string
	TLS        bool
}

// RouteResponse is a router's decision: a backend, or an answer of its own.
type RouteResponse struct {
	// Backend is where to send the request: "namespace/service:port" (port by name or
	// number), resolved by the proxy through the service's endpoints.
	Backend string
	// RewritePath, when set, replaces the request's path on the way to the backend.
	RewritePath string
	// SetHeaders are added to the request on its way to the backend.
	SetHeaders map[string]string
	// Status, when non-zero and Backend is empty, is answered directly (404, a 301
	// with Location in SetHeaders, ...).
	Status int32
}

// MarshalWire encodes the request.
func (r *RouteRequest) MarshalWire() []byte {
	var w wireWriter
	w.str(1, r.Method)
	w.str(2, r.Host)
	w.str(3, r.Path)
	for k, v := range r.Headers {
		w.bytes(4, []byte(k))
		w.bytes(5, []byte(v))
	}
	w.str(6, r.RemoteAddr)
	w.flag(7, r.TLS)
	return w.b
}

// UnmarshalWire decodes the request.
func (r *RouteRequest) UnmarshalWire(b []byte) error {
	rd := wireReader{b: b}
	var key string
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case 1:
			r.Method = string(v)
		case 2:
			r.Host = string(v)
		case 3:
			r.Path = string(v)
		case 4:
			key = string(v)
		case 5:
			if r.Headers == nil {
				r.Headers = map[string]string{}
			}
			r.Headers[key] = string(v)
		case 6:
			r.RemoteAddr = string(v)
		case 7:
			r.TLS = wireUint(v) != 0
		}
	}
	return rd.err
}

// MarshalWire encodes the response.
func (r *RouteResponse) MarshalWire() []byte {
	var w wireWriter
	w.str(1, r.Backend)
	w.str(2, r.RewritePath)
	for k, v := range r.SetHeaders {
		w.bytes(3, []byte(k))
		w.bytes(4, []byte(v))
	}
	w.uint(5, uint64(max(r.Status, 0)))
	return w.b
}

// UnmarshalWire decodes the response.
func (r *RouteResponse) UnmarshalWire(b []byte) error {
	rd := wireReader{b: b}
	var key string
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case 1:
			r.Backend = string(v)
		case 2:
			r.RewritePath = string(v)
		case 3:
			key = string(v)
		case 4:
			if r.SetHeaders == nil {
				r.SetHeaders = map[string]string{}
			}
			r.SetHeaders[key] = string(v)
		case 5:
			r.Status = int32(wireUint(v))
		}
	}
	return rd.err
}
