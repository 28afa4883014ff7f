// Package gateway is Vigil's HTTP/JSON edge: grpc-gateway handlers for every
// service, plus /healthz, /readyz, /openapi.json and /metrics.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vigil/vigil/services/runtime/client"
)

// upstream is one gRPC service behind the gateway.
type upstream struct {
	name string // identity, directory, vault, notify
	conn *grpc.ClientConn
}

// Run serves HTTP until ctx ends, then drains in-flight requests.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	upstreams, err := dialUpstreams(cfg)
	if err != nil {
		return err
	}
	defer func() {
		for _, u := range upstreams {
			_ = u.conn.Close()
		}
	}()
	handler, err := NewHandler(ctx, cfg, log, upstreams)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Info("serving", zap.String("http", "http://"+lis.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func dialUpstreams(cfg *Config) ([]upstream, error) {
	var ups []upstream
	for _, name := range []string{"identity", "directory", "vault", "notify"} {
		conn, err := client.Dial(&cfg.Common, cfg.ServiceAddr(name))
		if err != nil {
			for _, u := range ups {
				_ = u.conn.Close()
			}
			return nil, err
		}
		ups = append(ups, upstream{name: name, conn: conn})
	}
	return ups, nil
}

// NewHandler builds the gateway's whole HTTP handler over the given upstreams.
func NewHandler(ctx context.Context, cfg *Config, log *zap.Logger, upstreams []upstream) (http.Handler, error) {
	m := newMetrics()
	mux := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithMiddlewares(m.recordRoute),
		runtime.WithErrorHandler(writeStatusError),
	)
	for _, u := range upstreams {
		for _, register := range registrations[u.name] {
			if err := register(ctx, mux, u.conn); err != nil {
				return nil, fmt.Errorf("register %s routes: %w", u.name, err)
			}
		}
	}
	if err := registerFileRoutes(mux, cfg, log, upstreams); err != nil {
		return nil, err
	}
	if err := registerDirectoryFileRoutes(mux, cfg, log, upstreams); err != nil {
		return nil, err
	}

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	root.Handle("GET /readyz", readiness(upstreams, cfg.ReadyTimeout))
	root.HandleFunc("GET /openapi.json", serveOpenAPI)
	root.Handle("GET /metrics", m.handler())
	root.Handle("/", limitBody(mux, cfg.MaxBodyBytes))
	return m.wrap(withRequestID(root)), nil
}

// incomingHeader forwards only X-Request-Id. grpc-gateway itself forwards
// Authorization (as "authorization") and sets X-Forwarded-For, which
// identity uses to slow down brute force per client address.
func incomingHeader(key string) (string, bool) {
	if textproto.CanonicalMIMEHeaderKey(key) == "X-Request-Id" {
		return "x-request-id", true
	}
	return "", false
}

// outgoingHeader passes no gRPC response metadata to HTTP callers; the
// request id is already set by withRequestID.
func outgoingHeader(string) (string, bool) { return "", false }
