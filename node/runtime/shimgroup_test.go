package runtime_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"weft.dev/weft/node/runtime"
)

// TestShimGroup: containers of one group share a shim, which outlives the container
// it was started for (its bundle is the shim's working directory), serves the others
// across a containerd restart, takes new members, and goes with the last of them.
func TestShimGroup(t *testing.T) {
	e := newEnv(t)
	sleep := func(id, group string) {
		e.run(t, runtime.Spec{ID: id, Command: []string{"sleep", "1000"}, ShimGroup: group})
	}
	sleep("g1", "g")
	sleep("g2", "g")
	sleep("solo", "")
	if n := shims(t, e.d.Socket()); n != 2 {
		t.Fatalf("%d shims for a group of two and one alone, want 2", n)
	}
	g2 := e.waitState(t, "g2", runtime.StateRunning)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.rt.Delete(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	e.stopDaemon(t)
	e.startDaemon(t)
	if st := e.waitState(t, "g2", runtime.StateRunning); st.Pid != g2.Pid {
		t.Fatalf("g2 is pid %d after the restart, was %d", st.Pid, g2.Pid)
	}
	var out strings.Builder
	if code, err := e.rt.Exec(ctx, "g2", runtime.ExecOptions{Cmd: []string{"echo", "grouped"}, Stdout: &out}); err != nil || code != 0 || out.String() != "grouped\n" {
		t.Errorf("exec in g2: %d %q %v", code, out.String(), err)
	}
	sleep("g3", "g")
	if n := shims(t, e.d.Socket()); n != 2 {
		t.Errorf("%d shims after g3 joined its group, want 2", n)
	}
	if err := e.rt.Stop(ctx, "g2", 0); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(g2.Pid), 0); err == nil {
		t.Errorf("g2's process %d still there after Stop", g2.Pid)
	}
	e.waitState(t, "g3", runtime.StateRunning)
	for _, id := range []string{"g2", "g3"} {
		if err := e.rt.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for n := shims(t, e.d.Socket()); n != 1; n = shims(t, e.d.Socket()) {
		if ctx.Err() != nil {
			t.Fatalf("%d shims once the group is gone, want 1", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An empty group starts a shim again.
	sleep("g4", "g")
	e.waitState(t, "g4", runtime.StateRunning)
	if n := shims(t, e.d.Socket()); n != 2 {
		t.Errorf("%d shims after the group came back, want 2", n)
	}
}

func shims(t *testing.T, socket string) int {
	n, _ := countShims(t, socket)
	return n
}
