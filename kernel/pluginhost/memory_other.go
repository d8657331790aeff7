//go:build !linux

package pluginhost

import "github.com/tetratelabs/wazero/experimental"

func memoryAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, max uint64) experimental.LinearMemory {
		return newHeapMemory(capacity)
	})
}
