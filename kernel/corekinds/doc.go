// Package corekinds is the native form of the core kinds and their admission rules,
// which the kernel registered before the core plugin existed. It goes away once the
// kernel installs the core WASM plugin (plugins/core) instead.
package corekinds
