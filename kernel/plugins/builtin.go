package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/pki"
	"weft.dev/weft/kernel/pluginhost"
)

// InstallBuiltins installs the first-party plugins embedded in the binary, by name,
// as Plugin objects granted what they ask for. It runs before Run. The record file
// remembers which module it installed for each name, so that an operator's choices
// stand: a built-in the operator removed is not installed again, and one the operator
// upgraded or rolled back to another module is left alone. One still at the module
// this function installed moves to the binary's newer module, as a binary upgrade
// should.
func (m *Manager) InstallBuiltins(ctx context.Context, builtins map[string][]byte, record string) error {
	if len(builtins) == 0 {
		return nil
	}
	ctx = objects.WithUser(ctx, objects.User{Name: "system:weft:plugin-manager", Groups: []string{"system:masters"}, Agent: "weft-plugins"})
	installed := map[string]string{}
	raw, err := os.ReadFile(record)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &installed); err != nil {
			return fmt.Errorf("plugins: %s: %w", record, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("plugins: %w", err)
	}
	e, ok := m.cfg.Objects.Registry().Snapshot().LookupKind(GVK)
	if !ok {
		return errors.New("plugins: the Plugin kind is not registered")
	}
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		digest, err := m.cfg.Modules.Put(builtins[name])
		if err != nil {
			return fmt.Errorf("plugins: built-in %s: %w", name, err)
		}
		if digest != pluginhost.Digest(builtins[name]) {
			return fmt.Errorf("plugins: built-in %s: module store returned digest %s", name, digest)
		}
		cur, err := m.cfg.Objects.Get(ctx, e, "", name, "")
		switch {
		case apierrors.IsNotFound(err):
			if _, ours := installed[name]; ours {
				m.log.Info("built-in plugin was removed by the operator; not reinstalling", "plugin", name)
				continue
			}
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": e.APIVersion(), "kind": e.Kind.Kind,
				"metadata": map[string]any{"name": name, "labels": map[string]any{"weft.dev/built-in": "true"}},
				"spec":     map[string]any{"module": digest, "grantRequested": true, "trusted": true},
			}}
			if _, err := m.cfg.Objects.Create(ctx, e, "", obj, objects.WriteOptions{FieldManager: "weft-builtin"}); err != nil {
				return fmt.Errorf("plugins: install built-in %s: %w", name, err)
			}
			m.log.Info("built-in plugin installed", "plugin", name, "module", digest)
		case err != nil:
			return fmt.Errorf("plugins: built-in %s: %w", name, err)
		default:
			module, _, _ := unstructured.NestedString(cur.Object, "spec", "module")
			if module == digest || module != installed[name] {
				continue // current, or the operator's choice
			}
			if err := unstructured.SetNestedField(cur.Object, digest, "spec", "module"); err != nil {
				return err
			}
			if _, err := m.cfg.Objects.Update(ctx, e, "", name, "", cur, objects.WriteOptions{FieldManager: "weft-builtin"}); err != nil {
				return fmt.Errorf("plugins: upgrade built-in %s: %w", name, err)
			}
			m.log.Info("built-in plugin upgraded with the binary", "plugin", name, "from", module, "to", digest)
		}
		installed[name] = digest
	}
	out, _ := json.MarshalIndent(installed, "", "  ")
	return pki.WriteFileAtomic(record, out, 0o600)
}
