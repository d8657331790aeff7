// Package agent is the node agent: it joins the kernel over nodelink, keeps the Node
// object and its Lease current, watches the pods bound to its node (and the ConfigMaps
// and Secrets they use), hands them to a PodManager, reports their status, and serves
// the kernel's logs and exec streams.
//
// Run (or New, then Agent.Run) dials the kernel with the join file, certificates under
// DATA/nodelink; reports the node's status (OpNodeStatus: CPUs, memory, the data dir's
// file system, 110 pods, addresses, nodeInfo) on every (re)connect, when it changes,
// and every StatusReportFrequency, and gets back its Node with spec.podCIDR, which
// NewPods receives for
// the CNI configuration; then it lists ConfigMaps, Secrets and pods (in that order, so
// a pod's references are in the cache when the manager first sees it) and watches them
// from the lists' revisions. Every event goes to the cache (Objects) and to the
// manager: Sync for a pod added or changed, Forget for one deleted or replaced,
// ObjectChanged for a ConfigMap or Secret. The manager's Updates go back as pod status
// updates, and a Terminated one is followed by the pod's final deletion.
//
// The watches resume from their last revision after a reconnect (nodelink does that)
// and after a restart of the agent: the cache, with the revision each watch reached,
// is saved to DATA/agent-cache.json (0600: it holds Secrets), within 10 s of a change.
// Only when the kernel has compacted that revision away does the agent list again; it
// then forgets the pods that disappeared and tells the manager about the objects that
// changed.
//
// The logs and exec streams are answered from the cache first (pod not on this node,
// container not in the pod), then by the manager; their wire format is
// nodelink/nodeapi's.
package agent
