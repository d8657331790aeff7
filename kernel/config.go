package kernel

import (
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/version"

	"weft.dev/weft/kernel/nodes"
	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/registry"
)

// Config is everything the kernel needs; it is read once by New.
type Config struct {
	// DataDir holds all state. It is created if missing.
	DataDir string
	// APIAddr is the API's host:port; port 0 picks a free port.
	APIAddr string
	// ExtraSANs are additional names or IPs for the serving certificate.
	ExtraSANs []string
	Logger    *slog.Logger
	Version   version.Info

	// Kinds are registered on start, before the API serves.
	Kinds []registry.Kind
	// Admission runs for every write; nil admits everything.
	Admission objects.Admission
	// Builtins are first-party plugin modules by name, installed on first start (see
	// plugins.Manager.InstallBuiltins).
	Builtins map[string][]byte
	// DefaultSchedulerPolicy is the plugin the default-scheduler profile is created
	// with on first start; empty creates no profile.
	DefaultSchedulerPolicy string
	// PluginCompileCache is where compiled plugin modules are cached; empty means
	// DATA/plugins/cache. Kernels may share one.
	PluginCompileCache string

	// WatchProgressInterval is how long an idle watch waits for a bookmark; 0 means
	// the store's default (5s).
	WatchProgressInterval time.Duration
	// CompactInterval is how often history older than one interval is compacted;
	// 0 means 5 minutes, as kube-apiserver asks of etcd.
	CompactInterval time.Duration
	// MaxMutatingInflight and MaxReadOnlyInflight bound concurrent requests (429 beyond).
	MaxMutatingInflight int
	MaxReadOnlyInflight int
	// PluginStatusInterval is how often the counters in plugins' and scheduler
	// profiles' status are refreshed; 0 means 5s.
	PluginStatusInterval time.Duration
	// ShutdownTimeout bounds a graceful stop; 0 means 10s.
	ShutdownTimeout time.Duration

	// NodeAddr, when set, starts the node link (kernel/nodes) on this UDP address
	// (":7443"; port 0 picks a free one), writes DATA/join for nodes, and serves
	// pods/log and pods/exec. Empty: no node machinery.
	NodeAddr string
	// Nodes tunes the node machinery (cluster CIDR, grace period, eviction timeout,
	// advertised address, ...); New sets its DataDir, Addr, CA, Objects and Logger.
	Nodes nodes.Config
}
