// Package pluginhost runs plugin modules on wazero: it compiles a module once per
// digest (with wazero's file compilation cache in the data dir), checks that it speaks
// the ABI in sdk/ABI.md, reads its manifest, and serves calls from a bounded pool of
// instances.
//
// Containment is the point. Each plugin version gets its own wazero runtime, so its
// memory cap applies to it alone and nothing compiled for one plugin is shared with
// another. Every call has a deadline enforced by closing the instance
// (WithCloseOnContextDone). A trap, a Go panic, running out of memory or a timeout ends
// that instance only: it is discarded, never reused (a guest that trapped may look
// alive), and a fresh one is instantiated in the background. Repeated failures mark the
// plugin Degraded and back its calls off exponentially, so a broken plugin costs the
// kernel almost nothing while the API keeps serving.
package pluginhost
