// Package secrets encrypts the secrets a service must keep at rest (TOTP
// secrets, token-signing key seeds, e-mail link tokens waiting to be sent,
// webhook signing secrets) with a key the operator provides
// (VIGIL_SECRET_KEY_FILE), so that a copy of a data file, or the free pages
// of one, never holds a secret in clear (issue 7, SPEC §5).
//
// The key file holds 32 random bytes, hex-encoded (`openssl rand -hex 32`);
// `make run` generates one in the data folder. Sealed values are
// AES-256-GCM with a random nonce and the caller's associated data (what
// the value belongs to, e.g. a login id), so that a sealed value cannot be
// moved to another record.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// version prefixes every sealed value, so that the scheme can change.
const version = 1

// KeySize is the key's length in bytes.
const KeySize = 32

// Box seals and opens values with one key.
type Box struct {
	aead cipher.AEAD
	id   string
}

// ErrOpen is returned for a value that does not open with this key (wrong
// key, tampered, or another record's value).
var ErrOpen = errors.New("secrets: value does not open with this key")

// New returns a box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key: %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("vigil-secret-key-id:"), key...))
	return &Box{aead: aead, id: hex.EncodeToString(sum[:4])}, nil
}

// Load reads a key file (64 hex characters, surrounding space ignored).
func Load(path string) (*Box, error) {
	if path == "" {
		return nil, errors.New("secret-key-file: required (32 random bytes, hex; e.g. `openssl rand -hex 32 > key`)")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret-key-file: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("secret-key-file %s: not hex: %w", path, err)
	}
	return New(key)
}

// Generate writes a new random key file (mode 0600) unless one exists.
func Generate(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// KeyID is a short fingerprint of the key (not secret), for logs.
func (b *Box) KeyID() string { return b.id }

// Seal encrypts plaintext bound to aad.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secrets: no randomness: " + err.Error())
	}
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, aad)
}

// Open decrypts a value made by Seal with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
