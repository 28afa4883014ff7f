package server

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/pki"
)

// TestTLS: with a certificate configured the server speaks TLS, and the
// client helper reaches it when it trusts the CA.
func TestTLS(t *testing.T) {
	files, err := pki.Ensure(filepath.Join(t.TempDir(), "tls"), Notify)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mtlsConfig(files, Notify)
	cfg.Service, cfg.NotifyAddr, cfg.ShutdownTimeout = Notify, lis.Addr().String(), time.Second
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
	anonymous, err := client.Dial(&config.Common{TLSCAFile: files.CAFile()}, lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	if _, err := healthpb.NewHealthClient(anonymous).Check(cctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("a client without a certificate must not reach a server that has a CA (mutual TLS)")
	}
}

// TestHealthPort: with health-addr set, a plaintext port answers the gRPC
// health service, and only it, while the service port requires a client
// certificate (kubelet probes carry none).
func TestHealthPort(t *testing.T) {
	files, err := pki.Ensure(filepath.Join(t.TempDir(), "tls"), Notify)
	if err != nil {
		t.Fatal(err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	healthAddr := free.Addr().String()
	_ = free.Close()
	cfg := mtlsConfig(files, Notify)
	cfg.HealthAddr = healthAddr
	addr := tlsServer(t, cfg)

	conn := dialTLS(t, healthAddr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Run listens on the health port as it starts: wait for it.
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("plaintext health port: %v %v", resp, err)
	}
	if err := enqueue(conn); status.Code(err) != codes.Unimplemented {
		t.Fatalf("an internal method on the health port: %v, want UNIMPLEMENTED (health only)", err)
	}
	if _, err := healthpb.NewHealthClient(dialTLS(t, addr, nil)).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext health on the service port: %v, want refused", err)
	}
}
