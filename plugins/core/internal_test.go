package core

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The quantity parser agrees with resource.ParseQuantity on what parses, and with
// Quantity.Cmp on order.
func TestQuantityMatchesKubernetes(t *testing.T) {
	inputs := []string{
		"0", "1", "-1", "+1", "1.5", ".5", "5.", "0.000", "100m", "1000m", "0.1", "1n", "1u", "1k", "1M", "1G", "1T", "1P", "1E",
		"1Ki", "1Mi", "1Gi", "1.5Gi", "1Ti", "1Pi", "1Ei", "1024", "1073741824", "1e3", "1E3", "1e-3", "1e+3", "12e2",
		"128Mi", "134217728", "0.5Gi", "512Mi", "500m", "0.5", "2", "1.000000001", "999999999n", "1000000000n",
		"1e2Mi", "1Mie2", "1e", "1e+", "1m2", "1ee3", "1k3", "1mi", "1ki", "1GB", "1.5Mi", "0.1Ki", "1mi", "1ki", "1K", "1.5e1", "-0", "+.5", "1Gb", "1e99", "1E-12", "9Ei", "0.001m", "1e100", "1.0000000001", "0.0000000015", "-1e-12", "3n", "-5m",
		"", ".", "-", "abc", "1x", "1Kb", "1 Gi", "1KiB", "1e", "1e+", "--1", "1.2.3", "Mi", "1m2", "1ee3", "0x10", "1k3",
	}
	type parsed struct {
		q  quantity
		kq resource.Quantity
	}
	var ok []parsed
	for _, s := range inputs {
		q, err := parseQuantity(s)
		kq, kerr := resource.ParseQuantity(s)
		if (err == nil) != (kerr == nil) || err != nil && err.Error() != kerr.Error() {
			t.Errorf("%q: parse error %v, Kubernetes %v", s, err, kerr)
			continue
		}
		if err == nil {
			ok = append(ok, parsed{q, kq})
		}
	}
	for _, a := range ok {
		for _, b := range ok {
			if got, want := a.q.cmp(b.q), a.kq.Cmp(b.kq); got != want {
				t.Errorf("cmp(%s, %s) = %d, Kubernetes %d", a.kq.String(), b.kq.String(), got, want)
			}
		}
	}
}

func TestNameChecksMatchKubernetes(t *testing.T) {
	inputs := []string{
		"", "a", "abc", "a-b", "-a", "a-", "A", "a.b", "a_b", "1", "123-abc", "my-name", strings.Repeat("a", 63), strings.Repeat("a", 64),
		"a..b", ".", "..", "..a", ".a", "key.name", "KEY_NAME", "key-name", "bad key", "no/slash", "http", "h--p", "8080",
		"a-very-long-port-name", "MY_VAR", "my.env-name", "1abc", "a=b", "tab\tx", "ünicode", " x", strings.Repeat("k", 254),
	}
	checks := []struct {
		name      string
		ours, kub func(string) []string
	}{
		{"IsDNS1123Label", isDNS1123Label, validation.IsDNS1123Label},
		{"IsConfigMapKey", isConfigMapKey, validation.IsConfigMapKey},
		{"IsValidPortName", isValidPortName, validation.IsValidPortName},
		{"IsRelaxedEnvVarName", isRelaxedEnvVarName, validation.IsRelaxedEnvVarName},
	}
	for _, c := range checks {
		for _, s := range inputs {
			if got, want := c.ours(s), c.kub(s); !reflect.DeepEqual(got, want) {
				t.Errorf("%s(%q) = %q, Kubernetes %q", c.name, s, got, want)
			}
		}
	}
}

func TestPullPolicy(t *testing.T) {
	for image, want := range map[string]string{
		"nginx": "Always", "nginx:latest": "Always", "nginx:1.27": "IfNotPresent",
		"localhost:5000/nginx": "Always", "localhost:5000/nginx:v1": "IfNotPresent", "localhost:5000/nginx:latest": "Always",
		"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef":        "IfNotPresent",
		"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "Always",
		"": "IfNotPresent", " nginx": "IfNotPresent",
	} {
		if got := pullPolicy(image); got != want {
			t.Errorf("pullPolicy(%q) = %s, want %s", image, got, want)
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "new\nline\ttab\r", "\x00\x1f", "ünï", "\u2028\u2029", "bad\xffutf8", "<html>&"} {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want {
			t.Errorf("round trip of %q gave %q", s, back)
		}
	}
	if got := pointerToken("a/b~c"); got != "a~1b~0c" {
		t.Errorf("pointerToken: %s", got)
	}
}
