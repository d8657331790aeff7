// Package node will be the node agent: pods on containerd, volumes, probes, logs and
// exec, joined to the kernel over QUIC. It is not written yet; the node agent issue
// builds it.
package node
