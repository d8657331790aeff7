package store

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleLogger routes Pebble's messages to slog.
//
// Pebble calls Fatalf when it cannot go on (for example a failed MANIFEST write or
// sync). Its default logger calls os.Exit; this one panics instead, so that the stack
// is printed and a test driving Pebble from its own goroutine can see the failure. Most
// of these calls happen on Pebble's background goroutines, where the panic ends the
// process just like os.Exit would: the store relies on recovery at the next Open.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Info(fmt.Sprintf(format, args...), "source", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "source", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "source", "pebble", "fatal", true)
	panic("pebble: fatal: " + msg)
}

// eventListener reports the Pebble events an operator needs: background errors
// (failed flushes and compactions, which Pebble retries), slow disks and write stalls.
func (db *DB) eventListener() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			db.log.Error("pebble background error", "err", err)
		},
		DiskSlow: func(info pebble.DiskSlowInfo) {
			db.log.Warn("pebble: slow disk", "info", info.String())
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			db.log.Warn("pebble: write stall", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			db.log.Info("pebble: write stall ended")
		},
	}
}
