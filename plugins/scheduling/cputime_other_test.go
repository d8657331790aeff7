//go:build !linux

package scheduling

import "testing"

// cpuTimer reports nothing where the process's CPU clock is not read.
type cpuTimer struct{}

func (c *cpuTimer) Start()                 {}
func (c *cpuTimer) Stop()                  {}
func (c *cpuTimer) Report(*testing.B, int) {}
