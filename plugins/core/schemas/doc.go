// Package schemas serves the structural OpenAPI schemas of Kubernetes'
// built-in kinds (core/v1 Pod, apps/v1 Deployment, ...), which the core
// plugins register with the kernel exactly as a CRD registers its schema.
//
// The JSON files are generated from the Go types and doc comments of
// k8s.io/api by plugins/internal/schemagen; regenerate them with go generate
// after changing the kind list or the k8s.io/api version. They hold only a
// kind's own fields: kernel/schema.Compile adds apiVersion, kind and
// metadata.
package schemas

//go:generate go run ../../internal/schemagen -kinds . -meta ../../../kernel/schema/generated
