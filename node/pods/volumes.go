package pods

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"weft.dev/weft/node/runtime"
)

// file is one entry of an atomically written volume.
type file struct {
	data []byte
	mode os.FileMode
}

// syncVolumes prepares every volume of the pod and brings configMap, secret,
// downwardAPI and projected volumes up to date.
func (w *podWorker) syncVolumes(pod *corev1.Pod) error {
	var errs []error
	for _, v := range pod.Spec.Volumes {
		path, err := w.syncVolume(pod, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", v.Name, err))
			continue
		}
		w.volumes[v.Name] = path
	}
	return errors.Join(errs...)
}

func (w *podWorker) volDir(kind, name string) string {
	return filepath.Join(w.dir, "volumes", kind, name)
}

func (w *podWorker) syncVolume(pod *corev1.Pod, v corev1.Volume) (string, error) {
	objs := w.m.cfg.Objects
	switch {
	case v.EmptyDir != nil:
		dir := w.volDir("empty-dir", v.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return "", err
		}
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			opts := "mode=1777"
			if l := v.EmptyDir.SizeLimit; l != nil && l.Value() > 0 {
				opts += ",size=" + strconv.FormatInt(l.Value(), 10)
			}
			if err := ensureTmpfs(dir, opts); err != nil {
				return "", err
			}
		}
		_ = os.Chmod(dir, 0o777)
		return dir, nil
	case v.HostPath != nil:
		return v.HostPath.Path, checkHostPath(v.HostPath)
	case v.ConfigMap != nil:
		dir := w.volDir("configmap", v.Name)
		files, err := configMapFiles(objs, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
		if err != nil {
			return "", err
		}
		return dir, w.writeVolume(v.Name, dir, files, false)
	case v.Secret != nil:
		dir := w.volDir("secret", v.Name)
		files, err := secretFiles(objs, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
		if err != nil {
			return "", err
		}
		return dir, w.writeVolume(v.Name, dir, files, true)
	case v.DownwardAPI != nil:
		dir := w.volDir("downward-api", v.Name)
		files, err := w.downwardFiles(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		if err != nil {
			return "", err
		}
		return dir, w.writeVolume(v.Name, dir, files, false)
	case v.Projected != nil:
		dir := w.volDir("projected", v.Name)
		files := map[string]file{}
		secret := false
		for _, s := range v.Projected.Sources {
			var part map[string]file
			var err error
			switch {
			case s.ConfigMap != nil:
				part, err = configMapFiles(objs, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, v.Projected.DefaultMode, s.ConfigMap.Optional)
			case s.Secret != nil:
				secret = true
				part, err = secretFiles(objs, pod.Namespace, s.Secret.Name, s.Secret.Items, v.Projected.DefaultMode, s.Secret.Optional)
			case s.DownwardAPI != nil:
				part, err = w.downwardFiles(pod, s.DownwardAPI.Items, v.Projected.DefaultMode)
			case s.ServiceAccountToken != nil:
				// No token issuer on the node yet: the file exists, empty.
				part = map[string]file{s.ServiceAccountToken.Path: {mode: modeOf(v.Projected.DefaultMode, nil, 0o644)}}
			}
			if err != nil {
				return "", err
			}
			for k, f := range part {
				files[k] = f
			}
		}
		return dir, w.writeVolume(v.Name, dir, files, secret)
	}
	return "", fmt.Errorf("volume type not supported on this node")
}

func checkHostPath(h *corev1.HostPathVolumeSource) error {
	p := h.Path
	if !filepath.IsAbs(p) {
		return fmt.Errorf("hostPath %q is not absolute", p)
	}
	t := corev1.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	st, err := os.Stat(p)
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if errors.Is(err, os.ErrNotExist) {
			return os.MkdirAll(p, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if errors.Is(err, os.ErrNotExist) {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("hostPath type check failed: %s: %w", p, err)
	}
	ok := true
	switch t {
	case corev1.HostPathDirectory, corev1.HostPathDirectoryOrCreate:
		ok = st.IsDir()
	case corev1.HostPathFile, corev1.HostPathFileOrCreate:
		ok = st.Mode().IsRegular()
	case corev1.HostPathSocket:
		ok = st.Mode()&os.ModeSocket != 0
	case corev1.HostPathCharDev:
		ok = st.Mode()&os.ModeCharDevice != 0
	case corev1.HostPathBlockDev:
		ok = st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0
	}
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", p, t)
	}
	return nil
}

func modeOf(def *int32, item *int32, fallback os.FileMode) os.FileMode {
	switch {
	case item != nil:
		return os.FileMode(*item) & 0o777
	case def != nil:
		return os.FileMode(*def) & 0o777
	}
	return fallback
}

func keyFiles(kind, ns, name string, data map[string][]byte, items []corev1.KeyToPath, def *int32, optional bool) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = file{data: v, mode: modeOf(def, nil, 0o644)}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configured to use key %s of %s %s/%s, which does not exist", it.Key, kind, ns, name)
		}
		out[it.Path] = file{data: v, mode: modeOf(def, it.Mode, 0o644)}
	}
	return out, nil
}

func configMapFiles(objs objectSource, ns, name string, items []corev1.KeyToPath, def *int32, optional *bool) (map[string]file, error) {
	opt := optional != nil && *optional
	var cm *corev1.ConfigMap
	ok := false
	if objs != nil {
		cm, ok = objs.ConfigMap(ns, name)
	}
	if !ok {
		if opt {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("ConfigMap", ns, name, data, items, def, opt)
}

func secretFiles(objs objectSource, ns, name string, items []corev1.KeyToPath, def *int32, optional *bool) (map[string]file, error) {
	opt := optional != nil && *optional
	var s *corev1.Secret
	ok := false
	if objs != nil {
		s, ok = objs.Secret(ns, name)
	}
	if !ok {
		if opt {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return keyFiles("Secret", ns, name, data, items, def, opt)
}

func (w *podWorker) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def *int32) (map[string]file, error) {
	out := map[string]file{}
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil:
			val, err = w.fieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			val, err = w.resourceValue(pod, "", it.ResourceFieldRef)
		}
		if err != nil {
			return nil, err
		}
		out[it.Path] = file{data: []byte(val), mode: modeOf(def, it.Mode, 0o644)}
	}
	return out, nil
}

type objectSource interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, bool)
	Secret(namespace, name string) (*corev1.Secret, bool)
}

func payloadHash(files map[string]file) string {
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", k, files[k].mode, len(files[k].data))
		h.Write(files[k].data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeVolume writes files into dir with the atomic writer unless they are what
// was written last.
func (w *podWorker) writeVolume(name, dir string, files map[string]file, secret bool) error {
	hash := payloadHash(files)
	if w.volHash[name] == hash {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if secret {
		// Secrets never touch the node's disk, as with kubelet.
		if err := ensureTmpfs(dir, "mode=0755"); err != nil {
			return err
		}
	}
	if err := atomicWrite(dir, files); err != nil {
		return err
	}
	w.volHash[name] = hash
	return nil
}

const dataDirName = "..data"

// atomicWrite is kubelet's AtomicWriter: the payload goes to a fresh "..<timestamp>"
// directory, "..data" is switched to it with one rename, the user-visible names are
// symlinks through "..data", and the old directory is removed.
func atomicWrite(dir string, files map[string]file) error {
	for p := range files {
		if !validPayloadPath(p) {
			return fmt.Errorf("invalid path %q in volume payload", p)
		}
	}
	oldTarget, _ := os.Readlink(filepath.Join(dir, dataDirName))
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.mode); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(tsDir), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataDirName)); err != nil {
		return err
	}
	// User-visible names: one symlink per top-level component.
	want := map[string]bool{}
	for p := range files {
		top, _, _ := strings.Cut(p, "/")
		want[top] = true
	}
	for top := range want {
		link := filepath.Join(dir, top)
		target := filepath.Join(dataDirName, top)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "..") || want[n] {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
	if oldTarget != "" && oldTarget != filepath.Base(tsDir) && strings.HasPrefix(oldTarget, "..") {
		_ = os.RemoveAll(filepath.Join(dir, oldTarget))
	}
	return nil
}

func validPayloadPath(p string) bool {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "..") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "" {
			return false
		}
	}
	return true
}

// containerMounts builds the bind mounts of one container instance.
func (w *podWorker) containerMounts(pod *corev1.Pod, spec *corev1.Container, inst int, env map[string]string) ([]runtime.Mount, error) {
	var out []runtime.Mount
	dests := map[string]bool{}
	for _, vm := range spec.VolumeMounts {
		src, ok := w.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q of mount %q not found", vm.Name, vm.MountPath)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr, env)
		}
		if sub != "" {
			if filepath.IsAbs(sub) || !validPayloadPath(filepath.Clean(sub)) && filepath.Clean(sub) != "." {
				return nil, fmt.Errorf("subPath %q must be a relative path inside the volume", sub)
			}
			p := filepath.Join(src, sub)
			if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(p, 0o755); err != nil {
					return nil, fmt.Errorf("create subPath %q: %w", sub, err)
				}
			}
			// Resolve symlinks (configMap keys are symlinks through ..data) and make
			// sure they stay inside the volume.
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil, fmt.Errorf("subPath %q: %w", sub, err)
			}
			root, err := filepath.EvalSymlinks(src)
			if err != nil {
				return nil, fmt.Errorf("volume %q: %w", vm.Name, err)
			}
			if real != root && !strings.HasPrefix(real, root+"/") {
				return nil, fmt.Errorf("subPath %q leaves its volume", sub)
			}
			src = real
		}
		dest := vm.MountPath
		if !filepath.IsAbs(dest) {
			dest = "/" + dest
		}
		dests[filepath.Clean(dest)] = true
		out = append(out, runtime.Mount{Source: src, Destination: dest, ReadOnly: vm.ReadOnly})
	}
	managed := []struct{ src, dest string }{
		{filepath.Join(w.dir, "etc-hosts"), "/etc/hosts"},
		{filepath.Join(w.dir, "resolv.conf"), "/etc/resolv.conf"},
		{filepath.Join(w.dir, "hostname"), "/etc/hostname"},
	}
	{
		tp := spec.TerminationMessagePath
		if tp == "" {
			tp = corev1.TerminationMessagePathDefault
		}
		p := w.termPath(spec.Name, inst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return nil, err
		}
		managed = append(managed, struct{ src, dest string }{p, tp})
	}
	for _, m := range managed {
		if dests[m.dest] {
			continue
		}
		out = append(out, runtime.Mount{Source: m.src, Destination: m.dest})
	}
	return out, nil
}

// ensureTmpfs mounts a tmpfs on dir unless one is there already.
func ensureTmpfs(dir, opts string) error {
	mounted, err := isMountPoint(dir)
	if err != nil {
		return err
	}
	if mounted {
		return nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMountPoint(dir string) (bool, error) {
	mps, err := mountsUnder(dir)
	if err != nil {
		return false, err
	}
	for _, mp := range mps {
		if mp == dir {
			return true, nil
		}
	}
	return false, nil
}

// removePodDir unmounts whatever is mounted below dir, then removes it. It never
// removes across a mount that would not go: that could delete a host's files.
func removePodDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, mp := range mps {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", mp, err)
		}
	}
	if left, err := mountsUnder(dir); err != nil || len(left) > 0 {
		return fmt.Errorf("mounts left under %s: %v %v", dir, left, err)
	}
	return os.RemoveAll(dir)
}
