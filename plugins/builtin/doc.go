// Package builtin holds the first-party plugin modules embedded in the weft binary:
// core, apps and the scheduler policies defaultpolicy and binpack, built for
// GOOS=wasip1 by `make plugins` into wasm/. The kernel
// installs them on first start; the operator may replace or remove them like any
// other plugin.
package builtin
