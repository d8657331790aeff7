package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModuleStore(t *testing.T) {
	dir := t.TempDir()
	m, err := NewModuleStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Put([]byte("\x00asm module bytes"))
	if err != nil || !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("put: %q %v", d, err)
	}
	if d2, _ := m.Put([]byte("\x00asm module bytes")); d2 != d {
		t.Fatal("same bytes, different digest")
	}
	if got, err := m.Get(d); err != nil || string(got) != "\x00asm module bytes" {
		t.Fatalf("get: %q %v", got, err)
	}
	if _, err := m.Get("sha256:" + strings.Repeat("0", 64)); !errors.Is(err, ErrModuleNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := m.Get("../../etc/passwd"); !errors.Is(err, ErrModuleNotFound) {
		t.Fatalf("not a digest: %v", err)
	}
	// Bytes changed on disk are refused, not run.
	if err := os.WriteFile(filepath.Join(dir, strings.TrimPrefix(d, "sha256:")+".wasm"), []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(d); !errors.Is(err, ErrModuleCorrupt) {
		t.Fatalf("tampered: %v", err)
	}
}
