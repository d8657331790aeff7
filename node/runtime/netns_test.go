package runtime_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"weft.dev/weft/node/runtime"
)

// TestNetworkNamespace checks the three network modes a pod container can have by
// comparing namespace identities: a pod's containers join one namespace, hostNetwork
// uses the node's, and a container on its own gets a fresh one.
func TestNetworkNamespace(t *testing.T) {
	e := newEnv(t)
	sleep := []string{"sleep", "1000"}
	e.run(t, runtime.Spec{ID: "sandbox", Command: sleep})
	sandbox := e.waitState(t, "sandbox", runtime.StateRunning)
	sandboxNS := fmt.Sprintf("/proc/%d/ns/net", sandbox.Pid)

	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	podNS, err := os.Readlink(sandboxNS)
	if err != nil {
		t.Fatal(err)
	}
	if podNS == hostNS {
		t.Fatal("a container without netns settings shares the host's network namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		spec runtime.Spec
		want string
	}{
		{"joins pod netns", runtime.Spec{NetNSPath: sandboxNS}, podNS},
		{"host network", runtime.Spec{HostNetwork: true}, hostNS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.ID = strings.ReplaceAll(tc.name, " ", "-")
			spec.Command = sleep
			e.run(t, spec)
			e.waitState(t, spec.ID, runtime.StateRunning)
			var out strings.Builder
			code, err := e.rt.Exec(ctx, spec.ID, runtime.ExecOptions{Cmd: []string{"readlink", "/proc/self/ns/net"}, Stdout: &out})
			if err != nil || code != 0 {
				t.Fatalf("exec: %d %v", code, err)
			}
			if got := strings.TrimSpace(out.String()); got != tc.want {
				t.Errorf("netns %s, want %s", got, tc.want)
			}
		})
	}
}
