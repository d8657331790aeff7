// Package apps is Weft's apps/v1 plugin: the ReplicaSet and Deployment kinds and
// their controllers, which follow kube-controller-manager's (expectations,
// slow-start batches, ActivePodsWithRanks, rolling and recreate rollouts,
// proportional scaling, revisions, progress deadlines), plus an opt-in automatic
// rollback of a rollout that exceeds its progress deadline
// (weft.dev/auto-rollback: "true").
//
// It imports only the standard library and weft.dev/weft/sdk, so it builds as a
// wasip1 reactor (see ./wasm) and natively, where sdk/sdktest drives it in tests.
//
// The schemas in ./schemas are generated from k8s.io/api.
package apps

//go:generate go run ../internal/schemagen -apps schemas
