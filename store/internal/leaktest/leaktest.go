// Package leaktest checks that a test leaves no goroutine of the store or of Pebble
// behind. It is a small stand-in for go.uber.org/goleak, restricted to the code under
// test so that it works while unrelated goroutines (the test runner's) come and go.
package leaktest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// watched are the stack substrings that make a goroutine ours.
var watched = []string{"weft.dev/weft/store", "github.com/cockroachdb/pebble"}

// Check registers a cleanup that fails t if, once every other cleanup registered after
// it has run (closing stores and watchers), a goroutine of the store or Pebble is still
// alive after a grace period. Tests using it must not run in parallel with other tests
// of the store.
func Check(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			leaked := find()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutine(s) leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// find returns the stacks of our goroutines other than the caller's.
func find() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	var leaked []string
	for _, s := range stacks[1:] { // the first is the calling goroutine
		for _, w := range watched {
			if strings.Contains(s, w) {
				leaked = append(leaked, s)
				break
			}
		}
	}
	return leaked
}
