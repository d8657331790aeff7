package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"weft.dev/weft/kernel/kerneltest"
)

// These tests run the real weft binary and drive it with the real kubectl, as a user
// would after `make run`.

var weftBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		weftBin = os.Getenv("WEFT_BIN")
		if weftBin == "" {
			dir, err := os.MkdirTemp("", "weft-bin-")
			if err != nil {
				panic(err)
			}
			defer os.RemoveAll(dir)
			weftBin = filepath.Join(dir, "weft")
			out, err := exec.Command("go", "build", "-o", weftBin, ".").CombinedOutput()
			if err != nil {
				fmt.Fprintf(os.Stderr, "build weft: %v\n%s", err, out)
				return 1
			}
		}
		return m.Run()
	}())
}

// server is a weft server process.
type server struct {
	t          *testing.T
	dir        string
	kubeconfig string
	cmd        *exec.Cmd
	log        *bytes.Buffer
}

func startServer(t *testing.T, dir string) *server {
	t.Helper()
	return startServerAt(t, dir, "127.0.0.1:0")
}

// startServerAt starts weft server with its API on apiAddr.
func startServerAt(t *testing.T, dir, apiAddr string) *server {
	t.Helper()
	kc := filepath.Join(dir, "kubeconfig")
	_ = os.Remove(kc)
	s := &server{t: t, dir: dir, kubeconfig: kc, log: &bytes.Buffer{}}
	s.cmd = exec.Command(weftBin, "server", "--data-dir", dir, "--api-addr", apiAddr, "--node-addr", "127.0.0.1:0")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(kc); err == nil {
			if out, err := s.kubectlErr("get", "--raw", "/readyz"); err == nil && out == "ok" {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready:\n%s", s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) stop(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Errorf("server ignored %v for 20s", sig)
	}
}

// kubectlErr runs kubectl and returns its stdout and stderr together.
func (s *server) kubectlErr(args ...string) (string, error) {
	out, err := s.run(args...)
	return strings.TrimSpace(out.String()), err
}

func (s *server) run(args ...string) (*bytes.Buffer, error) {
	cmd := exec.Command(kerneltest.Kubectl(s.t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig, "HOME="+s.dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return &out, cmd.Run()
}

// kubectl runs kubectl, fails the test if it fails, and returns its stdout.
func (s *server) kubectl(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(kerneltest.Kubectl(s.t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig, "HOME="+s.dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String())
}

func manifest(name string) string {
	return filepath.Join("..", "..", "testdata", "manifests", name)
}

func TestKubectl(t *testing.T) {
	kerneltest.Kubectl(t)
	s := startServer(t, t.TempDir())

	t.Run("apply is idempotent and applies changes", func(t *testing.T) {
		if out := s.kubectl("apply", "-f", manifest("namespace.yaml")); !strings.Contains(out, "namespace/shop created") {
			t.Fatal(out)
		}
		out := s.kubectl("apply", "-f", manifest("app-config.yaml"))
		if !strings.Contains(out, "configmap/app-config created") || !strings.Contains(out, "secret/app-secret created") {
			t.Fatal(out)
		}
		rv := s.kubectl("-n", "shop", "get", "cm", "app-config", "-o", "jsonpath={.metadata.resourceVersion}")
		secretRV := s.kubectl("-n", "shop", "get", "secret", "app-secret", "-o", "jsonpath={.metadata.resourceVersion}")
		out = s.kubectl("apply", "-f", manifest("app-config.yaml"))
		// kubectl always sends a Secret's write-only stringData, so it says
		// "configured" for it, as against Kubernetes; the server sees no change.
		if !strings.Contains(out, "configmap/app-config unchanged") {
			t.Fatal(out)
		}
		if again := s.kubectl("-n", "shop", "get", "cm", "app-config", "-o", "jsonpath={.metadata.resourceVersion}"); again != rv {
			t.Fatalf("unchanged apply wrote: resourceVersion %s -> %s", rv, again)
		}
		if again := s.kubectl("-n", "shop", "get", "secret", "app-secret", "-o", "jsonpath={.metadata.resourceVersion}"); again != secretRV {
			t.Fatalf("unchanged apply wrote the secret: resourceVersion %s -> %s", secretRV, again)
		}
		if out := s.kubectl("apply", "-f", manifest("app-config-v2.yaml")); !strings.Contains(out, "configmap/app-config configured") {
			t.Fatal(out)
		}
		if g := s.kubectl("-n", "shop", "get", "cm", "app-config", "-o", "jsonpath={.data.greeting}"); g != "bonjour" {
			t.Fatalf("greeting %q after the changed manifest", g)
		}
		if out := s.kubectl("apply", "--server-side", "-f", manifest("app-config-v2.yaml")); !strings.Contains(out, "serverside-applied") {
			t.Fatal(out)
		}
		if pw := s.kubectl("-n", "shop", "get", "secret", "app-secret", "-o", "jsonpath={.data.password}"); pw != "czNjcjN0" {
			t.Fatalf("secret data %q", pw)
		}
	})

	t.Run("create, get, list and label selectors", func(t *testing.T) {
		s.kubectl("-n", "shop", "create", "configmap", "extra", "--from-literal=a=1")
		s.kubectl("-n", "shop", "label", "configmap", "extra", "tier=db")
		s.kubectl("-n", "shop", "create", "secret", "generic", "token", "--from-literal=t=x")
		if out := s.kubectl("-n", "shop", "get", "cm", "-l", "tier=web", "-o", "name"); out != "configmap/app-config" {
			t.Fatalf("tier=web: %q", out)
		}
		if out := s.kubectl("-n", "shop", "get", "cm", "-l", "tier", "-o", "name"); out != "configmap/app-config\nconfigmap/extra" {
			t.Fatalf("tier exists: %q", out)
		}
		if out := s.kubectl("-n", "shop", "get", "cm,secrets", "-l", "app=shop", "-o", "name"); out != "configmap/app-config\nsecret/app-secret" {
			t.Fatalf("app=shop: %q", out)
		}
		table := s.kubectl("-n", "shop", "get", "secrets")
		if !strings.Contains(table, "NAME") || !strings.Contains(table, "TYPE") || !regexpLine(table, `token\s+Opaque\s+1\s+\d+s`) {
			t.Fatalf("secret table:\n%s", table)
		}
		if out := s.kubectl("get", "configmaps", "-A", "--field-selector", "metadata.name=extra", "-o", "name"); out != "configmap/extra" {
			t.Fatalf("field selector: %q", out)
		}
		if out := s.kubectl("get", "ns", "shop", "-o", "jsonpath={.status.phase}"); out != "Active" {
			t.Fatalf("namespace phase %q", out)
		}
	})

	t.Run("get -o yaml round trips", func(t *testing.T) {
		// extra was created, not applied: replace would rewrite an applied object's
		// last-applied annotation, as it does against Kubernetes.
		y := s.kubectl("-n", "shop", "get", "cm", "extra", "-o", "yaml")
		f := filepath.Join(t.TempDir(), "cm.yaml")
		if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := s.kubectl("replace", "-f", f); !strings.Contains(out, "replaced") {
			t.Fatal(out)
		}
		y2 := s.kubectl("-n", "shop", "get", "cm", "extra", "-o", "yaml")
		strip := func(s string) string {
			var keep []string
			for _, l := range strings.Split(s, "\n") {
				if !strings.Contains(l, "resourceVersion:") {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		}
		if strip(y) != strip(y2) {
			t.Fatalf("round trip changed the object:\n%s\n---\n%s", y, y2)
		}
		// Replacing with a copy made stale by a later write conflicts.
		s.kubectl("-n", "shop", "label", "cm", "extra", "later=write")
		if out, err := s.kubectlErr("replace", "-f", f); err == nil || !strings.Contains(out, "the object has been modified") {
			t.Fatalf("stale replace: %v %s", err, out)
		}
	})

	t.Run("invalid name is refused with 422", func(t *testing.T) {
		out, err := s.kubectlErr("-n", "shop", "create", "configmap", "Bad_Name")
		if err == nil || !strings.Contains(out, `"Bad_Name" is invalid`) || !strings.Contains(out, "RFC 1123") {
			t.Fatalf("%v %s", err, out)
		}
		out, err = s.kubectlErr("-n", "shop", "get", "--raw", "/api/v1/namespaces/shop/configmaps/Bad_Name")
		if err == nil {
			t.Fatal(out)
		}
	})

	t.Run("strict field validation", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "bad.yaml")
		_ = os.WriteFile(f, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\n  namespace: shop\ndata:\n  a: b\nbogus: 1\n"), 0o644)
		if out, err := s.kubectlErr("apply", "-f", f); err == nil || !strings.Contains(out, `unknown field "bogus"`) {
			t.Fatalf("strict: %v %s", err, out)
		}
		if out, err := s.kubectlErr("apply", "--validate=warn", "-f", f); err != nil || !strings.Contains(out, `unknown field "bogus"`) || !strings.Contains(out, "created") {
			t.Fatalf("warn: %s", out)
		}
	})

	t.Run("get -w receives events", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kerneltest.Kubectl(t), "-n", "shop", "get", "cm", "-w", "--output-watch-events", "-o", "custom-columns=EVENT:.type,NAME:.object.metadata.name,V:.object.data.v")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig, "HOME="+s.dir)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- strings.Join(strings.Fields(sc.Text()), " ")
			}
			close(lines)
		}()
		expect := func(want string) {
			t.Helper()
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("watch ended before %q", want)
					}
					if l == want {
						return
					}
				case <-ctx.Done():
					t.Fatalf("no %q from kubectl get -w", want)
				}
			}
		}
		expect("ADDED app-config <none>")
		s.kubectl("-n", "shop", "create", "configmap", "watched", "--from-literal=v=1")
		expect("ADDED watched 1")
		s.kubectl("-n", "shop", "patch", "configmap", "watched", "-p", `{"data":{"v":"2"}}`)
		expect("MODIFIED watched 2")
		s.kubectl("-n", "shop", "delete", "configmap", "watched")
		expect("DELETED watched 2")
	})

	t.Run("delete ns removes the contents", func(t *testing.T) {
		if out := s.kubectl("delete", "ns", "shop", "--wait=true", "--timeout=60s"); !strings.Contains(out, `namespace "shop" deleted`) {
			t.Fatal(out)
		}
		if out, err := s.kubectlErr("get", "ns", "shop"); err == nil || !strings.Contains(out, "NotFound") {
			t.Fatalf("namespace still there: %s", out)
		}
		if out := s.kubectl("get", "cm,secrets", "-A", "-o", "name"); strings.Contains(out, "app-config") || strings.Contains(out, "token") {
			t.Fatalf("contents survived: %s", out)
		}
	})

	t.Run("explain and api-resources", func(t *testing.T) {
		if out := s.kubectl("explain", "configmap.data"); !strings.Contains(out, "configuration data") {
			t.Fatal(out)
		}
		out := s.kubectl("api-resources")
		if !regexpLine(out, `configmaps\s+cm\s+v1\s+true\s+ConfigMap`) || !regexpLine(out, `namespaces\s+ns\s+v1\s+false\s+Namespace`) {
			t.Fatal(out)
		}
	})
}

func TestSurvivesSIGKILL(t *testing.T) {
	kerneltest.Kubectl(t)
	dir := t.TempDir()
	s := startServer(t, dir)
	s.kubectl("create", "namespace", "durable")
	for i := range 20 {
		s.kubectl("-n", "durable", "create", "configmap", fmt.Sprintf("cm-%02d", i), fmt.Sprintf("--from-literal=i=%d", i))
	}
	s.kubectl("-n", "durable", "create", "secret", "generic", "pw", "--from-literal=p=kept")
	before := s.kubectl("get", "cm,secret", "-n", "durable", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion}/{.metadata.uid} {end}")
	s.stop(syscall.SIGKILL)

	s2 := startServer(t, dir)
	after := s2.kubectl("get", "cm,secret", "-n", "durable", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion}/{.metadata.uid} {end}")
	if before != after {
		t.Fatalf("state changed across SIGKILL:\nbefore %s\nafter  %s", before, after)
	}
	if p := s2.kubectl("-n", "durable", "get", "secret", "pw", "-o", "jsonpath={.data.p}"); p != "a2VwdA==" {
		t.Fatalf("secret after restart: %q", p)
	}
	s2.kubectl("-n", "durable", "create", "configmap", "after-restart")
}

func TestCLIErrors(t *testing.T) {
	run := func(args ...string) (string, int) {
		cmd := exec.Command(weftBin, args...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	if out, code := run("server", "--no-such-flag"); code != 2 || !strings.Contains(out, "flag provided but not defined: -no-such-flag") {
		t.Fatalf("bad flag: %d %s", code, out)
	}
	if out, code := run("frobnicate"); code != 2 || !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Fatalf("bad command: %d %s", code, out)
	}
	ro := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(ro, nil, 0o644)
	if out, code := run("server", "--data-dir", filepath.Join(ro, "sub"), "--api-addr", "127.0.0.1:0"); code != 1 || !strings.Contains(out, "data dir is not usable") {
		t.Fatalf("unusable data dir: %d %s", code, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if out, code := run("server", "--data-dir", t.TempDir(), "--api-addr", ln.Addr().String()); code != 1 || !strings.Contains(out, "already in use") {
		t.Fatalf("port in use: %d %s", code, out)
	}
	if out, code := run("version"); code != 0 || !strings.HasPrefix(out, "weft ") {
		t.Fatalf("version: %d %s", code, out)
	}
}
