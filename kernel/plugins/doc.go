// Package plugins connects loaded plugin modules to the rest of the kernel. This file
// set serves plugins' requests (weft.call) through the object service, so a plugin's
// write takes exactly the path a kubectl write takes: admission, validation,
// compare-and-swap, watch fan-out.
//
// The Plugin kind (weft.dev/v1alpha1), the module store, install, upgrade and rollback,
// and the controller runtime that drives reconcile calls are built next (see issue 3);
// they will live here too.
package plugins
