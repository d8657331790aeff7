package apps

import (
	"os/exec"
	"strings"
	"testing"
)

// The plugin must build as a small wasip1 module: the standard library and the SDK
// only.
func TestImportsOnlyStdAndSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "weft.dev/weft/sdk" && p != "weft.dev/weft/plugins/apps" {
			t.Errorf("plugins/apps depends on %s", p)
		}
	}
}
