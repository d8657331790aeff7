package pluginhost

import "github.com/tetratelabs/wazero/experimental"

// A guest's linear memory is, by default, a Go slice that wazero grows with append:
// every growth past its capacity copies the whole memory and leaves the old one to
// the collector. A Go guest grows its heap a few pages at a time, so a scheduler
// policy holding a 5000-node snapshot was copying itself over and over (5% of the
// kernel's CPU while a backlog of pods was bound). Where the platform allows, the
// memory is instead its whole cap reserved up front as address space, outside the Go
// heap; growing touches new pages and moves nothing.

// heapMemory is the fallback: wazero's own behaviour, a slice grown by append.
type heapMemory struct{ buf []byte }

func (h *heapMemory) Reallocate(size uint64) []byte {
	if n := uint64(len(h.buf)); size > n {
		h.buf = append(h.buf, make([]byte, size-n)...)
	}
	return h.buf[:size]
}

func (h *heapMemory) Free() { h.buf = nil }

func newHeapMemory(capacity uint64) experimental.LinearMemory {
	return &heapMemory{buf: make([]byte, 0, capacity)}
}

var _ experimental.LinearMemory = (*heapMemory)(nil)
