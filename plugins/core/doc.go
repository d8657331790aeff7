// Package core defines the core/v1 kinds the kernel serves first (Namespace, ConfigMap,
// Secret, Event) and their admission rules: Secret stringData and type defaulting,
// immutable ConfigMaps and Secrets, and key validation. The kernel registers them
// through the registry's public interface, exactly as any plugin registers its kinds;
// nothing in the kernel refers to them by name except namespace lifecycle.
//
// This is plain Go for now. The plugin host issue compiles the same definitions and
// logic into the core WASM plugin.
package core
