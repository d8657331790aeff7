package objects

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestCipher(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c, err := NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"data":{"password":"hunter2"}}`)
	sealed := c.seal("/core/secrets/ns/a", plain)
	if bytes.Contains(sealed, []byte("hunter2")) || !bytes.HasPrefix(sealed, []byte(encPrefix)) {
		t.Fatalf("not sealed: %q", sealed)
	}
	if bytes.Equal(sealed, c.seal("/core/secrets/ns/a", plain)) {
		t.Fatal("nonce reused")
	}
	got, err := c.open("/core/secrets/ns/a", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v %q", err, got)
	}
	// Bound to its key: a value copied elsewhere does not open.
	if _, err := c.open("/core/secrets/ns/b", sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("moved ciphertext: %v", err)
	}
	other, _ := NewCipher(bytes.Repeat([]byte{8}, 32))
	if _, err := other.open("/core/secrets/ns/a", sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: %v", err)
	}
	tampered := append([]byte{}, sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := c.open("/core/secrets/ns/a", tampered); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered: %v", err)
	}
	// Values written before a kind was encrypted still read.
	if got, err := c.open("/core/secrets/ns/a", plain); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("plain value: %v", err)
	}
}

func TestDecodeBody(t *testing.T) {
	cases := []struct {
		name, body string
		yaml       bool
		problems   string
		err        bool
	}{
		{"json", `{"a":1}`, false, "", false},
		{"yaml", "a: 1\nb: [x]\n", true, "", false},
		{"duplicate json", `{"a":1,"a":2}`, false, `duplicate field "a"`, false},
		{"duplicate yaml", "a: 1\na: 2\n", true, `"a" already set`, false},
		{"malformed json", `{"a":`, false, "", true},
		{"malformed yaml", "a: [", true, "", true},
		{"null", `null`, false, "", true},
		{"array", `[]`, false, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, problems, err := DecodeBody([]byte(tc.body), tc.yaml)
			if tc.err {
				if !apierrors.IsBadRequest(err) {
					t.Fatalf("want BadRequest, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(problems, "; "); !strings.Contains(got, tc.problems) || (tc.problems == "") != (got == "") {
				t.Fatalf("problems %q, want %q", got, tc.problems)
			}
			if _, ok := u.Object["a"].(int64); !ok {
				t.Fatalf("integers must decode as int64: %#v", u.Object["a"])
			}
		})
	}
}
