// Package scheduling holds the filter and score plugins of kube-scheduler's default
// profile (v1.32 semantics and reason strings), written against the SDK's
// researcher API (sdk.FilterPlugin, sdk.ScorePlugin) so scheduler policies can
// share them: plugins/defaultpolicy and plugins/binpack are two profiles of these.
//
// It depends on the standard library and the SDK only, and compiles natively (for
// tests and benchmarks) and to wasm.
//
// Deliberate differences from kube-scheduler:
//   - A node whose Ready condition is False or Unknown is treated as tainted
//     node.kubernetes.io/not-ready or /unreachable (NoSchedule), as the node
//     lifecycle controller would taint it; Weft has no such controller.
//   - The system-default spread constraints (hostname maxSkew 3, zone maxSkew 5,
//     ScheduleAnyway) apply to a pod with a controller and no constraints of its
//     own, selecting pods by all of the pod's labels, not by the selectors of the
//     Services and ReplicaSets that select it (the guest does not watch those).
//   - A node without a kubernetes.io/hostname label has its name as hostname.
//   - No preemption, volumes, ports or image locality.
//
// Cost: the counts spreading and inter-pod affinity need (matching pods per node
// and per topology domain) come from the snapshot's incremental pod counters
// (sdk.Snapshot.Counter), not from matching every pod in the cluster for every pod
// placed; inter-pod affinity falls back to that scan for terms spanning several
// namespaces or for several required affinity terms. Every plugin also has a
// batch form (FilterNodes, ScoreNodes), so a policy makes one dynamic call per
// plugin per chunk of nodes rather than per node, and says when a pod does not need
// it (sdk.FilterSkipper, sdk.ScoreSkipper): a Deployment's pod on untainted nodes
// runs only resource fit, spreading and the two resource scores per node.
package scheduling
