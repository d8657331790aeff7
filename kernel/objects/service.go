package objects

import (
	"context"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/store"
)

// DefaultMaxObjectSize is the largest object the kernel stores, as etcd's default
// request limit is for Kubernetes.
const DefaultMaxObjectSize = 1536 * 1024

// Config assembles a Service.
type Config struct {
	Store    store.Interface
	Registry *registry.Registry
	// Cipher encrypts kinds registered with EncryptAtRest. Required if any kind asks.
	Cipher *Cipher
	// Admission runs mutating and validating admission; nil admits everything.
	Admission Admission
	Logger    *slog.Logger
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
	// MaxObjectSize caps an encoded object; 0 means DefaultMaxObjectSize.
	MaxObjectSize int
	// WaitForRevision bounds how long a read with a resourceVersion newer than the
	// store's waits before failing; 0 means 3s, as kube-apiserver's watch cache does.
	WaitForRevision time.Duration
}

// Service implements the object semantics shared by every kind.
type Service struct {
	cfg      Config
	store    store.Interface
	reg      *registry.Registry
	log      *slog.Logger
	managers *fieldManagers
	shared   sharedDecodes
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxObjectSize == 0 {
		cfg.MaxObjectSize = DefaultMaxObjectSize
	}
	if cfg.WaitForRevision == 0 {
		cfg.WaitForRevision = 3 * time.Second
	}
	return &Service{
		cfg:      cfg,
		store:    cfg.Store,
		reg:      cfg.Registry,
		log:      cfg.Logger,
		managers: newFieldManagers(cfg.Registry),
	}
}

// Registry returns the kind registry the service serves.
func (s *Service) Registry() *registry.Registry { return s.reg }

// Store returns the underlying store, for metadata-only controllers in the kernel.
func (s *Service) Store() store.Interface { return s.store }

// User identifies who makes a request.
type User struct {
	Name   string
	Groups []string
	// Agent is the client's User-Agent, the default field manager name.
	Agent string
}

type userKey struct{}

// WithUser returns a context carrying the requesting user.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the requesting user, if any.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// namespaceGVK is the kind whose lifecycle the kernel manages itself.
var namespaceGVK = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}

func isNamespace(e *registry.Entry) bool { return e.GVK() == namespaceGVK }

// namespaceEntry returns the Namespace kind, if registered.
func (s *Service) namespaceEntry() (*registry.Entry, bool) {
	return s.reg.Snapshot().LookupKind(namespaceGVK)
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Second) }

// newObject returns an empty object of e's kind.
func newObject(e *registry.Entry) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(e.APIVersion())
	u.SetKind(e.Kind.Kind)
	return u
}
