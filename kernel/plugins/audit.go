package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"weft.dev/weft/kernel/pluginhost"
)

// DefaultAuditMaxBytes is the size at which the audit log is rotated.
const DefaultAuditMaxBytes = 64 << 20

// AuditLog appends every plugin write and refused request to a JSON-lines file, one
// record per line, rotating it to <path>.1 when it grows past a limit. Operators read
// it to see exactly what each plugin (by name and digest) did.
type AuditLog struct {
	path string
	max  int64
	log  *slog.Logger

	mu   sync.Mutex
	f    *os.File
	size int64
}

var _ pluginhost.Auditor = (*AuditLog)(nil)

// OpenAuditLog opens (or creates) the audit log at path.
func OpenAuditLog(path string, maxBytes int64, log *slog.Logger) (*AuditLog, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultAuditMaxBytes
	}
	if log == nil {
		log = slog.Default()
	}
	a := &AuditLog{path: path, max: maxBytes, log: log}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *AuditLog) open() error {
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	a.f, a.size = f, st.Size()
	return nil
}

// Audit implements pluginhost.Auditor. Writing the record is best effort: a full disk
// must not fail the plugin's call, so failures are logged instead.
func (a *AuditLog) Audit(_ context.Context, r pluginhost.AuditRecord) {
	line, err := json.Marshal(r)
	if err != nil {
		a.log.Error("audit record", "err", err)
		return
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return
	}
	if a.size+int64(len(line)) > a.max {
		a.f.Close()
		if err := os.Rename(a.path, a.path+".1"); err != nil {
			a.log.Error("rotate audit log", "err", err)
		}
		if err := a.open(); err != nil {
			a.log.Error("reopen audit log", "err", err)
			a.f = nil
			return
		}
	}
	n, err := a.f.Write(line)
	a.size += int64(n)
	if err != nil {
		a.log.Error("write audit log", "err", err)
	}
}

// Close closes the file.
func (a *AuditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
