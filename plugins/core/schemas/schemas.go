package schemas

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// ErrUnknownKind is returned (wrapped) by Load for a kind without a schema.
var ErrUnknownKind = errors.New("schemas: no schema for kind")

// files is the generated JSON; embedded bytes are the only package state.
//
//go:embed *.json
var files embed.FS

// fileName mirrors the generator's naming; the core group is "core".
func fileName(group, version, kind string) string {
	if group == "" {
		group = "core"
	}
	return group + "_" + version + "_" + kind + ".json"
}

// Load returns a fresh copy of the schema of group/version kind (group ""
// for the core group), ready for kernel/schema.Compile.
func Load(group, version, kind string) (*spec.Schema, error) {
	data, err := files.ReadFile(fileName(group, version, kind))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKind, schema.GroupVersionKind{Group: group, Version: version, Kind: kind})
	}
	if err != nil {
		return nil, fmt.Errorf("schemas: read %s/%s %s: %w", group, version, kind, err)
	}
	s := &spec.Schema{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("schemas: decode %s/%s %s: %w", group, version, kind, err)
	}
	return s, nil
}

// Kinds lists the kinds Load serves, sorted by group, version and kind.
func Kinds() []schema.GroupVersionKind {
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil // an embed.FS root always reads
	}
	var out []schema.GroupVersionKind
	for _, e := range entries {
		parts := strings.Split(strings.TrimSuffix(e.Name(), ".json"), "_")
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "core" {
			parts[0] = ""
		}
		out = append(out, schema.GroupVersionKind{Group: parts[0], Version: parts[1], Kind: parts[2]})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Kind < b.Kind
	})
	return out
}
