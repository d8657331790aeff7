package cni

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nsDir keeps named network namespaces alive as bind mounts of /proc/<tid>/ns/net,
// the way `ip netns` does, but in a directory the agent owns so that agents never
// see each other's pods.
type nsDir struct {
	dir string

	// mu serialises making dir a mount point: concurrent Setups would otherwise each
	// see "not a mount point yet" and stack several bind mounts on it.
	mu     sync.Mutex
	shared bool
}

func newNSDir(dir string) *nsDir { return &nsDir{dir: dir} }

func (d *nsDir) path(podID string) string { return filepath.Join(d.dir, podID) }

// create makes a fresh network namespace bound at path(podID). An existing mount
// there is an error: the caller decides between adopting and tearing down.
func (d *nsDir) create(podID string) (string, error) {
	if err := d.ensureSharedMount(); err != nil {
		return "", err
	}
	p := d.path(podID)
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", fmt.Errorf("create netns mount point: %w", err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it ends in the new namespace, and Go then
		// discards it instead of reusing it for other goroutines.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		if err := loopbackUp(); err != nil {
			errc <- fmt.Errorf("new netns: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mount netns at %s: %w", p, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(p)
		return "", err
	}
	return p, nil
}

// loopbackUp brings lo up in the calling thread's network namespace. Doing it here,
// where the thread already is, spares ADD the loopback plugin's process.
func loopbackUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// ensureSharedMount makes the directory a shared mount point so an unmount here also
// reaches copies of it in mount namespaces created later (containers), which would
// otherwise keep a deleted pod's namespace alive.
func (d *nsDir) ensureSharedMount() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shared {
		return nil
	}
	if err := d.makeShared(); err != nil {
		return err
	}
	d.shared = true
	return nil
}

func (d *nsDir) makeShared() error {
	dir := d.dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create netns dir: %w", err)
	}
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	// EINVAL: not a mount point yet. Bind it onto itself, then share it.
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s onto itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	return nil
}

// mounted reports whether path(podID) is a live network namespace, as opposed to
// missing or an empty file left by a crash between create and mount.
func (d *nsDir) mounted(podID string) bool {
	return ns.IsNSorErr(d.path(podID)) == nil
}

// remove unmounts and deletes path(podID); both steps tolerate being already done.
func (d *nsDir) remove(podID string) error {
	p := d.path(podID)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", p, err)
	}
	return nil
}

// list returns the pod IDs that have a file in the directory, mounted or not.
func (d *nsDir) list() ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list netns dir: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if validPodID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}
