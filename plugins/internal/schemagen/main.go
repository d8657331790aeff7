package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	kindsDir := flag.String("kinds", "", "directory that receives one <group>_<version>_<Kind>.json per kind")
	metaDir := flag.String("meta", "", "directory that receives the meta/v1 files used by kernel/schema")
	appsDir := flag.String("apps", "", "directory that receives the schemas of the kinds plugins/apps serves")
	flag.Parse()
	if *kindsDir == "" && *metaDir == "" && *appsDir == "" {
		fmt.Fprintln(os.Stderr, "schemagen: at least one of -kinds, -meta and -apps is required")
		os.Exit(2)
	}
	if err := run(*kindsDir, *metaDir, *appsDir); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

// run writes the outputs whose directory is not empty.
func run(kindsDir, metaDir, appsDir string) error {
	out, err := generate()
	if err != nil {
		return err
	}
	for _, o := range []struct {
		dir   string
		files map[string][]byte
	}{{kindsDir, out.kinds}, {metaDir, out.meta}, {appsDir, out.apps}} {
		if o.dir == "" {
			continue
		}
		if err := writeDir(o.dir, o.files); err != nil {
			return err
		}
	}
	return nil
}

// writeDir makes dir hold exactly files among its *.json entries: stale
// schemas of kinds that were dropped from the list must not linger, because
// the embedding packages serve whatever JSON they find.
func writeDir(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	existing, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, p := range existing {
		if _, keep := files[filepath.Base(p)]; !keep {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove stale %s: %w", p, err)
			}
		}
	}
	for _, name := range sortedKeys(files) {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, files[name]) {
			continue // keep mtimes stable so builds do not re-embed needlessly
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fileName is the per-kind file name the schemas package looks up; the core
// group is spelled "core" because an empty prefix would be ambiguous.
func fileName(group, version, kind string) string {
	if group == "" {
		group = "core"
	}
	return strings.Join([]string{group, version, kind}, "_") + ".json"
}
