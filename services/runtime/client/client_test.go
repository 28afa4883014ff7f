package client

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/logging"
)

func TestForwardCopiesCredentialsAndRequestID(t *testing.T) {
	in := metadata.Pairs("authorization", "Bearer t", "x-request-id", "r1", "cookie", "secret")
	ctx := forward(metadata.NewIncomingContext(context.Background(), in))
	out, _ := metadata.FromOutgoingContext(ctx)
	if out.Get("authorization")[0] != "Bearer t" || out.Get("x-request-id")[0] != "r1" {
		t.Fatalf("outgoing %v", out)
	}
	if len(out.Get("cookie")) != 0 {
		t.Fatal("only credentials and the request id are forwarded")
	}
	// The id the server's chain keeps (made when the caller sent none).
	out, _ = metadata.FromOutgoingContext(forward(logging.WithRequestID(context.Background(), "made")))
	if got := out.Get("x-request-id"); len(got) != 1 || got[0] != "made" {
		t.Fatalf("outgoing request id %v, want the chain's", got)
	}
	// An explicit outgoing value wins over the caller's.
	ctx = metadata.AppendToOutgoingContext(metadata.NewIncomingContext(context.Background(), in), "authorization", "Bearer service")
	out, _ = metadata.FromOutgoingContext(forward(ctx))
	if got := out.Get("authorization"); len(got) != 1 || got[0] != "Bearer service" {
		t.Fatalf("outgoing authorization %v", got)
	}
}

func TestDialRefusesPlaintextBeyondLoopback(t *testing.T) {
	cfg := &config.Common{}
	if _, err := Dial(cfg, "10.1.2.3:7101"); err == nil {
		t.Fatal("plaintext to a non-loopback address must be refused")
	}
	conn, err := Dial(cfg, "127.0.0.1:7101")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
