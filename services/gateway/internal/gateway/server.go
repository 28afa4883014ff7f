package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	vigildebug "github.com/vigil/vigil/services/runtime/debug"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// Run serves HTTP until ctx ends, then drains in-flight requests.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	setGC(cfg, log)
	stopTracing := telemetry.Setup(&cfg.Common, log)
	defer func() { _ = stopTracing() }()
	upstreams, err := dialUpstreams(cfg) // runtime/client adds the tracing handler itself
	if err != nil {
		return err
	}
	defer func() {
		for _, u := range upstreams {
			_ = u.conn.Close()
		}
	}()
	e, err := newEdge(ctx, cfg, log, upstreams)
	if err != nil {
		return err
	}
	limit := connectionLimit(cfg.MaxConnections, log)
	lis, err := listen(cfg.HTTPAddr, limit)
	if err != nil {
		return err
	}
	servers := []*http.Server{newHTTPServer(cfg, e.public, e.metrics, log)}
	listeners := []net.Listener{lis}
	if cfg.MetricsAddr != "" {
		mlis, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = lis.Close()
			return fmt.Errorf("listen metrics %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", e.metrics.handler())
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second})
		listeners = append(listeners, mlis)
	}
	go func() { _ = vigildebug.Serve(ctx, &cfg.Common, log) }() // profiler for make bench, off unless VIGIL_DEBUG_ADDR
	log.Info("serving", zap.String("http", "http://"+lis.Addr().String()), zap.String("metrics", cfg.MetricsAddr),
		zap.Int("max_connections", limit))

	g, gctx := errgroup.WithContext(ctx)
	for i, srv := range servers {
		g.Go(func() error {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		for _, srv := range servers {
			if err := srv.Shutdown(sctx); err != nil {
				_ = srv.Close()
			}
		}
		return nil
	})
	return g.Wait()
}

// newHTTPServer is the public server with the bounds that keep slow clients
// from taking the gateway down (issue 7 point 5).
func newHTTPServer(cfg *Config, h http.Handler, m *metrics, log *zap.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log.Named("http").WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
		ConnState: func(_ net.Conn, state http.ConnState) {
			switch state {
			case http.StateNew:
				m.connections.Inc()
			case http.StateClosed, http.StateHijacked:
				m.connections.Dec()
			}
		},
	}
}

// listen opens the public listener; past limit connections, Accept waits
// (the kernel queues the newcomers) instead of running out of descriptors.
func listen(addr string, limit int) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return netutil.LimitListener(lis, limit), nil
}

// descriptorReserve is what the process keeps for everything but client
// connections: upstream connections, the metrics listener, log files.
const descriptorReserve = 256

// connectionLimit is --max-connections, lowered to fit the open-file limit.
func connectionLimit(configured int, log *zap.Logger) int {
	files, ok := openFileLimit()
	if !ok || files <= 2*descriptorReserve || configured <= int(files)-descriptorReserve {
		return configured
	}
	limit := int(files) - descriptorReserve
	log.Warn("max-connections lowered to fit the open-file limit", zap.Int("configured", configured),
		zap.Uint64("open_file_limit", files), zap.Int("max_connections", limit))
	return limit
}

// withUploadDeadline gives streamed uploads --upload-timeout to arrive
// instead of --read-timeout, which bounds every other request (0: leave
// the server's deadline).
func withUploadDeadline(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if timeout > 0 && (isStreamingRoute(r) || isDirectoryStreamingRoute(r)) {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
		}
		next.ServeHTTP(w, r)
	})
}

// setGC applies --gc-percent unless GOGC is set in the environment.
func setGC(cfg *Config, log *zap.Logger) {
	if percent, ok := cfg.ApplyGC(); ok {
		log.Debug("garbage collector", zap.Int("gc_percent", percent))
	}
}
