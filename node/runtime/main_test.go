package runtime_test

import (
	"os"
	"testing"

	"weft.dev/weft/node/runtime"
)

// TestMain lets the shim run this test binary as the containers' log driver, as it
// runs the weft binary in production.
func TestMain(m *testing.M) {
	runtime.RunLogDriverIfRequested()
	os.Exit(m.Run())
}
