package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
)

// Config assembles a Server.
type Config struct {
	Objects  *objects.Service
	Registry *registry.Registry
	// Authenticators are tried in order; the first that recognises the request wins.
	Authenticators []Authenticator
	Logger         *slog.Logger
	Version        version.Info
	// Gatherer serves /metrics; Metrics records into it.
	Gatherer prometheus.Gatherer
	Metrics  *Metrics
	// Ready reports whether the server can serve (for /readyz).
	Ready func() error

	MaxMutatingInflight int           // default 200
	MaxReadOnlyInflight int           // default 400
	MaxRequestBodyBytes int64         // default 3 MiB, as kube-apiserver
	RequestTimeout      time.Duration // default 60s for requests that are not long-running
	// MinWatchTimeout is the base of a watch's server-side timeout when the client gives
	// none; the actual timeout is randomised in [MinWatchTimeout, 2*MinWatchTimeout).
	MinWatchTimeout time.Duration // default 30m
}

// Server serves the Kubernetes API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	objects  *objects.Service
	reg      *registry.Registry
	mutating *limiter
	readOnly *limiter
	disc     *discoveryCache
	openapi  *openapiCache
	ext      extensions

	// longRunning ends watches when the server shuts down: http.Server.Shutdown
	// waits for open requests, and a watch would otherwise keep it waiting.
	longRunning     context.Context
	stopLongRunning context.CancelFunc
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxMutatingInflight == 0 {
		cfg.MaxMutatingInflight = 200
	}
	if cfg.MaxReadOnlyInflight == 0 {
		cfg.MaxReadOnlyInflight = 400
	}
	if cfg.MaxRequestBodyBytes == 0 {
		cfg.MaxRequestBodyBytes = 3 << 20
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.MinWatchTimeout == 0 {
		cfg.MinWatchTimeout = 30 * time.Minute
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if cfg.Ready == nil {
		cfg.Ready = func() error { return nil }
	}
	lr, stop := context.WithCancel(context.Background())
	s := &Server{
		longRunning:     lr,
		stopLongRunning: stop,
		cfg:             cfg,
		log:             cfg.Logger,
		objects:         cfg.Objects,
		reg:             cfg.Registry,
		mutating:        newLimiter(cfg.MaxMutatingInflight, "mutating"),
		readOnly:        newLimiter(cfg.MaxReadOnlyInflight, "readOnly"),
		openapi:         newOpenAPICache(cfg.Registry, cfg.Version),
	}
	s.disc = newDiscoveryCache(cfg.Registry, s)
	return s
}

// CloseLongRunning ends every open watch. Call it when shutdown begins.
func (s *Server) CloseLongRunning() { s.stopLongRunning() }

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			writeStatus(w, apierrors.NewInternalError(fmt.Errorf("%v", p)))
		}
	}()
	path := r.URL.Path
	switch {
	case path == "/healthz" || path == "/livez" || strings.HasPrefix(path, "/healthz/") || strings.HasPrefix(path, "/livez/"):
		writeText(w, http.StatusOK, "ok")
		return
	case path == "/readyz" || strings.HasPrefix(path, "/readyz/"):
		if err := s.cfg.Ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		writeText(w, http.StatusOK, "ok")
		return
	}

	user, err := s.authenticate(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	ctx := objects.WithUser(r.Context(), user)
	r = r.WithContext(ctx)

	switch {
	case path == "/version" || path == "/version/":
		writeJSON(w, output{}, http.StatusOK, s.cfg.Version)
	case path == "/metrics":
		promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	case path == "/api" || path == "/api/" || path == "/apis" || path == "/apis/":
		s.serveRootDiscovery(w, r)
	case strings.HasPrefix(path, "/openapi/"):
		s.serveOpenAPI(w, r)
	case strings.HasPrefix(path, "/apis/") && strings.Count(strings.Trim(path, "/"), "/") == 1:
		s.serveGroup(w, strings.Trim(strings.TrimPrefix(path, "/apis/"), "/"))
	case strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/apis/"):
		ri, ok := parseRequest(r)
		if !ok {
			writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
			return
		}
		if !ri.IsResource {
			s.serveGroupDiscovery(w, r, ri)
			return
		}
		s.serveResourceLimited(w, r, ri)
	default:
		writeStatus(w, apierrors.NewNotFound(notFoundGR, ""))
	}
}

// serveResourceLimited applies the in-flight limit, timeout, body limit and metrics
// around one resource request.
func (s *Server) serveResourceLimited(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	labels := []string{ri.Verb, ri.GV.Group, ri.GV.Version, ri.Resource, ri.Subresource}
	if ri.longRunning() {
		g := s.cfg.Metrics.longRunning.WithLabelValues(ri.Verb, ri.GV.Group, ri.GV.Version, ri.Resource)
		g.Inc()
		defer g.Dec()
	} else {
		lim := s.readOnly
		if ri.mutating() {
			lim = s.mutating
		}
		if !lim.acquire() {
			s.cfg.Metrics.rejected.WithLabelValues(lim.kind).Inc()
			writeStatus(rec, tooManyRequests(lim.kind))
			s.cfg.Metrics.requests.WithLabelValues(append(labels, strconv.Itoa(rec.code))...).Inc()
			return
		}
		defer lim.release()
		g := s.cfg.Metrics.inflight.WithLabelValues(lim.kind)
		g.Inc()
		defer g.Dec()

		timeout := s.cfg.RequestTimeout
		if t, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && t > 0 && t < timeout {
			timeout = t
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		r = r.WithContext(ctx)
		limit := s.cfg.MaxRequestBodyBytes
		if sr, ok := s.extensionFor(schema.GroupResource{Group: ri.GV.Group, Resource: ri.Resource}, ri.Subresource); ok && sr.MaxBodyBytes > 0 {
			limit = sr.MaxBodyBytes
		}
		r.Body = http.MaxBytesReader(rec, r.Body, limit)
		defer func() {
			s.cfg.Metrics.latency.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
		}()
	}
	s.serveResource(rec, r, ri)
	s.cfg.Metrics.requests.WithLabelValues(append(labels, strconv.Itoa(rec.code))...).Inc()
	s.log.Debug("request", "verb", ri.Verb, "path", r.URL.Path, "code", rec.code, "duration", time.Since(start))
}

// statusRecorder remembers the response code for metrics and logs.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (for write deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func writeText(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(text))
}
