package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/vigil/vigil/services/runtime/pki"
	"github.com/vigil/vigil/services/runtime/secrets"
)

var (
	tlsOnce  sync.Once
	tlsFiles pki.Files
	tlsErr   error
)

// testTLS is a CA with certificates for notify and for the caller the tests
// play (identity, which may enqueue notifications): internal methods need
// a service identity (mutual TLS).
func testTLS(tb testing.TB) pki.Files {
	tb.Helper()
	tlsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-notify-tls")
		if err != nil {
			tlsErr = err
			return
		}
		tlsFiles, tlsErr = pki.Ensure(dir, "notify", "identity")
	})
	if tlsErr != nil {
		tb.Fatal(tlsErr)
	}
	return tlsFiles
}

// buildNotify builds this binary into dir.
func buildNotify(tb testing.TB, dir string) string {
	tb.Helper()
	bin := filepath.Join(dir, "notify")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		tb.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startNotify runs the binary on addr with its data in dataDir, delivering
// to smtpAddr, and waits until it accepts connections. Its scheduler is off
// and it knows no other service unless env says otherwise (VIGIL_*=…).
func startNotify(tb testing.TB, bin, addr, dataDir, smtpAddr string, workers int, env ...string) *exec.Cmd {
	tb.Helper()
	key := filepath.Join(dataDir, "secret.key")
	if err := secrets.Generate(key); err != nil {
		tb.Fatal(err)
	}
	nowhere := "127.0.0.1:1" // nothing listens there
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"VIGIL_DATA_DIR="+dataDir, "VIGIL_NOTIFY_ADDR="+addr, "VIGIL_METRICS_ADDR=", "VIGIL_SECRET_KEY_FILE="+key,
		"VIGIL_SMTP_ADDR="+smtpAddr, "VIGIL_LOG_LEVEL=error", fmt.Sprintf("VIGIL_NOTIFY_WORKERS=%d", workers),
		"VIGIL_NOTIFY_BACKOFF_BASE=20ms", "VIGIL_NOTIFY_BACKOFF_MAX=100ms", "VIGIL_NOTIFY_SCHEDULER=false",
		"VIGIL_IDENTITY_ADDR="+nowhere, "VIGIL_DIRECTORY_ADDR="+nowhere, "VIGIL_VAULT_ADDR="+nowhere)
	cmd.Env = append(cmd.Env, testTLS(tb).Env("notify")...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			tb.Fatal("notify did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialNotify connects to notify and reconnects fast after a kill (the
// default backoff grows to minutes).
func dialNotify(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	conf, err := testTLS(tb).ClientTLS("identity")
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(conf)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, MaxDelay: 200 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}
