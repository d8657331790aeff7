// Package registry owns the set of kinds the kernel serves. A kind is registered with
// a structural OpenAPI schema and a little presentation metadata, exactly as a
// CustomResourceDefinition describes a custom resource. The kernel knows nothing else
// about a kind: Namespace and ConfigMap reach it through the same Register call a
// vendor's plugin uses.
//
// The registry is copy-on-write. Readers take an immutable Snapshot, so request
// handling never locks; Register and Unregister publish a new Snapshot and notify
// subscribers (discovery, OpenAPI, server-side apply, garbage collection).
package registry
