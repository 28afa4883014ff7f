package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
)

// writeSelfSigned writes a CA-capable self-signed certificate for 127.0.0.1.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestTLS: with a certificate configured the server speaks TLS, and the
// client helper reaches it when it trusts the CA.
func TestTLS(t *testing.T) {
	cert, key := writeSelfSigned(t, t.TempDir())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Common{Service: "notify", NotifyAddr: lis.Addr().String(), TLSCertFile: cert, TLSKeyFile: key,
		TLSCAFile: cert, ShutdownTimeout: time.Second}
	srv, err := New(cfg, zap.NewNop(), Options{Listener: lis})
	if err != nil {
		t.Fatal(err)
	}
	srv.MarkServing()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	conn, err := client.Dial(cfg, lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("over TLS: %v %v", resp, err)
	}
	// A plaintext client is refused by the TLS server.
	plain, _ := client.Dial(&config.Common{}, lis.Addr().String())
	defer plain.Close()
	if _, err := healthpb.NewHealthClient(plain).Check(cctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("a plaintext client must not reach a TLS server")
	}
	// Mutual TLS: a client that trusts the server but has no certificate of
	// its own is refused, so internal RPCs stay among the services.
	anonymous, err := client.Dial(&config.Common{TLSCAFile: cert}, lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	if _, err := healthpb.NewHealthClient(anonymous).Check(cctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("a client without a certificate must not reach a server that has a CA (mutual TLS)")
	}
}
