// Command weft is the single Weft binary: the control plane, the single-machine
// cluster, and the operator's tools, as subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/version"

	"weft.dev/weft/kernel"
	"weft.dev/weft/kernel/nodes"
	"weft.dev/weft/node"
	noderuntime "weft.dev/weft/node/runtime"
	"weft.dev/weft/plugins/builtin"
)

// weftVersion is Weft's own version.
const weftVersion = "v0.1.0"

// Set by the linker (see Makefile).
var (
	gitCommit = "unknown"
	buildDate = "unknown"
)

// kubeCompat is the Kubernetes API level Weft serves; kubectl compares it with its own.
const kubeMajor, kubeMinor = "1", "32"

func versionInfo() version.Info {
	return version.Info{
		Major:      kubeMajor,
		Minor:      kubeMinor,
		GitVersion: "v" + kubeMajor + "." + kubeMinor + ".0-weft." + strings.TrimPrefix(weftVersion, "v"),
		GitCommit:  gitCommit,
		BuildDate:  buildDate,
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
}

const usage = `weft: a Kubernetes-compatible orchestrator with WebAssembly plugins

Usage:
  weft server --data-dir DIR [--api-addr HOST:PORT]   run the control plane
  weft up     --data-dir DIR [--api-addr HOST:PORT]   run a single-machine cluster (control plane and a node)
  weft node   --join FILE [--data-dir DIR]            run a node that joins a control plane
  weft sim    --join FILE --nodes N                   run N simulated nodes (pods pretend to run)
  weft plugin install|upgrade|rollback|rm|ls ...      manage plugins
  weft image import FILE                              load an image tarball into a running node
  weft version                                        print the version

Run 'weft COMMAND -h' for a command's flags.
`

func main() {
	// containerd's shims start this binary as a container's log driver; that process
	// does nothing else.
	noderuntime.RunLogDriverIfRequested()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "server":
		return serve(args[0], args[1:], stderr)
	case "up":
		return serve(args[0], args[1:], stderr)
	case "node":
		return nodeCmd(args[1:], stderr)
	case "sim":
		return simCmd(args[1:], stderr)
	case "plugin":
		return pluginCmd(args[1:], stdout, stderr)
	case "image":
		return imageCmd(args[1:], stdout, stderr)
	case "version", "--version":
		v := versionInfo()
		fmt.Fprintf(stdout, "weft %s (Kubernetes API %s.%s, commit %s, %s)\n", weftVersion, v.Major, v.Minor, gitCommit, v.GoVersion)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "weft: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// serve runs `weft server` and `weft up`, which is the server with a node of its own,
// in one process, joined over loopback.
func serve(name string, args []string, stderr io.Writer) int {
	up := name == "up"
	fs := flag.NewFlagSet("weft "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "directory for all state")
	apiAddr := fs.String("api-addr", "127.0.0.1:6443", "API listen address (HOST:PORT; port 0 picks a free port, written to DIR/kubeconfig)")
	sans := fs.String("tls-san", "", "extra comma-separated names or IPs for the API serving certificate")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	pprofAddr := fs.String("pprof-addr", "", "serve Go's net/http/pprof profiles on this address (keep it on loopback)")
	pluginCache := fs.String("plugin-cache", defaultPluginCache(), "directory of compiled plugin modules, shared by every kernel on this machine; empty: DIR/plugins/cache")
	nodeAddrDefault := "127.0.0.1:6444"
	if up {
		nodeAddrDefault = "127.0.0.1:0" // only the local node joins
	}
	nodeAddr := fs.String("node-addr", nodeAddrDefault, "address nodes join on (QUIC, UDP); DIR/join says where it is; empty: no nodes")
	nodeName := fs.String("node-name", "", "with up: the local node's name (default: the host name)")
	clusterCIDR := fs.String("cluster-cidr", nodes.DefaultClusterCIDR, "the range nodes' pod CIDRs are allocated from")
	nodeMask := fs.Int("node-cidr-mask-size", nodes.DefaultNodeCIDRMaskSize, "the prefix length of each node's pod CIDR (a /16 of /24s holds 256 nodes)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weft %s: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		return 2
	}
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "weft %s: %v\n", name, err)
		return 2
	}
	if os.Getenv("GOGC") == "" {
		// The API server allocates briskly and briefly; collecting less often trades
		// memory, which a control-plane machine has, for tail latency.
		debug.SetGCPercent(400)
	}
	builtins, err := builtin.Modules()
	if err != nil {
		fmt.Fprintf(stderr, "weft %s: %v\n", name, err)
		return 1
	}
	var extra []string
	if *sans != "" {
		extra = strings.Split(*sans, ",")
	}
	k, err := kernel.New(kernel.Config{
		DataDir:   *dataDir,
		APIAddr:   *apiAddr,
		ExtraSANs: extra,
		Logger:    logger,
		Version:   versionInfo(),
		Builtins:  builtins,
		NodeAddr:  *nodeAddr,
		Nodes:     nodes.Config{ClusterCIDR: *clusterCIDR, NodeCIDRMaskSize: *nodeMask},
		// Compiling the built-in plugins takes seconds of CPU; a cluster started in a
		// new data dir on this machine should not pay it again.
		PluginCompileCache: *pluginCache,
		// The built-in default policy decides for pods that name no scheduler.
		DefaultSchedulerPolicy: "defaultpolicy",
	})
	if err != nil {
		fmt.Fprintf(stderr, "weft %s: %v\n", name, err)
		return 1
	}
	if *pprofAddr != "" {
		go func() {
			// pprof registers on http.DefaultServeMux; nothing else in weft uses it.
			if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
				logger.Error("pprof", "err", err)
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var nodeDone chan error
	var nodeFailed atomic.Bool
	nctx, cancelNode := context.WithCancel(ctx)
	defer cancelNode()
	if up {
		if k.Nodes() == nil {
			fmt.Fprintf(stderr, "weft up: --node-addr must not be empty: the local node joins through it\n")
			return 2
		}
		// The node dials until the kernel serves. Its failure stops the cluster, which
		// would not be one without it.
		nodeDone = make(chan error, 1)
		go func() {
			err := node.Run(nctx, node.Config{
				Name: *nodeName, DataDir: filepath.Join(*dataDir, "node"), JoinFile: k.Nodes().JoinFile(),
				ImportBusybox: true, Logger: logger,
			})
			if err != nil && nctx.Err() == nil {
				logger.Error("the local node stopped; stopping", "err", err)
				nodeFailed.Store(true)
				stop()
			}
			nodeDone <- err
		}()
	}
	kerr := k.Run(ctx)
	if up {
		// The node stops its containerd; wait for it, so nothing outlives weft.
		cancelNode()
		select {
		case <-nodeDone:
		case <-time.After(30 * time.Second):
			logger.Warn("the local node did not stop within 30s")
		}
	}
	if kerr != nil {
		logger.Error("kernel stopped", "err", kerr)
		return 1
	}
	if nodeFailed.Load() {
		return 1
	}
	logger.Info("stopped")
	return 0
}

func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/weft"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return home + "/.weft"
	}
	return ".weft"
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}

// defaultPluginCache is the machine's cache of compiled plugin modules, as
// Go's build cache is: USER_CACHE_DIR/weft/plugins. Entries are keyed by the module's
// digest and the runtime's version, and written atomically, so kernels share them.
func defaultPluginCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "weft", "plugins")
}
