// Package cni will own pod networking through libcni and the standard CNI plugins
// (bridge, host-local, portmap, loopback) from /usr/lib/cni. It is not written yet;
// the node agent issue builds it.
package cni
