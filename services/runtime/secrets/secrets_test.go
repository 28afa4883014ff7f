package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := Generate(path); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	b, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("JBSWY3DPEHPK3PXP")
	sealed := b.Seal(secret, []byte("login-1"))
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value holds the secret in clear")
	}
	got, err := b.Open(sealed, []byte("login-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := b.Open(sealed, []byte("login-2")); !errors.Is(err, ErrOpen) {
		t.Fatal("a value moved to another record must not open")
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := b.Open(tampered, []byte("login-1")); !errors.Is(err, ErrOpen) {
		t.Fatal("a tampered value must not open")
	}
	if err := Generate(path); err != nil {
		t.Fatal(err)
	}
	again, _ := Load(path)
	if again.KeyID() != b.KeyID() {
		t.Fatal("Generate must keep an existing key")
	}
	other, _ := New(bytes.Repeat([]byte{7}, KeySize))
	if _, err := other.Open(sealed, []byte("login-1")); !errors.Is(err, ErrOpen) {
		t.Fatal("another key must not open it")
	}
	if _, err := Load(""); err == nil {
		t.Fatal("no key file must be an error")
	}
}
