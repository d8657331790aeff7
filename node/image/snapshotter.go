package image

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/plugin"
)

// Snapshotters the node uses, best first. overlayfs needs kernel support and a
// backing filesystem that allows it (not overlay-on-overlay in some sandboxes); native
// copies layers and works everywhere.
const (
	Overlayfs = "overlayfs"
	Native    = "native"
)

// Snapshotter picks overlayfs when the daemon loaded it, native otherwise. containerd
// itself tests overlay support when it loads the plugin, so its introspection answer
// is the one that counts.
func Snapshotter(ctx context.Context, client *containerd.Client) (string, error) {
	resp, err := client.IntrospectionService().Plugins(ctx, []string{"type==" + string(plugin.SnapshotPlugin)})
	if err != nil {
		return "", fmt.Errorf("list snapshotters: %w", err)
	}
	ok := map[string]bool{}
	for _, p := range resp.Plugins {
		if p.InitErr == nil {
			ok[p.ID] = true
		}
	}
	for _, s := range []string{Overlayfs, Native} {
		if ok[s] {
			return s, nil
		}
	}
	return "", fmt.Errorf("no usable snapshotter (need %s or %s)", Overlayfs, Native)
}
