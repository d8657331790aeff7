// Package kernel assembles Weft's control plane from its parts: the store, the kind
// registry, the object service, the API server, and the garbage collector. It owns
// the data dir layout and the process lifecycle: certificates and kubeconfig on start,
// compaction while running, and a graceful stop.
//
// Data dir layout:
//
//	DIR/store/            the MVCC store (Pebble)
//	DIR/pki/              cluster CA and issued certificates (see package pki)
//	DIR/encryption.key    data key for kinds encrypted at rest
//	DIR/kubeconfig        admin credentials for kubectl
//
// The kernel knows no kind by name: kinds and their admission rules are passed in
// Config, so the binary decides what is built in.
package kernel
