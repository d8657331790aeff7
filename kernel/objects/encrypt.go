package objects

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"weft.dev/weft/kernel/pki"
)

// encPrefix marks an encrypted value. The version lets the format change later without
// guessing; the key name lets a rotated key coexist with the old one.
const encPrefix = "weft:enc:aesgcm:v1:key1:"

// ErrDecrypt reports a stored value that cannot be decrypted with the data key.
var ErrDecrypt = errors.New("objects: cannot decrypt stored value")

// Cipher encrypts values at rest with AES-256-GCM. The store key is bound into every
// ciphertext as additional data, so a value copied to another key does not decrypt.
type Cipher struct{ aead cipher.AEAD }

// LoadOrCreateCipher reads the data key from dir/encryption.key, creating it on first start.
func LoadOrCreateCipher(dir string) (*Cipher, error) {
	path := filepath.Join(dir, "encryption.key")
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := pki.WriteFileAtomic(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("write data key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("read data key: %w", err)
	case len(key) != 32:
		return nil, fmt.Errorf("data key %s: want 32 bytes, have %d", path, len(key))
	}
	return NewCipher(key)
}

// NewCipher returns a Cipher for a 32-byte key.
func NewCipher(key []byte) (*Cipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead}, nil
}

func (c *Cipher) seal(storeKey string, plain []byte) []byte {
	out := make([]byte, len(encPrefix), len(encPrefix)+c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	copy(out, encPrefix)
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	out = append(out, nonce...)
	return c.aead.Seal(out, nonce, plain, []byte(storeKey))
}

func (c *Cipher) open(storeKey string, value []byte) ([]byte, error) {
	if !bytes.HasPrefix(value, []byte(encPrefix)) {
		// Written before the kind asked for encryption; still readable.
		return value, nil
	}
	rest := value[len(encPrefix):]
	if len(rest) < c.aead.NonceSize() {
		return nil, ErrDecrypt
	}
	plain, err := c.aead.Open(nil, rest[:c.aead.NonceSize()], rest[c.aead.NonceSize():], []byte(storeKey))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return plain, nil
}
