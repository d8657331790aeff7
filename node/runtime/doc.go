// Package runtime is the node agent's container runtime layer: it owns the agent's
// private containerd daemon (config, start, clean stop), the containers the agent runs
// in its own containerd namespace, their logs and exec sessions.
//
// It sits on the containerd Go client v1.7 but must work against the containerd 1.6
// that Debian ships, so it uses only the classic services (containers, tasks, content,
// images, snapshots, diff, introspection) and never Transfer or Sandbox.
//
// Containers outlive the agent: containerd-shim processes survive a containerd
// restart, and container output goes through a log driver binary that the shim starts
// (see LogDriverArg), not through pipes held by the agent. After a restart the agent
// finds its containers again with List and carries on.
//
// Images (building, importing, pulling) live in package node/image.
package runtime
