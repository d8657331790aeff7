// Package defaultpolicy is the "default-scheduler" scheduler policy plugin: kube-scheduler's default profile: LeastAllocated and BalancedAllocation scoring, default spreading.
// Its filters and scores are plugins/scheduling's.
package defaultpolicy

import (
	"weft.dev/weft/plugins/scheduling"
	"weft.dev/weft/sdk"
)

// PolicyName is the scheduler policy's name (the manifest's scheduler.name).
const PolicyName = "default-scheduler"

// Manifest declares the policy and what it reads: nodes and pods, fed by the host.
func Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:      "defaultpolicy",
		Version:   "0.1.0",
		Scheduler: &sdk.SchedulerSpec{Name: PolicyName},
		Permissions: []sdk.Permission{
			{Group: "", Resource: "nodes", Verbs: []string{"list", "watch"}},
			{Group: "", Resource: "pods", Verbs: []string{"list", "watch"}, Namespaces: []string{"*"}},
		},
	}
}

// Policy returns a fresh instance of the policy (its plugins keep per-pod state:
// one per snapshot, used by one goroutine).
func Policy() *sdk.Policy { return scheduling.DefaultProfile() }

// Plugin is the plugin's manifest and handlers.
func Plugin() (sdk.Manifest, sdk.Handlers) {
	return Manifest(), sdk.Handlers{Scheduler: Policy()}
}
