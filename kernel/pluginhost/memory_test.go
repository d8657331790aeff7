//go:build linux

package pluginhost

import (
	"testing"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
)

// Both linear memories must behave as wasm requires: growth keeps what was written,
// new pages read as zero, and growth past the maximum fails. The reserved memory
// must also never move, which is what makes growing it free.
func TestLinearMemory(t *testing.T) {
	const page, max = 64 << 10, 16 * 64 << 10
	for _, tc := range []struct {
		name  string
		mem   experimental.LinearMemory
		fixed bool
	}{
		{"reserved", memoryAllocator().Allocate(page, max), true},
		{"heap", &heapMemory{buf: make([]byte, 0, page)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.mem.Free()
			b := tc.mem.Reallocate(page)
			if len(b) != page {
				t.Fatalf("len %d, want %d", len(b), page)
			}
			b[0], b[page-1] = 1, 2
			g := tc.mem.Reallocate(3 * page)
			if len(g) != 3*page {
				t.Fatalf("len %d after growth, want %d", len(g), 3*page)
			}
			if g[0] != 1 || g[page-1] != 2 {
				t.Fatal("growth lost what was written")
			}
			for i, c := range g[page:] {
				if c != 0 {
					t.Fatalf("byte %d of a new page is %d", page+i, c)
				}
			}
			if tc.fixed && unsafe.SliceData(g) != unsafe.SliceData(b) {
				t.Fatal("the reserved memory moved when it grew")
			}
			if _, ok := tc.mem.(*reservedMemory); ok != tc.fixed {
				t.Fatalf("the allocator made a %T", tc.mem)
			}
			if tc.fixed {
				if got := tc.mem.Reallocate(max + page); got != nil {
					t.Fatalf("growth past the maximum returned %d bytes", len(got))
				}
			}
			if got := tc.mem.Reallocate(max); len(got) != max || got[0] != 1 {
				t.Fatal("growth to the maximum failed or lost data")
			}
		})
	}
}
