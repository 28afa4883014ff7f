// Package pki makes the suite's own certificate authority and the
// certificates that give each process its service identity for mutual TLS
// (issue 7 point 7): ECDSA P-256 keys, the service name as the DNS SAN that
// runtime/server reads as the caller's identity, and loopback names so that
// `make run` works on 127.0.0.1. `make run` keeps them in the data folder
// (files 0600, folder 0700) and reuses them on later starts; tests make
// them in a temporary folder.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Lifetimes: the CA outlives many restarts; a service certificate is
// renewed at a start when less than RenewBefore is left.
const (
	CALifetime   = 10 * 365 * 24 * time.Hour
	CertLifetime = 365 * 24 * time.Hour
	RenewBefore  = 30 * 24 * time.Hour
)

// loopbackIPs and loopbackNames are in every certificate: `make run` dials
// 127.0.0.1, tools dial localhost. They are never a service identity.
var (
	loopbackIPs   = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	loopbackNames = []string{"localhost"}
)

// CA is a certificate authority in memory.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA makes a new self-signed CA.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Vigil local CA", Organization: []string{"Vigil"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue makes a certificate and key for a service: its name is the DNS SAN
// (its identity), usable both to serve and to call (server and client auth).
func (ca *CA) Issue(service string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if service == "" {
		return nil, nil, errors.New("pki: empty service name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: service, Organization: []string{"Vigil"}},
		DNSNames:     append([]string{service}, loopbackNames...),
		IPAddresses:  loopbackIPs,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// TLSCertificate issues a certificate for service, ready for a tls.Config.
func (ca *CA) TLSCertificate(service string) (tls.Certificate, error) {
	cert, key, err := ca.Issue(service)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// Pool is a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// Files names the PEM files of a folder made by Ensure: ca.pem and
// ca-key.pem, then <name>.pem and <name>-key.pem per process.
type Files struct{ Dir string }

// CAFile is the CA certificate (VIGIL_TLS_CA_FILE).
func (f Files) CAFile() string { return filepath.Join(f.Dir, "ca.pem") }

// CAKeyFile is the CA's private key; only Ensure reads it.
func (f Files) CAKeyFile() string { return filepath.Join(f.Dir, "ca-key.pem") }

// CertFile is a process's certificate (VIGIL_TLS_CERT_FILE).
func (f Files) CertFile(name string) string { return filepath.Join(f.Dir, name+".pem") }

// KeyFile is a process's private key (VIGIL_TLS_KEY_FILE).
func (f Files) KeyFile(name string) string { return filepath.Join(f.Dir, name+"-key.pem") }

// Env is the environment that gives process name its certificate and the CA.
func (f Files) Env(name string) []string {
	return []string{
		"VIGIL_TLS_CERT_FILE=" + f.CertFile(name),
		"VIGIL_TLS_KEY_FILE=" + f.KeyFile(name),
		"VIGIL_TLS_CA_FILE=" + f.CAFile(),
	}
}

// ClientTLS is a client configuration presenting name's certificate and
// trusting only the CA (for tests and tools dialing the services).
func (f Files) ClientTLS(name string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile(name), f.KeyFile(name))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(f.CAFile())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("pki: no certificate in " + f.CAFile())
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// ServerTLS is a server configuration presenting name's certificate and
// requiring a client certificate from the CA (mutual TLS), for test
// servers that stand in for a service.
func (f Files) ServerTLS(name string) (*tls.Config, error) {
	conf, err := f.ClientTLS(name)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: conf.Certificates, ClientCAs: conf.RootCAs, ClientAuth: tls.RequireAndVerifyClientCert,
		NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}, nil
}

// Ensure makes, in dir, a CA and one certificate per name, keeping those
// already there while they are valid: the CA while it parses and has more
// than RenewBefore left (a new CA reissues every certificate), a
// certificate while it chains to the CA, names its service and has more
// than RenewBefore left. Files are written 0600 in a 0700 folder.
func Ensure(dir string, names ...string) (Files, error) {
	f := Files{Dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return f, err
	}
	now := time.Now()
	ca, err := loadCA(f)
	fresh := false
	if err != nil || now.Add(RenewBefore).After(ca.Cert.NotAfter) {
		if ca, err = NewCA(); err != nil {
			return f, err
		}
		if err := writeKeyPair(f.CAFile(), f.CAKeyFile(), ca.Cert, ca.Key); err != nil {
			return f, err
		}
		fresh = true
	}
	for _, name := range names {
		if !fresh && certValid(f, ca, name, now) {
			continue
		}
		cert, key, err := ca.Issue(name)
		if err != nil {
			return f, err
		}
		if err := writeKeyPair(f.CertFile(name), f.KeyFile(name), cert, key); err != nil {
			return f, err
		}
	}
	return f, nil
}

func loadCA(f Files) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(f.CAFile(), f.CAKeyFile())
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("pki: CA key is not ECDSA")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("pki: ca.pem is not a CA")
	}
	return &CA{Cert: cert, Key: key}, nil
}

func certValid(f Files, ca *CA, name string, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(f.CertFile(name), f.KeyFile(name))
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || !slices.Contains(cert.DNSNames, name) || now.Add(RenewBefore).After(cert.NotAfter) {
		return false
	}
	_, err = cert.Verify(x509.VerifyOptions{
		Roots: ca.Pool(), CurrentTime: now, DNSName: name,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// writeKeyPair writes a certificate and its key, each 0600, replacing any
// previous files atomically (a reader never sees half a file).
func writeKeyPair(certPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := writeFile(keyPath, keyPEM); err != nil {
		return err
	}
	return writeFile(certPath, certPEM)
}

func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
