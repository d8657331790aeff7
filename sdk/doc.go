// Package sdk will be the guest SDK for plugin authors: the Go implementation of the
// language-neutral plugin ABI (ABI.md) for GOOS=wasip1 reactor modules, and a test
// harness. It is not written yet; the plugin host issue builds it.
package sdk
