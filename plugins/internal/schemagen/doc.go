// Command schemagen derives structural OpenAPI v3 schemas for Kubernetes'
// built-in kinds from the Go types in k8s.io/api, and writes them as JSON.
//
// Weft's kernel knows no kind: every kind is registered with a structural
// schema, as a CRD is. The built-in kinds therefore need such schemas too, and
// the only faithful source for them is the Go types plus their doc comments
// (descriptions, +optional, +listType, +enum, ...), which is also what
// Kubernetes' own openapi-gen reads. Reflection gives the shapes; go/parser
// gives the comments, because reflection cannot see them.
//
// Usage (see the go:generate lines in plugins/core/schemas/doc.go and
// plugins/apps/doc.go):
//
//	go run ./plugins/internal/schemagen -kinds plugins/core/schemas -meta kernel/schema/generated
//	go run ./plugins/internal/schemagen -apps plugins/apps/schemas
//
// Any subset of -kinds, -meta and -apps may be given; each names the directory
// that receives that output.
//
// The output is deterministic, and a test regenerates it and compares, so
// the checked-in files cannot drift from the generator or the k8s.io/api
// version in go.mod.
package main
