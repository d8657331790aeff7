package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"weft.dev/weft/cni"
	"weft.dev/weft/node/agent"
	"weft.dev/weft/node/image"
	"weft.dev/weft/node/pods"
	"weft.dev/weft/node/runtime"
)

// Config is what a node needs to run.
type Config struct {
	// Name is the node's name; default the host name.
	Name string
	// DataDir holds everything the node writes: its containerd, pod directories,
	// network state, certificates and the agent's cache.
	DataDir string
	// JoinFile is the kernel's DATA/join.
	JoinFile string
	// NodeIP is the node's address on the cluster network; default what the agent
	// finds.
	NodeIP string
	// Namespace is the containerd namespace of the node's containers and images;
	// default "weft-<name>".
	Namespace string
	// ImportBusybox builds the busybox image from the machine's busybox-static and
	// imports it as localhost/busybox:latest, so a first `kubectl run` works with no
	// registry.
	ImportBusybox bool
	Logger        *slog.Logger
}

// ErrNoJoinFile means the node was not told how to reach the kernel.
var ErrNoJoinFile = errors.New("node: a join file is required (the kernel writes DATA/join)")

// Run runs a node until ctx ends: a private containerd under the data dir, the pod
// manager on it with CNI networking, and the agent that joins the kernel. Stopping
// leaves the pods running (a restarted node adopts them) and stops containerd.
func Run(ctx context.Context, cfg Config) error {
	if cfg.JoinFile == "" {
		return ErrNoJoinFile
	}
	if cfg.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node: name: %w", err)
		}
		cfg.Name = h
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "weft-" + cfg.Name
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	log := cfg.Logger.With("node", cfg.Name)
	d, err := runtime.StartContainerd(ctx, runtime.Config{DataDir: filepath.Join(dir, "containerd"), Logger: log.With("component", "containerd")})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.Stop(sctx); err != nil {
			log.Warn("stop containerd", "err", err)
		}
	}()
	rt, err := runtime.ForDaemon(ctx, d, runtime.Options{Namespace: cfg.Namespace})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if cfg.ImportBusybox {
		var buf bytes.Buffer
		if err := image.BuildBusybox(&buf, image.BusyboxRef); err != nil {
			return fmt.Errorf("node: build the busybox image: %w", err)
		}
		if _, err := image.Import(ctx, d.Client(), cfg.Namespace, &buf, image.Options{Snapshotter: rt.Snapshotter()}); err != nil {
			return fmt.Errorf("node: import the busybox image: %w", err)
		}
		log.Info("image imported", "ref", image.BusyboxRef)
	}
	routes := &routes{self: cfg.Name, log: log}
	var nodeIP netip.Addr
	if cfg.NodeIP != "" {
		if nodeIP, err = netip.ParseAddr(cfg.NodeIP); err != nil {
			return fmt.Errorf("node: node IP %q: %w", cfg.NodeIP, err)
		}
	}
	return agent.Run(ctx, agent.Config{
		Node: cfg.Name, DataDir: filepath.Join(dir, "agent"), JoinFile: cfg.JoinFile, NodeIP: cfg.NodeIP,
		Logger: log.With("component", "agent"),
		Nodes:  routes.nodes,
		NewPods: func(ctx context.Context, env agent.Env) (agent.PodManager, error) {
			cidr, err := netip.ParsePrefix(env.Node.Spec.PodCIDR)
			if err != nil {
				return nil, fmt.Errorf("node: the kernel gave no usable pod CIDR (%q): %w", env.Node.Spec.PodCIDR, err)
			}
			network, err := cni.New(cni.Config{
				PodCIDR:  cidr,
				Bridge:   cni.BridgeName(cfg.Name),
				IPAMDir:  filepath.Join(dir, "cni", "ipam"),
				CacheDir: filepath.Join(dir, "cni", "cache"),
				NetNSDir: filepath.Join(dir, "netns"),
			})
			if err != nil {
				return nil, fmt.Errorf("node: pod network: %w", err)
			}
			routes.attach(ctx, network)
			ip := nodeIP
			for _, a := range env.Node.Status.Addresses {
				if a.Type == "InternalIP" && !ip.IsValid() {
					ip, _ = netip.ParseAddr(a.Address)
				}
			}
			m, err := pods.New(pods.Config{
				Runtime: rt, Network: network, DataDir: filepath.Join(dir, "pods"), NodeName: cfg.Name,
				NodeIP: ip, Objects: env.Objects, Logger: log.With("component", "pods"),
				// Pods deleted while the node was away and compacted out of its
				// watch's history are found this way; the watch tells of the rest.
				OrphanGrace: time.Minute,
			})
			if err != nil {
				return nil, err
			}
			go func() {
				if err := m.Run(ctx); err != nil && ctx.Err() == nil {
					log.Error("pod manager stopped", "err", err)
				}
			}()
			return m, nil
		},
	})
}

// routes keeps host-gw routes to the other nodes' pod CIDRs, through their node IPs,
// as the cluster's nodes change.
type routes struct {
	self string
	log  *slog.Logger

	mu      sync.Mutex
	ctx     context.Context
	network *cni.Network
	latest  []*corev1.Node
}

// nodes is the agent's Config.Nodes.
func (r *routes) nodes(ns []*corev1.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latest = ns
	r.ensureLocked()
}

// attach starts routing once the pod network exists.
func (r *routes) attach(ctx context.Context, n *cni.Network) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx, r.network = ctx, n
	r.ensureLocked()
}

func (r *routes) ensureLocked() {
	if r.network == nil {
		return
	}
	var peers []cni.Peer
	for _, n := range r.latest {
		if n.Name == r.self {
			continue
		}
		cidr, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			// host-gw reaches only nodes on a network this one is attached to.
			if ip, err := netip.ParseAddr(a.Address); err == nil && onLink(ip) {
				peers = append(peers, cni.Peer{PodCIDR: cidr, NodeIP: ip})
			}
			break
		}
	}
	if err := r.network.EnsureRoutes(r.ctx, peers); err != nil {
		r.log.Warn("routes to other nodes' pods", "err", err)
	}
}

// onLink reports whether ip is another host on a subnet of one of this host's
// interfaces (not one of this host's own addresses: a second node sharing this
// host's network has no route to give).
func onLink(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	found := false
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		if p.Addr() == ip {
			return false
		}
		found = found || !p.Addr().IsLoopback() && p.Masked().Contains(ip)
	}
	return found
}
