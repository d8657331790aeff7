package schema_test

import (
	"sync"
	"testing"
)

// A compiled schema is shared by every request for its kind; run with
// -race, this proves the hot paths keep no shared mutable state.
func TestConcurrentUse(t *testing.T) {
	s := mustCompile(t, defaultSchema)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				obj := mustObject(t, `{"spec": {"ports": [{"port": 80}], "unknown": 1, "replicas": "x"}}`)
				s.Default(obj)
				if pruned := s.Prune(obj); len(pruned) != 1 {
					t.Errorf("pruned %v", pruned)
				}
				if errs := s.Validate(obj); len(errs) != 1 {
					t.Errorf("errors %v", errs)
				}
				_ = s.PatchMeta()
			}
		})
	}
	wg.Wait()
}
