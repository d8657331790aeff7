// Package core is the core first-party plugin: the core/v1 kinds (Namespace, Pod,
// Service, Endpoints, Node, ServiceAccount, ConfigMap, Secret, Event), Lease and
// EndpointSlice, with their structural schemas, and the admission rules a schema
// cannot express:
//
//   - Secrets: stringData folded into data, type defaulted to Opaque, data keys
//     validated, the required keys of the well-known types, immutable Secrets and an
//     immutable type.
//   - ConfigMaps: data and binaryData keys validated and unique, immutable ConfigMaps.
//   - Pods: Kubernetes' defaulting (the v1 defaulters, plus what the ServiceAccount,
//     Priority and DefaultTolerationSeconds admission plugins add), returned as an
//     RFC 6902 JSON Patch, and a subset of ValidatePodCreate and ValidatePodUpdate
//     with Kubernetes' messages.
//
// It imports only the standard library and weft.dev/weft/sdk, so it compiles both to
// the WASM plugin (plugins/core/wasm) and natively, for tests and benchmarks. Pods are
// admitted on the hot path, so they are decoded into small structs holding only the
// fields the rules read, and the patch is written by hand.
package core
