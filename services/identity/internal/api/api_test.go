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
		hops int
		want string
	}{
		{in(), 0, "10.0.0.9"},
		{in("203.0.113.7"), 0, "203.0.113.7"},
		{in("198.51.100.1, 203.0.113.7"), 0, "203.0.113.7"}, // the gateway's own entry, not the client's claim
		{in(" , "), 0, "10.0.0.9"},
		// Behind an ingress the gateway's entry is the ingress: the client is
		// the entry the ingress appended, one hop further; what the client
		// sent before it is still ignored.
		{in("192.0.2.66, 198.51.100.1, 10.0.0.2"), 1, "198.51.100.1"},
		{in("198.51.100.1, 10.1.0.3, 10.0.0.2"), 2, "198.51.100.1"},
		{in("10.0.0.2"), 1, "10.0.0.2"}, // not through the ingress: the gateway's entry
		{in(), 1, "10.0.0.9"},
	} {
		if got := clientAddr(tc.ctx, tc.hops); got != tc.want {
			t.Errorf("hops %d: got %q, want %q", tc.hops, got, tc.want)
		}
	}
}

// TestClientAddrPeers: without x-forwarded-for, the peer's host, IPv6 and
// zones included; several x-forwarded-for entries read as one list.
func TestClientAddrPeers(t *testing.T) {
	at := func(a net.Addr) context.Context { return peer.NewContext(context.Background(), &peer.Peer{Addr: a}) }
	for _, tc := range []struct {
		ctx  context.Context
		want string
	}{
		{at(&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443}), "2001:db8::1"},
		{at(&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "eth0"}), "fe80::1%eth0"},
		{at(&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}), "/run/x.sock"},
		{metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-forwarded-for", "192.0.2.1", "x-forwarded-for", "203.0.113.7")), "203.0.113.7"},
		{context.Background(), ""},
	} {
		if got := clientAddr(tc.ctx, 0); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func FuzzClientAddr(f *testing.F) {
	f.Add("203.0.113.7", 0)
	f.Add("a, b,, c", 7)
	f.Fuzz(func(t *testing.T, xff string, hops int) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-forwarded-for", xff))
		if got := clientAddr(ctx, max(hops, 0)); len(got) > 64 {
			t.Fatalf("address of %d bytes kept", len(got))
		}
	})
}
