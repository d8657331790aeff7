// Package apiserver owns the Kubernetes HTTP API: TLS client-certificate
// authentication, request routing, content negotiation (JSON, YAML, Table,
// PartialObjectMetadata), watch streaming, discovery (legacy and aggregated), the
// OpenAPI v3 documents kubectl validates and patches with, the in-flight limit, health
// endpoints and Prometheus metrics. The semantics of objects live in package objects;
// this package only translates HTTP to and from it.
package apiserver
