// Package sdk is the Go SDK for Weft plugins: the Go implementation of the
// language-neutral plugin ABI described in ABI.md, for GOOS=wasip1 reactor modules
// built with -buildmode=c-shared.
//
// A plugin registers its manifest and handlers from an init function:
//
//	func init() {
//		sdk.Register(manifest, sdk.Handlers{Reconcile: reconcile})
//	}
//
// The SDK owns the ABI's glue: it exports the weft_* functions, pulls each call's input
// from the host, keeps the result alive until the host has read it, and yields to the
// Go scheduler at the end of every export. That last point is not cosmetic: a Go
// reactor called back to back without yielding stops collecting garbage after about a
// hundred cycles and its memory grows without bound (measured; see DESIGN.md).
//
// The SDK depends on nothing outside the standard library, so a plugin author's go.mod
// needs only this module. Built natively (not wasip1), the same code runs against an
// in-process fake host, so plugin logic is unit-tested with plain `go test`.
package sdk
