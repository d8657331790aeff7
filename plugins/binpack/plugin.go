// Package binpack is the "binpack" scheduler policy plugin: the default filters with MostAllocated scoring and no default spreading: it packs pods onto the fewest nodes, so swapping it in has a visible effect.
// Its filters and scores are plugins/scheduling's.
package binpack

import (
	"weft.dev/weft/plugins/scheduling"
	"weft.dev/weft/sdk"
)

// PolicyName is the scheduler policy's name (the manifest's scheduler.name).
const PolicyName = "binpack"

// Manifest declares the policy and what it reads: nodes and pods, fed by the host.
func Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:      "binpack",
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
func Policy() *sdk.Policy { return scheduling.BinpackProfile() }

// Plugin is the plugin's manifest and handlers.
func Plugin() (sdk.Manifest, sdk.Handlers) {
	return Manifest(), sdk.Handlers{Scheduler: Policy()}
}
