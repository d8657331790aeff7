// Package nodes is everything the kernel does for nodes: the nodelink server (the
// kernel's CA, a serving certificate for the listen address, a join token kept in the
// data dir and DATA/join for nodes), node registration with a pod CIDR from the cluster
// CIDR (node IPAM), liveness (the Node's Ready condition and Lease, NotReady with the
// unreachable taint for a silent node, eviction of its pods once their
// tolerationSeconds pass), the watch source nodes read pods, ConfigMaps and Secrets
// from, the request handler through which a node writes (as system:node:<name> in
// system:nodes), and the pods/log, pods/exec and pods/portforward subresources,
// bridged to streams the kernel opens to the pod's node.
//
// The wire formats (request operations, watch kinds, the logs, exec and port-forward
// streams) are nodelink/nodeapi's; node/agent is the other end.
//
// Scope of what a node may read and write:
//
//   - pods: only those with spec.nodeName equal to the node (a field-selected watch);
//     status updates and the final deletion are refused for any other pod.
//   - configmaps, secrets: every one in the cluster, as kubelets could before the node
//     authorizer; narrowing to those its pods use is future work.
//   - its own Node (status, through OpNodeStatus) and its own Lease.
//
// pods/log and pods/exec make kube-apiserver's checks first (pod found, bound,
// container valid, node connected: 404, 400, 400, 503), then open a stream to the node.
// Logs stream as text/plain (follow, previous, container, tailLines, timestamps,
// sinceSeconds, sinceTime, limitBytes). Exec is served over WebSocket with
// v5.channel.k8s.io (or v4); a SPDY request gets a 400 that says so. pods/portforward
// makes the same checks but the container's (plus ports, when the query has them),
// then serves SPDY/3.1 portforward.k8s.io either inside a WebSocket
// (SPDY/3.1+portforward.k8s.io, kubectl's default) or after a plain SPDY upgrade (its
// fallback); the SPDY connection ends here and each (error, data) stream pair becomes
// one port-forward stream to the node. pods/attach is not served yet.
//
// Why liveness is judged here and not from the Lease alone: the kernel already sees
// each node's heartbeats on its connection, so it need not wait for a Lease to age.
// A node silent for Config.GracePeriod (default 10 s, checked every 0.5 s) is marked
// Ready=Unknown with node.kubernetes.io/unreachable taints, inside the 15 s goal
// (Kubernetes takes 40-50 s); while the node link lags (nodelink.Server.Lagging),
// the kernel may be why nodes sound silent, and it waits for the Lease duration (40 s)
// instead. Pods are then deleted, with grace 0 because nobody can
// confirm their termination, once their toleration of the unreachable NoExecute taint
// runs out (Config.DefaultTolerationSeconds, 300 s, for pods without one, as the
// DefaultTolerationSeconds admission plugin would give them), so their controllers
// replace them elsewhere.
package nodes
