// Package cni owns a node's pod networking: it gives each pod a network namespace and
// an address through libcni and the standard CNI plugins Debian installs in
// /usr/lib/cni, removes both again without leaks, and routes to other nodes' pods.
//
// # The network
//
// New renders one conflist per node agent, pinned to cniVersion 1.0.0 because that
// is the newest spec Debian's plugins (containernetworking-plugins 1.1.1) speak:
//
//	bridge     Config.Bridge, isGateway (the bridge holds the CIDR's first address
//	           and is each pod's default route), hairpinMode (a pod can reach itself
//	           through its own hostPort), ipMasq off, optional mtu
//	  host-local  one range: Config.PodCIDR; dataDir Config.IPAMDir
//	portmap    capabilities {portMappings}; Setup passes the pod's hostPorts
//	loopback   brings lo up in the pod; last, because it only passes results through
//
// ADD leaves out the plugins that would only pass the result through, since each
// is a process and many pods start at once: portmap for a pod without hostPorts, and
// loopback always, because Setup brings lo up itself when it creates the namespace.
// DEL and CHECK run the whole list.
//
// ipMasq is off because pods are addressed directly across nodes (host-gw): SNAT to
// the node IP would hide pod addresses from each other, and egress to the world is
// not this package's concern (nor, in tests, allowed). The network is named after
// the bridge, which keys libcni's cache and portmap's chains, so two agents sharing
// a machine never collide; BridgeName derives a per-node bridge name.
//
// # Sandboxes
//
// Setup(ctx, podID, opts) bind-mounts a new network namespace at
// Config.NetNSDir/<podID> and runs CNI ADD in it with container ID podID and
// interface eth0. Teardown runs CNI DEL and removes the mount. Both are built for
// restarts and crashes: Setup adopts a complete sandbox it finds (same namespace,
// same address) and rebuilds a partial one; Teardown is idempotent and cleans up
// whatever half of a sandbox is left (namespace without CNI result, reservation
// without namespace, ...). Status and List report what a previous agent run left,
// found from all three kinds of state below, so that even an IP reservation from an
// ADD that crashed half-way is offered for Teardown. Check runs CNI CHECK.
//
// When Config.HostNetNS is set, every plugin runs with that namespace as "the host":
// plugins inherit the network namespace of the thread that forks them. Tests use this
// to run several nodes in one process, each in its own namespace.
//
// # State
//
// All state is on disk in directories the agent owns, so a restarted agent finds
// it and two agents never share it:
//
//	Config.NetNSDir   pod namespaces (bind mounts); the directory is made a shared
//	                  mount so unmounts reach mount namespaces copied from it later.
//	                  Belongs on tmpfs (/run/weft/<agent>/netns): namespaces do not
//	                  survive a reboot and neither should their mount points.
//	Config.IPAMDir    host-local's reservations, <network>/<ip> holding the pod ID.
//	Config.CacheDir   libcni's results/<network>-<podID>-eth0: the ADD result and the
//	                  runtime config (port mappings) that DEL and Status read.
//
// # Quirks of the plugins this relies on
//
// Debian ships containernetworking-plugins 1.1.1 (spec 0.1.0 to 1.0.0).
//
//   - portmap's DEL does nothing unless it is given at least one port mapping,
//     although it removes the pod's chains whatever the mappings say. Teardown
//     therefore passes the mappings cached at ADD, or a placeholder when the cache
//     is lost.
//   - portmap's CHECK fails for IPv4-only pods whenever ip6tables is installed, so
//     Check leaves portmap out.
//   - When a pod's namespace disappears before DEL, bridge cannot delete the veth;
//     the kernel does when the namespace dies, but asynchronously, and never if a
//     stray process holds it. Teardown deletes the host end itself.
//   - The plugins run iptables from PATH; on Debian that is iptables-nft.
//
// libcni fills in a missing plugin executor lazily on every call, which races under
// concurrent pods, so New always passes one.
//
// # Cross-node routes
//
// EnsureRoutes installs, in the node's namespace, one route per peer node: its pod
// CIDR via its node IP, tagged with protocol 0x57 so that routes to peers no longer
// listed are found and deleted without touching anyone else's routes. It also turns
// on IPv4 forwarding, which host-gw needs.
package cni
