// Package image owns the node's images: building the tiny busybox image that tests and
// `make run` use (in code, from Debian's static busybox, nothing downloaded), importing
// OCI and docker-archive tarballs, pulling through containerd's resolver, and the
// imagePullPolicy decision.
//
// An image in containerd's image store is not enough to create a container: its layers
// must also be unpacked into the snapshotter the containers use. client.Import only
// stores, so Import here unpacks too, and Pull asks containerd to unpack as it pulls.
package image
