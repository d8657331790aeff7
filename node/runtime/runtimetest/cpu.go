package runtimetest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cpuacctRoot is where a cgroup v1 hierarchy with cpuacct is mounted; on a v2-only
// machine CPUMeter is not available.
const cpuacctRoot = "/sys/fs/cgroup/cpuacct"

// CPUMeter counts the CPU time of this process and of every process it starts from
// now on (containerd, shims, runc, log drivers, CNI plugins), which inherit its
// cgroup, plus that of the containers of the given containerd namespaces, which runc
// puts in cgroups of their own. Most of a container's start is spent in those other
// processes, which no rusage of ours sees.
type CPUMeter struct {
	dir  string
	back string
	nss  []string
}

// MeterCPU moves the test process into a cpuacct cgroup of its own until the test
// ends. It returns nil, and the benchmark reports no CPU figure, where there is no
// writable cgroup v1 cpuacct hierarchy.
func MeterCPU(tb testing.TB, namespaces ...string) *CPUMeter {
	tb.Helper()
	back, ok := ownCgroup()
	if !ok {
		tb.Log("no cgroup v1 cpuacct hierarchy: CPU is not measured")
		return nil
	}
	dir := filepath.Join(cpuacctRoot, fmt.Sprintf("weft-bench-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		tb.Logf("cpuacct cgroup: %v: CPU is not measured", err)
		return nil
	}
	self := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), self, 0); err != nil {
		_ = os.Remove(dir)
		tb.Logf("join cpuacct cgroup: %v: CPU is not measured", err)
		return nil
	}
	m := &CPUMeter{dir: dir, back: filepath.Join(cpuacctRoot, back), nss: namespaces}
	// Registered first, so it runs after the daemon's own cleanup has stopped
	// everything the cgroup held.
	tb.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(m.back, "cgroup.procs"), self, 0)
		if err := os.Remove(dir); err != nil {
			tb.Logf("remove %s: %v", dir, err)
		}
		for _, ns := range namespaces {
			// runc removes each container's cgroup, not the namespace's parent.
			for _, sub := range []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd", "unified"} {
				_ = os.Remove(filepath.Join("/sys/fs/cgroup", sub, ns))
			}
		}
	})
	return m
}

// Nanos is the CPU time used so far; differences between two readings are what
// counts.
func (m *CPUMeter) Nanos() int64 {
	total := readUsage(m.dir)
	for _, ns := range m.nss {
		total += readUsage(filepath.Join(cpuacctRoot, ns))
	}
	return total
}

func readUsage(dir string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// ownCgroup is this process's cpuacct cgroup, to go back to.
func ownCgroup() (string, bool) {
	if _, err := os.Stat(filepath.Join(cpuacctRoot, "cpuacct.usage")); err != nil {
		return "", false
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "cpuacct" {
				return parts[2], true
			}
		}
	}
	return "", false
}
