// Package node runs a Weft node: a private containerd under the node's data dir, the
// pod manager on it (node/pods) with CNI networking (cni), and the agent that joins the
// kernel over nodelink (node/agent). `weft node` and `weft up` call Run.
package node
