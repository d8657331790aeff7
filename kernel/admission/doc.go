// Package admission runs plugins' admission hooks in the write path, with the
// semantics of Kubernetes admission webhooks but in-process: mutating hooks in a
// defined order, each reinvoked once when a later hook changed the object and it asked
// to be (reinvocationPolicy IfNeeded); then the kernel's schema validation; then
// validating hooks, which may deny, warn, or add audit annotations. Every hook has a
// timeout and a failure policy (Fail or Ignore), and namespace and object selectors.
package admission
