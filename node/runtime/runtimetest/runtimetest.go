// Package runtimetest holds helpers shared by the runtime and image tests: the gate
// that decides whether an end-to-end test may run here, and a private containerd that
// is torn down with the test.
package runtimetest

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"weft.dev/weft/node/runtime"
)

// RequireEnv, set to "require", turns every skip of Gate into a failure so that CI
// cannot pass by skipping.
const RequireEnv = "WEFT_E2E"

// Gate skips the test when this machine cannot run containers: not root, or
// containerd, runc or busybox-static missing. With WEFT_E2E=require it fails instead.
func Gate(t testing.TB) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "needs root"
	case !executable(runtime.DefaultContainerdBinary):
		why = "needs " + runtime.DefaultContainerdBinary + " (apt-get install containerd)"
	case !executable(runtime.DefaultRuncBinary):
		why = "needs " + runtime.DefaultRuncBinary + " (apt-get install runc)"
	case !onPath("containerd-shim-runc-v2"):
		why = "needs containerd-shim-runc-v2 (apt-get install containerd)"
	case !executable("/bin/busybox"):
		why = "needs /bin/busybox (apt-get install busybox-static)"
	}
	if why == "" {
		return
	}
	if os.Getenv(RequireEnv) == "require" {
		t.Fatalf("end-to-end test cannot run (%s) and %s=require", why, RequireEnv)
	}
	t.Skipf("skipping end-to-end test: %s (set %s=require to fail instead)", why, RequireEnv)
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&0o111 != 0
}

func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// StartDaemon starts a private containerd in dir (t.TempDir() when empty) and stops it
// when the test ends, even if the test fails.
func StartDaemon(t testing.TB, dir string) *runtime.Daemon {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := runtime.StartContainerd(ctx, runtime.Config{DataDir: dir, Logger: Logger(t)})
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() { StopDaemon(t, d) })
	return d
}

// StopDaemon stops d within a bounded time; stopping twice is harmless.
func StopDaemon(t testing.TB, d *runtime.Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Errorf("stop containerd: %v", err)
	}
}

// Logger sends warnings and errors from containerd to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
