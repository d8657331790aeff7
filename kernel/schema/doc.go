// Package schema owns the structural OpenAPI v3 schemas that give Weft's
// kinds their shape.
//
// The kernel knows object metadata only. Every kind, built-in or not, is
// registered with a structural schema exactly as a CustomResourceDefinition
// is, and this package turns that schema into the behaviour Kubernetes
// derives from a CRD schema:
//
//   - Compile checks the CRD structural-schema rules, adds the root fields
//     every object has (apiVersion, kind, and the full ObjectMeta schema) and
//     precomputes an immutable tree that is safe for concurrent use;
//   - Default applies `default`s, Prune drops unknown fields (reporting them
//     for fieldValidation=Warn/Strict) and Validate checks values, all with
//     apiextensions-apiserver's semantics and messages;
//   - PatchMeta drives strategic merge patch from the x-kubernetes-patch-*
//     extensions, NewTypeConverter drives server-side apply, and Schema and
//     MetaDefinitions feed the published OpenAPI document.
//
// The hot paths (Default, Prune, Validate) run on every write, so they walk
// the precompiled tree over the decoded JSON without reflection, and they
// allocate only when they have something to report.
//
// The JSON files under generated/ come from plugins/internal/schemagen and
// must not be edited by hand.
package schema
