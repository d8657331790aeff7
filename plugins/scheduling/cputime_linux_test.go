package scheduling

import (
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// processCPU is the process's CPU time, every thread's (a wasm call runs on a
// goroutine of the host's, and the garbage collector on others).
func processCPU() time.Duration {
	var ts syscall.Timespec
	const clockProcessCPUTimeID = 2
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockProcessCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// cpuTimer sums the CPU time of a benchmark's timed sections and reports pods per
// CPU-second beside the wall-clock pods/s: on a shared machine wall time follows
// the other load, CPU time follows the code.
type cpuTimer struct {
	start, total time.Duration
}

func (c *cpuTimer) Start() { c.start = processCPU() }
func (c *cpuTimer) Stop()  { c.total += processCPU() - c.start }

func (c *cpuTimer) Report(b *testing.B, pods int) {
	if c.total > 0 {
		b.ReportMetric(float64(pods)/c.total.Seconds(), "cpu-pods/s")
	}
}
