package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// maxSocketPath leaves room under the 108-byte sun_path limit for the ".ttrpc" suffix
// containerd appends for its ttrpc socket.
const maxSocketPath = 100

type daemonPaths struct {
	config, root, state, socket, pid, runcRoot, fifo string
}

func pathsFor(dataDir string) daemonPaths {
	p := daemonPaths{
		config:   filepath.Join(dataDir, "containerd.toml"),
		root:     filepath.Join(dataDir, "root"),
		state:    filepath.Join(dataDir, "state"),
		socket:   filepath.Join(dataDir, "containerd.sock"),
		pid:      filepath.Join(dataDir, "containerd.pid"),
		runcRoot: filepath.Join(dataDir, "state", "runc"),
		fifo:     filepath.Join(dataDir, "state", "fifo"),
	}
	if len(p.socket) > maxSocketPath {
		// A deep data dir (t.TempDir, long node names) would overflow sun_path. The
		// fallback is derived from the data dir so that a restarted agent finds the same
		// address, which the shims of running containers remember.
		sum := sha256.Sum256([]byte(dataDir))
		p.socket = filepath.Join("/run/weft", hex.EncodeToString(sum[:8]), "containerd.sock")
	}
	return p
}

// renderConfig writes a containerd 1.6 (config version 2) file. CRI and the
// snapshotters we never use are disabled: startup is faster and nothing can clash with
// a system containerd's CRI or ports. Debug and metrics listeners stay off. The v1
// linux runtime must stay: 1.6's tasks service refuses to load without it.
func renderConfig(p daemonPaths) string {
	disabled := []string{
		"io.containerd.grpc.v1.cri",
		"io.containerd.snapshotter.v1.aufs",
		"io.containerd.snapshotter.v1.btrfs",
		"io.containerd.snapshotter.v1.devmapper",
		"io.containerd.snapshotter.v1.zfs",
		"io.containerd.tracing.processor.v1.otlp",
		"io.containerd.internal.v1.tracing",
	}
	q := make([]string, len(disabled))
	for i, s := range disabled {
		q[i] = strconv.Quote(s)
	}
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, p.root, p.state, strings.Join(q, ", "), p.socket, p.socket+".ttrpc", filepath.Join(p.root, "opt"))
}
