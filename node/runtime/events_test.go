package runtime_test

import (
	"context"
	"testing"
	"time"

	"weft.dev/weft/node/runtime"
)

func TestExits(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exits, errs, err := e.rt.Exits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, runtime.Spec{ID: "crasher", Command: []string{"sh", "-c", "exit 7"}})
	for {
		select {
		case x := <-exits:
			if x.ID != "crasher" {
				t.Fatalf("exit of %q, want crasher", x.ID)
			}
			if x.ExitCode != 7 || x.ExitedAt.IsZero() {
				t.Errorf("exit %+v, want code 7 and a time", x)
			}
			return
		case err := <-errs:
			t.Fatalf("events: %v", err)
		case <-ctx.Done():
			t.Fatal("no exit event")
		}
	}
}
