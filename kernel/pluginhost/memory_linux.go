package pluginhost

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// reservedMemory is a linear memory mapped at its maximum size. MAP_NORESERVE pages
// cost nothing until touched, and are zero when first read, as wasm requires.
type reservedMemory struct{ buf []byte }

func (r *reservedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(r.buf)) {
		return nil // wazero fails the grow; the guest sees memory.grow return -1
	}
	return r.buf[:size:size]
}

// Free unmaps the memory. wazero calls it only from Close, which the host calls
// when no call is running on the instance (an abandoned trusted call's worker
// closes its instance itself, after the guest returns), so no guest code or host
// function can still be reading it; host functions copy what they read.
func (r *reservedMemory) Free() {
	if r.buf != nil {
		_ = syscall.Munmap(r.buf)
		r.buf = nil
	}
}

// memoryAllocator reserves each memory's maximum. If the reservation is refused (a
// strict overcommit policy, a small address-space limit), that memory is a heap
// slice as wazero would make it.
func memoryAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, max uint64) experimental.LinearMemory {
		if max > 0 && max <= 1<<32 {
			buf, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
			if err == nil {
				return &reservedMemory{buf: buf}
			}
		}
		return newHeapMemory(capacity)
	})
}
