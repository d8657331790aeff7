//go:build wasip1

package sdk

import (
	"encoding/json"
	"runtime"
	"unsafe"
)

// The ABI glue. Every export receives the size of its input, pulls the input from the
// host with weft.take, runs, and returns (ptr << 32 | len) of its result, which stays
// alive in `result` until the next export is called.

//go:wasmimport weft take
func hostTake(ptr uint32)

//go:wasmimport weft log
func hostLog(level int32, ptr, size uint32)

//go:wasmimport weft call
func hostCall(op int32, ptr, size uint32) uint64

var result []byte

func input(n uint32) []byte {
	buf := make([]byte, n)
	if n > 0 {
		hostTake(uint32(uintptr(unsafe.Pointer(&buf[0]))))
	}
	return buf
}

func output(b []byte) uint64 {
	result = b
	// Yield before returning: a Go reactor whose exports never yield stops running its
	// garbage collector after about a hundred calls.
	runtime.Gosched()
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

// run is every export: errors become a result of the form {"error": "..."} with the
// top bit of the length set, which the host reads as a failed call.
func run(op string, n uint32) uint64 {
	out, err := dispatch(wasmHost{}, op, input(n))
	if err != nil {
		r := output([]byte(err.Error()))
		return r | 1<<31
	}
	return output(out)
}

//go:wasmexport weft_abi_v1
func abiV1() {}

//go:wasmexport weft_manifest
func exportManifest(n uint32) uint64 { return run("manifest", n) }

//go:wasmexport weft_reconcile
func exportReconcile(n uint32) uint64 { return run("reconcile", n) }

//go:wasmexport weft_admit
func exportAdmit(n uint32) uint64 { return run("admit", n) }

//go:wasmexport weft_route
func exportRoute(n uint32) uint64 { return run("route", n) }

//go:wasmexport weft_feed
func exportFeed(n uint32) uint64 { return run("feed", n) }

//go:wasmexport weft_schedule
func exportSchedule(n uint32) uint64 { return run("schedule", n) }

type wasmHost struct{}

func (wasmHost) Log(level Level, msg string) {
	if msg == "" {
		return
	}
	b := []byte(msg)
	hostLog(int32(level), uint32(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b)))
}

func (wasmHost) Call(op Op, req CallRequest) (json.RawMessage, error) {
	in := req.MarshalWire()
	if len(in) == 0 {
		in = []byte{0, 0} // an empty field keeps the pointer valid
	}
	r := hostCall(int32(op), uint32(uintptr(unsafe.Pointer(&in[0]))), uint32(len(in)))
	code, n := int32(r>>32), uint32(r)
	out := make([]byte, n)
	if n > 0 {
		hostTake(uint32(uintptr(unsafe.Pointer(&out[0]))))
	}
	if code != 0 {
		return nil, decodeStatus(code, out)
	}
	return out, nil
}
