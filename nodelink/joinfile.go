package nodelink

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"weft.dev/weft/kernel/pki"
)

// JoinInfo is everything a fresh node needs: where the kernel is, a secret that proves
// the operator wants this node, and the CA fingerprint that proves the server is ours.
type JoinInfo struct {
	Server        string `json:"server"`        // host:port of the kernel's QUIC endpoint
	Token         string `json:"token"`         // join token
	CAFingerprint string `json:"caFingerprint"` // hex SHA-256 of the CA certificate (pki.CA.Fingerprint)
}

func (j JoinInfo) validate() error {
	switch {
	case j.Server == "":
		return fmt.Errorf("join info: server is empty")
	case j.Token == "":
		return fmt.Errorf("join info: token is empty")
	case len(j.CAFingerprint) != 64:
		return fmt.Errorf("join info: CA fingerprint must be 64 hex digits, got %d characters", len(j.CAFingerprint))
	}
	return nil
}

// WriteJoinFile writes info as JSON, mode 0600, atomically: it holds a secret, and a
// torn file would strand the node.
func WriteJoinFile(path string, info JoinInfo) error {
	if err := info.validate(); err != nil {
		return err
	}
	info.CAFingerprint = strings.ToLower(info.CAFingerprint)
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// ReadJoinFile reads and checks a join file.
func ReadJoinFile(path string) (JoinInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return JoinInfo{}, err
	}
	var info JoinInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return JoinInfo{}, fmt.Errorf("join file %s: %w", path, err)
	}
	if err := info.validate(); err != nil {
		return JoinInfo{}, fmt.Errorf("join file %s: %w", path, err)
	}
	info.CAFingerprint = strings.ToLower(info.CAFingerprint)
	return info, nil
}
