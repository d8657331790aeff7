// Package node will be the node agent: it joins the kernel over QUIC and runs the pods
// bound to its node. Its building blocks exist: node/runtime (a private containerd,
// containers, logs, exec, adoption after restarts) and node/image (images built in
// code, imported, pulled). The agent itself, the QUIC transport, probes and volumes
// are the rest of the node agent issue.
package node
