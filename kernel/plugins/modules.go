package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"weft.dev/weft/kernel/pki"
	"weft.dev/weft/kernel/pluginhost"
)

var (
	// ErrModuleNotFound reports a digest the module store does not hold.
	ErrModuleNotFound = errors.New("plugins: module not found")
	// ErrModuleCorrupt reports stored bytes that no longer match their digest.
	ErrModuleCorrupt = errors.New("plugins: stored module does not match its digest")
)

// ModuleStore keeps plugin modules content-addressed: each is stored under its sha256
// and checked against it every time it is read.
type ModuleStore struct{ dir string }

// NewModuleStore opens the store in dir, creating it.
func NewModuleStore(dir string) (*ModuleStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("module store: %w", err)
	}
	return &ModuleStore{dir: dir}, nil
}

func (m *ModuleStore) path(digest string) (string, error) {
	hexsum, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexsum) != 64 || strings.Trim(hexsum, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%w: %q is not a sha256 digest", ErrModuleNotFound, digest)
	}
	return filepath.Join(m.dir, hexsum+".wasm"), nil
}

// Put stores a module and returns its digest. Storing the same bytes twice is a no-op.
func (m *ModuleStore) Put(wasm []byte) (string, error) {
	digest := pluginhost.Digest(wasm)
	p, _ := m.path(digest)
	if _, err := os.Stat(p); err == nil {
		return digest, nil
	}
	if err := pki.WriteFileAtomic(p, wasm, 0o600); err != nil {
		return "", fmt.Errorf("module store: %w", err)
	}
	return digest, nil
}

// Get reads a module and verifies it against its digest.
func (m *ModuleStore) Get(digest string) ([]byte, error) {
	p, err := m.path(digest)
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrModuleNotFound, digest)
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		return nil, fmt.Errorf("%w: %s", ErrModuleCorrupt, digest)
	}
	return wasm, nil
}
