package kerneltest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PortForward is a running `kubectl port-forward`.
type PortForward struct {
	// Ports maps each pod port to the local port kubectl listens on.
	Ports map[int]int

	mu  sync.Mutex
	out bytes.Buffer
}

func (p *PortForward) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output is what kubectl printed so far, both streams.
func (p *PortForward) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

var forwardingLine = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)

// StartPortForward runs `kubectl port-forward --address 127.0.0.1 ARGS...` with env
// added to its environment, and waits until it listens on ports ports; the test's
// cleanup stops it.
func StartPortForward(t testing.TB, kubectl string, env []string, ports int, args ...string) *PortForward {
	t.Helper()
	cmd := exec.Command(kubectl, append([]string{"port-forward", "--address", "127.0.0.1"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	pf := &PortForward{Ports: map[int]int{}}
	cmd.Stderr = writerFunc(pf.write)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("kubectl port-forward output:\n%s", pf.Output())
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = pf.write([]byte(sc.Text() + "\n"))
			lines <- sc.Text()
		}
	}()
	timeout := time.After(15 * time.Second)
	for len(pf.Ports) < ports {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl port-forward exited:\n%s", pf.Output())
			}
			if m := forwardingLine.FindStringSubmatch(l); m != nil {
				var local, remote int
				fmt.Sscan(m[1], &local)
				fmt.Sscan(m[2], &remote)
				pf.Ports[remote] = local
			}
		case <-timeout:
			t.Fatalf("kubectl port-forward did not listen:\n%s", pf.Output())
		}
	}
	// Keep draining stdout so kubectl never blocks on it.
	go func() {
		for range lines {
		}
	}()
	return pf
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }
