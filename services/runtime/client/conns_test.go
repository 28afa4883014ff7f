package client

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/vigil/vigil/services/runtime/config"
)

// TestAsServiceDropsCredentials: a service's own call forwards the request
// id, never the caller's token.
func TestAsServiceDropsCredentials(t *testing.T) {
	in := metadata.Pairs("authorization", "Bearer user-token", "x-request-id", "r1")
	ctx := forward(AsService(metadata.NewIncomingContext(context.Background(), in)))
	out, _ := metadata.FromOutgoingContext(ctx)
	if len(out.Get("authorization")) != 0 {
		t.Fatalf("the caller's token was forwarded: %v", out)
	}
	if got := out.Get("x-request-id"); len(got) != 1 || got[0] != "r1" {
		t.Fatalf("request id %v", got)
	}
}

func TestConnsDialOnceGivenAndClose(t *testing.T) {
	cfg := &config.Common{IdentityAddr: "127.0.0.1:1", DirectoryAddr: "127.0.0.1:2"}
	var fake grpc.ClientConnInterface = &grpc.ClientConn{}
	conns := NewConns(cfg, map[string]grpc.ClientConnInterface{"directory": fake, "vault": nil})
	a, err := conns.Get("identity")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := conns.Get("identity")
	if a != b {
		t.Fatal("identity dialled twice")
	}
	if d, _ := conns.Get("directory"); d != fake {
		t.Fatal("the given connection was not used")
	}
	if cs, err := conns.Dial("directory", "identity"); err != nil || cs[0] != fake || cs[1] != a {
		t.Fatalf("Dial = %v, %v", cs, err)
	}
	if _, err := conns.Dial("identity", "vault"); err == nil {
		t.Fatal("Dial of a service without an address succeeded")
	}
	if _, err := conns.Get("vault"); err == nil {
		t.Fatal("a service without an address was dialled")
	}
	if err := conns.Close(); err != nil {
		t.Fatal(err)
	}
	if c, _ := conns.Get("identity"); c == a {
		t.Fatal("a closed connection was handed out again")
	}
	_ = conns.Close()
}
