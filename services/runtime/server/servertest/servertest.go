// Package servertest runs Vigil gRPC servers in memory for tests: a bufconn
// listener to pass as server.Options.Listener, and a client dialled to it.
//
// Such an in-process server (a Listener and no TLS) has no certificates to
// tell which service calls it, so a test names the caller: As on the dial
// or AsCaller on one call's context. A call that names none passes the
// caller table (runtime/server callers.go) as any service would; NoService
// stands for a caller without a certificate. The table itself is tested
// with real certificates in runtime/server.
package servertest

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
)

// Listen returns an in-memory listener.
func Listen() *bufconn.Listener { return bufconn.Listen(1 << 20) }

// Dial returns a client of the server behind lis, closed when the test ends.
func Dial(tb testing.TB, lis *bufconn.Listener, opts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient("passthrough:///bufnet", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// callerKey is server.TestCallerKey (this package cannot import server,
// whose tests use it); noService is server.TestNoCaller.
const (
	callerKey = "vigil-test-caller"
	noService = "-"
)

// NoService names a caller that presents no service certificate.
const NoService = noService

// AsCaller returns ctx whose calls come from service (identity, directory,
// vault, notify, gateway, or NoService) for an in-process server.
func AsCaller(ctx context.Context, service string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, callerKey, service)
}

// As makes every call of a connection come from service (see AsCaller);
// a call's own AsCaller wins (the server reads the last value).
func As(service string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(caller(service))
}

type caller string

func (c caller) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{callerKey: string(c)}, nil
}

func (caller) RequireTransportSecurity() bool { return false }
