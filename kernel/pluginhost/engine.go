package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero"
)

// Sentinel errors. Call errors wrap exactly one of them.
var (
	// ErrInvalidModule: not a wasm module, or not one that speaks a known ABI.
	ErrInvalidModule = errors.New("pluginhost: invalid plugin module")
	// ErrTrap: the guest trapped or panicked; the instance was discarded.
	ErrTrap = errors.New("pluginhost: plugin trapped")
	// ErrTimeout: the call outlived its deadline; the instance was discarded.
	ErrTimeout = errors.New("pluginhost: plugin call timed out")
	// ErrOutOfMemory: the guest hit its memory cap; the instance was discarded.
	ErrOutOfMemory = errors.New("pluginhost: plugin ran out of memory")
	// ErrGuest: the guest reported an error for this call; the instance is healthy.
	ErrGuest = errors.New("pluginhost: plugin returned an error")
	// ErrDegraded: the plugin failed repeatedly and is backing off.
	ErrDegraded = errors.New("pluginhost: plugin is degraded")
	// ErrClosed: the plugin was unloaded.
	ErrClosed = errors.New("pluginhost: plugin closed")
	// ErrStale: a session call was made for an instance that is gone; the caller
	// rebuilds the new instance's state and calls again.
	ErrStale = errors.New("pluginhost: session instance was replaced")
	// ErrNoExport: the plugin does not implement the requested operation.
	ErrNoExport = errors.New("pluginhost: plugin does not implement this operation")
)

// Config configures an Engine.
type Config struct {
	// CacheDir keeps compiled modules across restarts; empty means no file cache.
	CacheDir string
	Logger   *slog.Logger
}

// Engine compiles and loads plugin modules.
type Engine struct {
	cache wazero.CompilationCache
	log   *slog.Logger
}

// NewEngine returns an Engine.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Engine{log: cfg.Logger}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("pluginhost: compilation cache: %w", err)
		}
		e.cache = c
	} else {
		e.cache = wazero.NewCompilationCache()
	}
	return e, nil
}

// Close releases the compilation cache. Plugins must be closed first.
func (e *Engine) Close(ctx context.Context) error { return e.cache.Close(ctx) }

// Digest is the content address of a module: "sha256:<hex>".
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Limits bound what one plugin may use.
type Limits struct {
	// MemoryPages caps each instance's linear memory, in 64 KiB pages; default 2048 (128 MiB).
	MemoryPages uint32
	// CallTimeout bounds one call; default 5s.
	CallTimeout time.Duration
	// Instances is the pool size, which is also the number of concurrent calls;
	// default 2.
	Instances int
}

func (l Limits) withDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = 2048
	}
	if l.CallTimeout == 0 {
		l.CallTimeout = 5 * time.Second
	}
	if l.Instances == 0 {
		l.Instances = 2
	}
	return l
}
