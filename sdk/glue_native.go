//go:build !wasip1

package sdk

// Call runs an export in-process, as the host would through the ABI: plugin logic
// compiled natively is tested, and benchmarked against its wasm build, this way.
func Call(h Host, op string, in []byte) ([]byte, error) { return dispatch(h, op, in) }
