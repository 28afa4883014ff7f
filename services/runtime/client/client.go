// Package client dials other Vigil services: plaintext on loopback, TLS when a
// CA is configured, with keepalive and the caller's request id and
// credentials forwarded.
package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/vigil/vigil/services/runtime/bufpool"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/logging"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// Dial returns a lazily-connecting client for target (host:port). With a CA
// file it speaks TLS, presenting the process's certificate (its service
// identity, mutual TLS); without one only loopback targets are allowed, in
// plaintext, and the services refuse their internal methods to it.
func Dial(cfg *config.Common, target string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds, err := clientCredentials(cfg, target)
	if err != nil {
		return nil, err
	}
	opts := append(telemetry.DialOptions(cfg),
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		// Peers on one machine or cluster come back fast after a restart:
		// retry from 100 ms rather than gRPC's default 1 s.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithChainUnaryInterceptor(forwardUnary),
		grpc.WithChainStreamInterceptor(forwardStream),
		// Frames and large messages in buffers reused without zeroing (see bufpool).
		experimental.WithBufferPool(bufpool.New()),
	)
	opts = append(opts, extra...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}

func clientCredentials(cfg *config.Common, target string) (credentials.TransportCredentials, error) {
	if cfg.TLSCAFile == "" {
		if !config.IsLoopback(target) {
			return nil, fmt.Errorf("dialing %s without TLS: set tls-ca-file, or use a loopback address", target)
		}
		return insecure.NewCredentials(), nil
	}
	pool, err := config.LoadCAPool(cfg.TLSCAFile)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	// A peer is one of the suite's services: its certificate must name the
	// service this address is configured for (its identity), not merely
	// come from the CA, as every service's does. (An address configured for
	// several services, as a test double may be, is checked by its host.)
	matches := 0
	for _, name := range []string{"identity", "directory", "vault", "notify"} {
		if target == cfg.ServiceAddr(name) {
			conf.ServerName = name
			matches++
		}
	}
	if matches > 1 {
		conf.ServerName = ""
	}
	if cfg.TLSCertFile != "" {
		// Servers with a CA require a client certificate (mutual TLS).
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(conf), nil
}

// forward passes the call's request id (runtime/logging, set by the
// server's chain, else the incoming one) and the caller's credentials (incoming authorization)
// on to the outgoing call, unless the caller set them explicitly.
func forward(ctx context.Context) context.Context {
	id := logging.RequestID(ctx)
	if id == "" {
		if v := metadata.ValueFromIncomingContext(ctx, requestIDKey); len(v) > 0 {
			id = v[0]
		}
	}
	auth := metadata.ValueFromIncomingContext(ctx, "authorization")
	if id == "" && len(auth) == 0 {
		return ctx
	}
	out, _ := metadata.FromOutgoingContext(ctx)
	var kv []string
	if id != "" && len(out.Get(requestIDKey)) == 0 {
		kv = append(kv, requestIDKey, id)
	}
	if len(auth) > 0 && len(out.Get("authorization")) == 0 {
		kv = append(kv, "authorization", auth[0])
	}
	if len(kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// requestIDKey is server.RequestIDKey (client cannot import server).
const requestIDKey = "x-request-id"

func forwardUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(forward(ctx), method, req, reply, cc, opts...)
}

func forwardStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(forward(ctx), desc, cc, method, opts...)
}
