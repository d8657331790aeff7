// Package sdktest is a fake Weft kernel for native unit tests of plugins.
//
// A Kernel implements sdk.Host in memory: get, list (label and simple field
// selectors), create (uid, increasing resourceVersion, creationTimestamp,
// generation, generateName), update (resourceVersion compare-and-swap,
// generation bumps on spec changes, status preserved), update status, patch
// (merge and JSON patch; strategic is treated as merge), delete (preconditions,
// a simple cascading garbage collector, optional graceful pod deletion),
// events, config and batches. Errors are Kubernetes Status objects, returned
// as *sdk.Status.
//
// Every change is fed to the plugin's sdk.Cache, as the host feeds it (projected
// to the fields the controllers declare), and mapped to reconcile keys the way
// the host maps them: an object of a controller's For kind enqueues itself, an
// object of an Owns kind enqueues its controlling owner.
//
//	k := sdktest.New(manifest, handlers)
//	k.Create(t, deployment)
//	k.Run(t)                       // reconcile until the queue is empty
//	k.SetPodsReady("default", "app=web")
//	k.Run(t)
//	k.Advance(10 * time.Minute)    // release RequeueAfter and error retries
//	k.Run(t)
//
// The clock is fake: it starts at a fixed time and moves only with Advance.
// The plugin's handlers are called directly (not through sdk.Register), so
// several kernels may run in one test binary.
package sdktest
