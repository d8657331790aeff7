// Package objects owns the life of API objects of every registered kind: the write path
// (decode checks, pruning, defaulting, admission, validation, compare-and-swap), reads
// and paged lists, watches with Kubernetes' resourceVersion semantics, finalizers and
// deletion, namespace lifecycle, managed fields for server-side apply, and encryption
// at rest. It works on unstructured objects and knows only their metadata; everything
// else about a kind comes from its registry entry.
//
// The HTTP API server and, later, the plugin host both call Service, so a plugin's write
// takes exactly the path a kubectl write takes.
//
// Store keys come from registry.Entry.Key: /<group or core>/<resource>/[<namespace>/]<name>.
// Values are the object's JSON without metadata.resourceVersion, which is the store's
// mod revision and is set on every read. Kinds with EncryptAtRest store an AES-256-GCM
// envelope instead (see encrypt.go).
package objects
