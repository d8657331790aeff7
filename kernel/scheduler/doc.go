// Package scheduler is the host side of scheduling: the pods/binding subresource, and
// the framework that queues unbound pods, asks the active scheduler policy plugin of
// each profile where they go, and binds them.
package scheduler
