package runtime_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/node/image"
	"weft.dev/weft/node/runtime"
	"weft.dev/weft/node/runtime/runtimetest"
)

const testNamespace = "weft-test"

// env is one private containerd with the busybox image imported.
type env struct {
	t   *testing.T
	dir string
	d   *runtime.Daemon
	rt  *runtime.Runtime
	ids []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	runtimetest.Gate(t)
	e := &env{t: t, dir: t.TempDir()}
	e.d = runtimetest.StartDaemon(t, e.dir)
	e.rt = e.runtime()
	// One cleanup for all containers, through whichever daemon is current then (a
	// test may restart it), before the daemon itself goes.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, id := range e.ids {
			if err := e.rt.Delete(ctx, id); err != nil {
				t.Errorf("delete %s: %v", id, err)
			}
		}
		runtimetest.StopDaemon(t, e.d)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	if err := image.BuildBusybox(&buf, image.BusyboxRef); err != nil {
		t.Fatal(err)
	}
	if _, err := image.Import(ctx, e.d.Client(), testNamespace, &buf, image.Options{Snapshotter: e.rt.Snapshotter()}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) runtime() *runtime.Runtime {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt, err := runtime.ForDaemon(ctx, e.d, runtime.Options{Namespace: testNamespace})
	if err != nil {
		e.t.Fatal(err)
	}
	return rt
}

// run creates and starts a container, which is deleted when the test ends.
func (e *env) run(t *testing.T, spec runtime.Spec) {
	t.Helper()
	if spec.Image == "" {
		spec.Image = image.BusyboxRef
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.rt.CreateContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.rt.Delete(ctx, spec.ID); err != nil {
			t.Errorf("delete %s: %v", spec.ID, err)
		}
	})
	if err := e.rt.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
}

// stopDaemon stops the private containerd as a stopping agent does.
func (e *env) stopDaemon(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// startDaemon starts containerd again on the same data dir, as a restarted agent
// does, and gives the env a fresh Runtime on it.
func (e *env) startDaemon(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := runtime.StartContainerd(ctx, runtime.Config{DataDir: e.dir, Logger: runtimetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	e.rt = e.runtime()
}

// waitState polls until the container reaches want; polling keeps the test free of
// timing assumptions while the deadline bounds it.
func (e *env) waitState(t *testing.T, id string, want runtime.State) runtime.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		st, err := e.rt.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == want {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s stayed %s, want %s", id, st.State, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logs returns the container's log as kubectl logs would print it.
func logs(t *testing.T, path string, opts runtime.LogOptions) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := runtime.ReadLogs(ctx, path, opts, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

// waitLog polls the log until stdout contains want.
func waitLog(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := logs(t, path, runtime.LogOptions{Tail: -1})
		if strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s never contained %q; it has %q", path, want, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
