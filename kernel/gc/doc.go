// Package gc owns the deletions that follow from metadata alone: garbage collection
// through ownerReferences (background, foreground and orphan propagation) and the
// removal of a namespace's contents when the namespace is deleted.
//
// One store watch over every kind feeds an in-memory graph of owners and dependents,
// keyed by uid. Decisions are checked against the live object before they are acted
// on, and every write goes through objects.Service, so finalizers, preconditions and
// admission apply to the collector as to any client.
package gc
