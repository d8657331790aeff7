package builtin

import (
	"embed"
	"errors"
	"io/fs"
	"path"
	"strings"
)

// The pattern names the directory, not the modules, so a tree where they have not
// been built yet still compiles; Modules then reports what is missing.
//
//go:embed wasm
var files embed.FS

// Names are the first-party plugins, in the order they depend on each other.
var Names = []string{"core", "apps", "defaultpolicy", "binpack"}

// ErrNotBuilt means the binary was built without running `make plugins` first.
var ErrNotBuilt = errors.New("builtin: first-party plugin modules were not built into this binary (build it with make)")

// Modules returns the embedded modules by plugin name.
func Modules() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, n := range Names {
		b, err := fs.ReadFile(files, path.Join("wasm", n+".wasm"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotBuilt
		}
		if err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, nil
}

// Has reports whether the binary carries the first-party modules.
func Has() bool {
	entries, _ := fs.ReadDir(files, "wasm")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wasm") {
			return true
		}
	}
	return false
}
