package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"weft.dev/weft/node/runtime/runtimetest"
)

func TestDaemonStartStop(t *testing.T) {
	runtimetest.Gate(t)
	for _, tc := range []struct{ name, sub string }{
		{"short data dir", ""},
		// Deeper than sun_path allows: the socket must move, not fail.
		{"long data dir", strings.Repeat("d", 120)},
	} {
		t.Run(tc.name, func(t *testing.T) { testDaemonStartStop(t, filepath.Join(t.TempDir(), tc.sub)) })
	}
}

func testDaemonStartStop(t *testing.T, dir string) {
	d := runtimetest.StartDaemon(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := d.Client().Version(ctx)
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	t.Logf("containerd %s at %s", v.Version, d.Socket())
	if len(d.Socket()) > 100 {
		t.Fatalf("socket path %q is too long for sun_path", d.Socket())
	}
	pid := d.Pid()
	if err := d.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-d.Done():
	default:
		t.Fatal("Stop returned before containerd exited")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("containerd pid %d still exists after Stop", pid)
	}
	if _, err := os.Stat(d.Socket()); err == nil {
		t.Errorf("socket %s left behind", d.Socket())
	}
}

// TestDaemonReplacesStale covers an agent that was killed: its containerd is still
// running when the next agent starts on the same data dir, and must be replaced, not
// joined or duplicated.
func TestDaemonReplacesStale(t *testing.T) {
	runtimetest.Gate(t)
	dir := t.TempDir()
	first := runtimetest.StartDaemon(t, dir)
	second := runtimetest.StartDaemon(t, dir)
	select {
	case <-first.Done():
	default:
		t.Fatal("the first containerd still runs after a second start on its data dir")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := second.Client().Version(ctx); err != nil {
		t.Fatalf("second daemon: %v", err)
	}
}
