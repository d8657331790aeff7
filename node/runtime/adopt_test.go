package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"weft.dev/weft/node/runtime"
)

// TestAdoptAfterDaemonRestart is the agent-restart promise: a container started
// before containerd stops keeps running and logging while it is down, and the new
// daemon hands it back, same process, through List.
func TestAdoptAfterDaemonRestart(t *testing.T) {
	e := newEnv(t)
	logPath := filepath.Join(e.dir, "logs", "survivor.log")
	e.run(t, runtime.Spec{
		ID:      "survivor",
		Command: []string{"sh", "-c", `i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done`},
		LogPath: logPath,
		Labels:  map[string]string{"weft.dev/pod": "adopt"},
	})
	before := e.waitState(t, "survivor", runtime.StateRunning)
	waitLog(t, logPath, "tick 1\n")

	e.stopDaemon(t)
	if err := syscall.Kill(int(before.Pid), 0); err != nil {
		t.Fatalf("container pid %d died with containerd: %v", before.Pid, err)
	}
	// The log driver belongs to the shim, so output keeps landing with no containerd.
	size := fileSize(t, logPath)
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, logPath) == size {
		if time.Now().After(deadline) {
			t.Fatal("log stopped growing while containerd was down")
		}
		time.Sleep(20 * time.Millisecond)
	}

	e.startDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		selector map[string]string
		want     int
	}{
		{map[string]string{"weft.dev/pod": "adopt"}, 1},
		{map[string]string{"weft.dev/pod": "other"}, 0},
		{nil, 1},
	} {
		got, err := e.rt.List(ctx, tc.selector)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Fatalf("List(%v) = %d containers, want %d", tc.selector, len(got), tc.want)
		}
		if tc.want == 1 {
			if s := got[0]; s.ID != "survivor" || s.State != runtime.StateRunning || s.Pid != before.Pid || s.LogPath != logPath {
				t.Errorf("adopted %+v, want running survivor with pid %d", s, before.Pid)
			}
		}
	}
	var out strings.Builder
	if code, err := e.rt.Exec(ctx, "survivor", runtime.ExecOptions{Cmd: []string{"echo", "adopted"}, Stdout: &out}); err != nil || code != 0 || out.String() != "adopted\n" {
		t.Errorf("exec after restart: %d %q %v", code, out.String(), err)
	}
	if err := e.rt.Stop(ctx, "survivor", 0); err != nil {
		t.Fatal(err)
	}
	if st, err := e.rt.Status(ctx, "survivor"); err != nil || st.State != runtime.StateExited {
		t.Errorf("after stop: %+v %v", st, err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
