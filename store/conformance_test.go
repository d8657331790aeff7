package store_test

import (
	"log/slog"
	"testing"
	"time"

	"weft.dev/weft/store"
	"weft.dev/weft/store/internal/leaktest"
	"weft.dev/weft/store/storetest"
)

func TestConformance(t *testing.T) {
	leaktest.Check(t)
	storetest.Run(t, func(t *testing.T) store.Interface {
		db, err := store.Open(t.TempDir(), store.Options{
			Logger:           slog.New(slog.DiscardHandler),
			ProgressInterval: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
