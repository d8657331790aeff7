package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"weft.dev/weft/node/agent"
	"weft.dev/weft/node/sim"
	"weft.dev/weft/nodelink"
)

// simCmd runs `weft sim`: N simulated nodes in one process, each joining the kernel
// over nodelink like a real node. Their pods become Running and Ready with fake IPs.
func simCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("weft sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	join := fs.String("join", "", "the kernel's join file (DATA/join on the server); required")
	nodes := fs.Int("nodes", 10, "how many nodes to simulate")
	prefix := fs.String("prefix", "sim-", "node names are PREFIX0, PREFIX1, ...")
	dataDir := fs.String("data-dir", filepath.Join(os.TempDir(), "weft-sim"), "directory for the nodes' certificates and caches")
	cpu := fs.String("cpu", "32", "each node's CPU capacity")
	memory := fs.String("memory", "256Gi", "each node's memory capacity")
	pods := fs.Int("pods", 110, "each node's pod capacity")
	zones := fs.Int("zones", 0, "spread the nodes over this many zones (topology.kubernetes.io/zone=zone-N); 0 for none")
	labels := fs.String("labels", "", "labels for every node: k=v,k2=v2")
	taints := fs.String("taints", "", "taints for every node: k=v:NoSchedule,k2:NoExecute")
	startDelay := fs.Duration("start-delay", 0, "how long a pod takes to become Running")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	pprofAddr := fs.String("pprof-addr", "", "serve Go's net/http/pprof profiles on this address (keep it on loopback)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *join == "" || *nodes < 1 {
		fmt.Fprintln(stderr, "weft sim: --join FILE is required, --nodes must be at least 1, and it takes no arguments")
		fs.Usage()
		return 2
	}
	cpuQ, err1 := resource.ParseQuantity(*cpu)
	memQ, err2 := resource.ParseQuantity(*memory)
	lbls, err3 := parseLabels(*labels)
	tnts, err4 := parseTaints(*taints)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		fmt.Fprintf(stderr, "weft sim: %v\n", err)
		return 2
	}
	logger, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		fmt.Fprintf(stderr, "weft sim: %v\n", err)
		return 2
	}
	if os.Getenv("GOGC") == "" {
		// Thousands of agents in one process allocate as briskly as the API server
		// they talk to: at Go's default pace the collector was about a seventh of
		// this process's CPU under load.
		debug.SetGCPercent(400)
	}
	if *pprofAddr != "" {
		go func() {
			if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
				logger.Error("pprof", "err", err)
			}
		}()
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: cpuQ, corev1.ResourceMemory: memQ,
		corev1.ResourcePods: *resource.NewQuantity(int64(*pods), resource.DecimalSI),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	failed := make(chan error, *nodes)
	// At most this many nodes join at once (handshakes, join, registration): all of
	// them at once starve the kernel's and this process's CPU until connections time
	// out and join again, which never settles on a small machine.
	joining := make(chan struct{}, simJoinConcurrency)
	for i := range *nodes {
		name := fmt.Sprintf("%s%d", *prefix, i)
		nodeLabels := map[string]string{"type": "weft-sim"}
		for k, v := range lbls {
			nodeLabels[k] = v
		}
		if *zones > 0 {
			nodeLabels["topology.kubernetes.io/zone"] = fmt.Sprintf("zone-%d", i%*zones)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case joining <- struct{}{}:
			case <-ctx.Done():
				return
			}
			var once sync.Once
			joined := func() { once.Do(func() { <-joining }) }
			defer joined()
			err := agent.Run(ctx, agent.Config{
				Node: name, DataDir: filepath.Join(*dataDir, name), JoinFile: *join,
				NodeIP: fmt.Sprintf("10.%d.%d.%d", 200+i/65536%50, i/256%256, i%256),
				Labels: nodeLabels, Taints: tnts, Logger: logger.With("node", name),
				// Thousands of links in one process: heartbeats at a real node's pace
				// would be most of the work of a small machine.
				Link: nodelink.ClientConfig{HeartbeatInterval: simHeartbeat},
				// A simulated node's status never changes; looking at it more often
				// than it is reported anyway (every 5 minutes) was thousands of file
				// reads a second.
				StatusInterval: 5 * time.Minute,
				// Thousands of cache files rewritten every 10 s were a fifth of weft
				// sim's CPU under load. A minute-old cache still resumes: kernels
				// compact history once it is 5 minutes old.
				CacheSaveInterval: time.Minute,
				Status: func(st *corev1.NodeStatus) {
					st.Capacity, st.Allocatable = capacity.DeepCopy(), capacity.DeepCopy()
					st.NodeInfo.ContainerRuntimeVersion = "sim://weft"
				},
				NewPods: func(ctx context.Context, env agent.Env) (agent.PodManager, error) {
					joined() // registered: the next node may join
					cidr, _ := netip.ParsePrefix(env.Node.Spec.PodCIDR)
					p := sim.New(cidr)
					p.StartDelay = *startDelay
					return p, nil
				},
			})
			if err != nil && ctx.Err() == nil {
				failed <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	fmt.Fprintf(stderr, "weft sim: %d nodes joining %s\n", *nodes, *join)
	select {
	case <-ctx.Done():
	case err := <-failed:
		fmt.Fprintf(stderr, "weft sim: %v\n", err)
		stop()
		wg.Wait()
		return 1
	}
	wg.Wait()
	return 0
}

const (
	// simJoinConcurrency bounds the simulated nodes joining at the same time. No
	// more than quic-go's accept queue (32): handshakes that complete while the
	// kernel's accept loop waits for a CPU are otherwise refused, and those nodes
	// join again after a backoff, at the tail of the join.
	simJoinConcurrency = 32
	// simHeartbeat is the simulated nodes' heartbeat interval (a real node's: 2 s);
	// the kernel judges each node by the interval it announces. Under half the
	// 10 s idle timeout, so that no keep-alive is ever needed, and 2.5 of them fit
	// the kernel's 10 s grace period.
	simHeartbeat = 4 * time.Second
)

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q is not k=v", kv)
		}
		out[k] = v
	}
	return out, nil
}

func parseTaints(s string) ([]corev1.Taint, error) {
	var out []corev1.Taint
	for _, t := range strings.Split(s, ",") {
		if t == "" {
			continue
		}
		kv, effect, ok := strings.Cut(t, ":")
		switch corev1.TaintEffect(effect) {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("taint %q is not key[=value]:NoSchedule|PreferNoSchedule|NoExecute", t)
		}
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)})
	}
	return out, nil
}
