// Package builtin holds the first-party plugin modules embedded in the weft binary:
// core, apps and the scheduler policies defaultpolicy and binpack, built by `make
// plugins` into wasm/ (defaultpolicy from Rust, plugins/defaultpolicy-rs; the others
// from Go for GOOS=wasip1). The kernel
// installs them on first start; the operator may replace or remove them like any
// other plugin.
package builtin
