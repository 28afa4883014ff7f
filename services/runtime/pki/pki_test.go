package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestEnsureMakesThenReuses: the first call makes a CA and one certificate
// per name, all 0600 in a 0700 folder; the second reuses them; a removed
// certificate is reissued under the same CA.
func TestEnsureMakesThenReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	names := []string{"identity", "gateway"}
	f, err := Ensure(dir, names...)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode: %v %v", st.Mode(), err)
	}
	files := []string{f.CAFile(), f.CAKeyFile()}
	for _, n := range names {
		files = append(files, f.CertFile(n), f.KeyFile(n))
	}
	before := map[string][]byte{}
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v %v, want 0600", p, st.Mode(), err)
		}
		before[p], _ = os.ReadFile(p)
	}
	cert := readCert(t, f.CertFile("identity"))
	if !slices.Contains(cert.DNSNames, "identity") || cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("identity's certificate: names %v, key %v", cert.DNSNames, cert.PublicKeyAlgorithm)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: poolOf(t, f), DNSName: "identity",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("identity's certificate does not chain to the CA as a client: %v", err)
	}

	if _, err := Ensure(dir, names...); err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		if now, _ := os.ReadFile(p); !bytes.Equal(now, before[p]) {
			t.Fatalf("%s was rewritten on a later start", p)
		}
	}

	if err := os.Remove(f.CertFile("gateway")); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, names...); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(f.CAFile()); !bytes.Equal(now, before[f.CAFile()]) {
		t.Fatal("a missing certificate must not replace the CA")
	}
	if _, err := f.ClientTLS("gateway"); err != nil {
		t.Fatalf("reissued gateway certificate: %v", err)
	}
}

// TestEnsureReplacesAForeignCertificate: a certificate that does not chain
// to the folder's CA (e.g. copied from another install) is reissued.
func TestEnsureReplacesAForeignCertificate(t *testing.T) {
	a, err := Ensure(filepath.Join(t.TempDir(), "a"), "vault")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Ensure(filepath.Join(t.TempDir(), "b"), "vault")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{b.CertFile("vault"), a.CertFile("vault")}, {b.KeyFile("vault"), a.KeyFile("vault")}} {
		data, _ := os.ReadFile(p[0])
		if err := os.WriteFile(p[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Ensure(a.Dir, "vault"); err != nil {
		t.Fatal(err)
	}
	if _, err := readCert(t, a.CertFile("vault")).Verify(x509.VerifyOptions{Roots: poolOf(t, a), DNSName: "vault"}); err != nil {
		t.Fatalf("foreign certificate kept: %v", err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func poolOf(t *testing.T, f Files) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(readCert(t, f.CAFile()))
	return p
}
