package api

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

func TestClientAddr(t *testing.T) {
	in := func(xff ...string) context.Context {
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4242}})
		if len(xff) == 0 {
			return ctx
		}
		return metadata.NewIncomingContext(ctx, metadata.Pairs("x-forwarded-for", xff[0]))
	}
	for _, tc := range []struct {
		ctx  context.Context
		want string
	}{
		{in(), "10.0.0.9"},
		{in("203.0.113.7"), "203.0.113.7"},
		{in("198.51.100.1, 203.0.113.7"), "203.0.113.7"}, // the gateway's own entry, not the client's claim
		{in(" , "), "10.0.0.9"},
	} {
		if got := clientAddr(tc.ctx); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func FuzzClientAddr(f *testing.F) {
	f.Add("203.0.113.7")
	f.Add("a, b,, c")
	f.Fuzz(func(t *testing.T, xff string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-forwarded-for", xff))
		if got := clientAddr(ctx); len(got) > 64 {
			t.Fatalf("address of %d bytes kept", len(got))
		}
	})
}
