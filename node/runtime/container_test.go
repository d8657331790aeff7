package runtime_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/namespaces"

	"weft.dev/weft/node/runtime"
)

func TestRunExitCodeAndLogs(t *testing.T) {
	e := newEnv(t)
	logPath := filepath.Join(e.dir, "logs", "hello.log")
	e.run(t, runtime.Spec{
		ID:      "hello",
		Command: []string{"sh", "-c"},
		Args:    []string{"echo hello; echo oops >&2; echo $GREETING; exit 3"},
		Env:     []string{"GREETING=from-env"},
		LogPath: logPath,
		Labels:  map[string]string{"weft.dev/pod": "p1"},
	})
	st := e.waitState(t, "hello", runtime.StateExited)
	if st.ExitCode != 3 {
		t.Errorf("exit code %d, want 3", st.ExitCode)
	}
	if st.StartedAt.IsZero() || st.FinishedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("started %v finished %v", st.StartedAt, st.FinishedAt)
	}
	if st.Labels["weft.dev/pod"] != "p1" || st.LogPath != logPath {
		t.Errorf("status labels %v log %q", st.Labels, st.LogPath)
	}
	// The log driver may still be flushing when the task is reported exited.
	waitLog(t, logPath, "from-env")
	out, errOut := logs(t, logPath, runtime.LogOptions{Tail: -1})
	if out != "hello\nfrom-env\n" || errOut != "oops\n" {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if _, err := runtime.ParseLogLine([]byte(line)); err != nil {
			t.Errorf("log line %q: %v", line, err)
		}
	}

	// A restart of an exited container is a fresh task on the same record.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.rt.Start(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	e.waitState(t, "hello", runtime.StateExited)
	waitLog(t, logPath, "hello\nfrom-env\nhello\nfrom-env\n")

	// Delete leaves nothing: no record, no snapshot.
	if err := e.rt.Delete(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.Status(ctx, "hello"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("status after delete: %v, want ErrNotFound", err)
	}
	nctx := namespaces.WithNamespace(ctx, testNamespace)
	if _, err := e.d.Client().SnapshotService(e.rt.Snapshotter()).Stat(nctx, "hello"); err == nil {
		t.Error("snapshot survived Delete")
	}
	if err := e.rt.Delete(ctx, "hello"); err != nil {
		t.Errorf("second delete: %v", err)
	}
}

func TestStopGrace(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		script string
		grace  time.Duration
		want   uint32
	}{
		// PID 1 only receives signals it handles, so the script traps TERM itself.
		{"honours SIGTERM", `trap "exit 42" TERM; echo ready; sleep 1000 & wait`, 20 * time.Second, 42},
		{"ignores SIGTERM, gets SIGKILL", `trap "" TERM; echo ready; while true; do sleep 1; done`, 300 * time.Millisecond, 137},
		{"zero grace kills at once", `trap "exit 42" TERM; echo ready; sleep 1000 & wait`, 0, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			logPath := filepath.Join(e.dir, "logs", id+".log")
			e.run(t, runtime.Spec{ID: id, Command: []string{"sh", "-c", tc.script}, LogPath: logPath})
			// The trap must be in place before the signal, or PID 1 would ignore it.
			waitLog(t, logPath, "ready")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := e.rt.Stop(ctx, id, tc.grace); err != nil {
				t.Fatal(err)
			}
			st, err := e.rt.Status(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != runtime.StateExited || st.ExitCode != tc.want {
				t.Errorf("after Stop: %s exit %d, want exited %d", st.State, st.ExitCode, tc.want)
			}
			if err := e.rt.Stop(ctx, id, tc.grace); err != nil {
				t.Errorf("stopping a stopped container: %v", err)
			}
		})
	}
}

func TestLimitsMountsExec(t *testing.T) {
	e := newEnv(t)
	hostDir := filepath.Join(e.dir, "volume")
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "greeting"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	const memLimit = 64 << 20
	e.run(t, runtime.Spec{
		ID:         "limited",
		Hostname:   "limited-host",
		Command:    []string{"sleep", "1000"},
		WorkingDir: "/tmp",
		Mounts:     []runtime.Mount{{Source: hostDir, Destination: "/data", ReadOnly: true}},
		Limits:     runtime.Limits{MemoryLimit: memLimit, CPUShares: 512, CPUQuota: 50000},
	})
	st := e.waitState(t, "limited", runtime.StateRunning)

	t.Run("cgroup", func(t *testing.T) {
		for _, tc := range []struct {
			controller string
			v1, v2     string
			want       string
			required   bool
		}{
			{"memory", "memory.limit_in_bytes", "memory.max", fmt.Sprint(memLimit), true},
			// cgroup v2 spells CPU limits differently (cpu.weight, cpu.max); v1 only.
			{"cpu", "cpu.shares", "", "512", false},
			{"cpu", "cpu.cfs_quota_us", "", "50000", false},
		} {
			got, ok := readCgroup(t, st.Pid, tc.controller, tc.v1, tc.v2)
			if !ok && tc.required {
				t.Errorf("no %s cgroup file for the container", tc.v1)
			}
			if !ok {
				continue
			}
			if got != tc.want {
				t.Errorf("%s: %s, want %s", tc.v1, got, tc.want)
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("exec", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			cmd      []string
			stdin    string
			tty      bool
			wantOut  string
			wantErr  string
			wantCode int
		}{
			{"echo", []string{"echo", "hi"}, "", false, "hi\n", "", 0},
			{"exit code", []string{"sh", "-c", "echo no >&2; exit 5"}, "", false, "", "no\n", 5},
			{"stdin", []string{"cat"}, "piped\n", false, "piped\n", "", 0},
			{"bind mount", []string{"cat", "/data/greeting"}, "", false, "from the host", "", 0},
			{"read-only mount", []string{"sh", "-c", "touch /data/x 2>/dev/null || echo ro"}, "", false, "ro\n", "", 0},
			{"working dir", []string{"pwd"}, "", false, "/tmp\n", "", 0},
			{"hostname", []string{"hostname"}, "", false, "limited-host\n", "", 0},
			// A terminal turns \n into \r\n, which shows the output went through one.
			{"tty", []string{"sh", "-c", "test -t 1 && echo tty"}, "", true, "tty\r\n", "", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var out, errOut strings.Builder
				opts := runtime.ExecOptions{Cmd: tc.cmd, TTY: tc.tty, Stdout: &out, Stderr: &errOut}
				if tc.stdin != "" {
					opts.Stdin = strings.NewReader(tc.stdin)
				}
				code, err := e.rt.Exec(ctx, "limited", opts)
				if err != nil {
					t.Fatal(err)
				}
				if code != tc.wantCode || out.String() != tc.wantOut || errOut.String() != tc.wantErr {
					t.Errorf("exit %d stdout %q stderr %q; want %d %q %q", code, out.String(), errOut.String(), tc.wantCode, tc.wantOut, tc.wantErr)
				}
			})
		}
	})

	if err := e.rt.Stop(ctx, "limited", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.Exec(ctx, "limited", runtime.ExecOptions{Cmd: []string{"true"}}); err == nil {
		t.Error("exec in a stopped container succeeded")
	}
}

// readCgroup reads a cgroup file of the process, v1 or v2 layout. ok is false (with
// a log line) when the controller is not mounted here, which is not the code's fault.
func readCgroup(t *testing.T, pid uint32, controller, v1, v2 string) (string, bool) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var path string
		switch {
		case parts[0] == "0" && parts[1] == "" && v2 != "":
			path = filepath.Join("/sys/fs/cgroup", parts[2], v2)
		case containsField(parts[1], controller):
			path = filepath.Join("/sys/fs/cgroup", controller, parts[2], v1)
		default:
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		return strings.TrimSpace(string(b)), true
	}
	t.Logf("no %s cgroup file for pid %d; not checked", v1, pid)
	return "", false
}

func containsField(list, name string) bool {
	for _, f := range strings.Split(list, ",") {
		if f == name {
			return true
		}
	}
	return false
}

// TestOOMKills: the cgroup's OOM kill counter answers for an exited container, and
// says zero for one that exited on its own.
func TestOOMKills(t *testing.T) {
	e := newEnv(t)
	e.run(t, runtime.Spec{
		ID: "oom", Command: []string{"sh", "-c"}, Args: []string{"dd if=/dev/zero of=/dev/null bs=64M count=1"},
		Limits: runtime.Limits{MemoryLimit: 16 << 20},
	})
	e.run(t, runtime.Spec{ID: "calm", Command: []string{"sh", "-c"}, Args: []string{"exit 137"},
		Limits: runtime.Limits{MemoryLimit: 16 << 20}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for id, want := range map[string]bool{"oom": true, "calm": false} {
		st := e.waitState(t, id, runtime.StateExited)
		n, err := e.rt.OOMKills(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if (n > 0) != want || st.ExitCode != 137 {
			t.Errorf("%s: exit %d, %d OOM kills; want killed=%v", id, st.ExitCode, n, want)
		}
	}
	if _, err := e.rt.OOMKills(ctx, "absent"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("absent container: %v", err)
	}
}
