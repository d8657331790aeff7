package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"weft.dev/weft/kernel/kerneltest"
)

// weftCLI runs the weft binary against a server.
func (s *server) weft(args ...string) (string, error) {
	cmd := exec.Command(weftBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Installing, upgrading, rolling back and removing a plugin at runtime with the weft
// CLI, as an operator would, and watching it with kubectl.
func TestPluginCLI(t *testing.T) {
	kerneltest.Kubectl(t)
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "policy-v1.wasm"), filepath.Join(dir, "policy-v2.wasm")
	if err := os.WriteFile(v1, kerneltest.BuildPluginVersion(t, "testdata/plugins/policy", "1.0.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v2, kerneltest.BuildPluginVersion(t, "testdata/plugins/policy", "2.0.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := s.weft(args...)
		if err != nil {
			t.Fatalf("weft %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if out := run("plugin", "install", "policy", v1, "--grant-requested"); !strings.Contains(out, `plugin "policy" version 1.0.0 running`) {
		t.Fatal(out)
	}
	if out := run("plugin", "ls"); !regexpLine(out, `policy\s+1\.0\.0\s+Running\s+2\s+.*sha256:.*`) {
		t.Fatalf("ls:\n%s", out)
	}
	if out, err := s.weft("plugin", "install", "policy", v1); err == nil || !strings.Contains(out, "installed already") {
		t.Fatalf("second install: %v %s", err, out)
	}
	if out := run("plugin", "upgrade", "policy", v2); !strings.Contains(out, "version 2.0.0 running") {
		t.Fatal(out)
	}
	if out := s.kubectl("get", "plugins"); !regexpLine(out, `policy\s+2\.0\.0\s+Running\s+2\s+\d+\s+\d+\s+\d+\s+\S+`) {
		t.Fatalf("kubectl get plugins:\n%s", out)
	}
	if out := run("plugin", "rollback", "policy"); !strings.Contains(out, "version 1.0.0 running") {
		t.Fatal(out)
	}
	if out, err := s.weft("plugin", "upgrade", "policy", filepath.Join(dir, "missing.wasm")); err == nil || !strings.Contains(out, "no such file") {
		t.Fatalf("upgrade from a missing file: %v %s", err, out)
	}
	if out := run("plugin", "rm", "policy"); !strings.Contains(out, `plugin "policy" removed`) {
		t.Fatal(out)
	}
	if out := run("plugin", "ls"); regexpLine(out, `policy\s+.*`) {
		t.Fatalf("ls after rm:\n%s", out)
	}
	if out, err := s.weft("plugin", "frob"); err == nil || !strings.Contains(out, "Usage:") {
		t.Fatalf("bad subcommand: %v %s", err, out)
	}
}
