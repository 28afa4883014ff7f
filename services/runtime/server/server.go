// Package server is the gRPC server every Vigil service runs: the named
// interceptor chain, health per service name, reflection, keepalive,
// Prometheus metrics, TLS, and an ordered graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/vigil/vigil/services/runtime/bufpool"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/debug"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// streamWorkersPerCPU sizes the pool of goroutines that run calls. The
// pool must hold the calls in flight at once: past it each call gets a new
// goroutine whose stack grows through the chain. With 16 per CPU, 50
// concurrent callers on 2 cores sent 40% of the calls past the pool and
// runtime.newstack was 10% of an authenticated read; with 64, 3% (issue
// 14). An idle worker costs its (shrunk) stack, a few KiB.
const streamWorkersPerCPU = 64

// Options configure a Server beyond the common configuration.
type Options struct {
	// Auth authenticates every call but health and reflection; nil lets all through.
	Auth Authenticator
	// Listener, when set, is served instead of listening on the configured
	// address (tests pass a bufconn listener).
	Listener net.Listener
	// ServiceNames are the health names this server reports; they start
	// NOT_SERVING and turn SERVING with MarkServing.
	ServiceNames []string
	// GRPC are more options of the gRPC server (the vault's codec).
	GRPC []grpc.ServerOption
}

// Server is one service's gRPC server and its surroundings.
type Server struct {
	cfg      *config.Common
	log      *zap.Logger
	opts     Options
	grpc     *grpc.Server
	health   *health.Server
	registry *prometheus.Registry
	chain    *chain
	closers  []func() error
}

// New builds the server; register services on GRPC(), open storage, then
// MarkServing and Run.
func New(cfg *config.Common, log *zap.Logger, opts Options) (*Server, error) {
	if percent, ok := cfg.ApplyGC(); ok {
		log.Debug("garbage collector", zap.Int("gc_percent", percent))
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newRPCMetrics()
	registry.MustRegister(metrics)

	creds, err := serverCredentials(cfg, cfg.ServiceAddr(cfg.Service), opts.Listener != nil)
	if err != nil {
		return nil, err
	}
	inProcess := opts.Listener != nil && creds == nil
	if creds == nil && !inProcess {
		log.Warn("gRPC in plaintext on loopback: internal methods are refused, as no caller can prove a service identity; set tls-cert-file, tls-key-file and tls-ca-file (make run does)")
	} else if creds != nil && cfg.TLSCAFile == "" {
		log.Warn("TLS without tls-ca-file: callers present no certificate, so internal methods are refused")
	}
	c := &chain{log: log, slow: cfg.SlowCallThreshold, metrics: metrics, auth: opts.Auth, validator: validator, callers: newCallerCheck(cfg.Service, inProcess)}
	serverOpts := append(telemetry.ServerOptions(cfg),
		grpc.ChainUnaryInterceptor(c.unary()...),
		grpc.ChainStreamInterceptor(c.stream()...),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(4<<20),
		// Calls run on a pool of goroutines whose stacks are already grown,
		// instead of a new goroutine per call that grows its stack through
		// the interceptor chain every time (runtime.newstack was ~14% of an
		// authenticated read, issue 14); past the pool, a goroutine per call.
		grpc.NumStreamWorkers(uint32(streamWorkersPerCPU*runtime.GOMAXPROCS(0))),
		// Frames and large messages in buffers reused without zeroing (see bufpool).
		experimental.BufferPool(bufpool.New()),
	)
	if creds != nil {
		serverOpts = append(serverOpts, grpc.Creds(creds))
	}
	serverOpts = append(serverOpts, opts.GRPC...)
	gs := grpc.NewServer(serverOpts...)

	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	for _, name := range opts.ServiceNames {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	return &Server{cfg: cfg, log: log, opts: opts, grpc: gs, health: hs, registry: registry, chain: c}, nil
}

// serverCredentials returns TLS credentials when a certificate is configured.
// With a CA as well, TLS is mutual: only holders of a certificate from that
// CA (the other services and the gateway) may connect, and the caller table
// (callers.go) reads each caller's service name from its certificate. Off
// loopback both are required; on loopback, without them, gRPC is plaintext
// and every internal method is refused (no caller has an identity).
func serverCredentials(cfg *config.Common, addr string, inProcess bool) (credentials.TransportCredentials, error) {
	if !inProcess && !config.IsLoopback(addr) && (cfg.TLSCertFile == "" || cfg.TLSCAFile == "") {
		return nil, fmt.Errorf("listening on %s without mutual TLS: set tls-cert-file, tls-key-file and tls-ca-file, or listen on loopback", addr)
	}
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.TLSCAFile != "" {
		pool, err := config.LoadCAPool(cfg.TLSCAFile)
		if err != nil {
			return nil, err
		}
		conf.ClientCAs, conf.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(conf), nil
}

// GRPC is the server to register services on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Registry is the Prometheus registry for the service's own metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// OnClose registers a closer to run at shutdown, after the gRPC server has
// stopped; closers run in reverse order of registration (last opened, first closed).
func (s *Server) OnClose(f func() error) { s.closers = append(s.closers, f) }

// MarkServing reports SERVING for every service name: call it once storage is open.
func (s *Server) MarkServing() {
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range s.opts.ServiceNames {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
}

// Run serves gRPC (and /metrics, and the plaintext health port) until ctx
// ends, then shuts down in order: health NOT_SERVING, GracefulStop bounded
// by the shutdown timeout, Stop, the health port, metrics, then the
// closers (databases last).
func (s *Server) Run(ctx context.Context) error {
	lis := s.opts.Listener
	if lis == nil {
		addr := s.cfg.ServiceAddr(s.cfg.Service)
		var err error
		if lis, err = net.Listen("tcp", addr); err != nil {
			s.runClosers()
			return fmt.Errorf("listen %s: %w", addr, err)
		}
	}
	var healthSrv *grpc.Server
	var healthLis net.Listener
	if s.cfg.HealthAddr != "" {
		var err error
		if healthLis, err = net.Listen("tcp", s.cfg.HealthAddr); err != nil {
			_ = lis.Close()
			s.runClosers()
			return fmt.Errorf("listen health %s: %w", s.cfg.HealthAddr, err)
		}
		// Plaintext and nothing but grpc.health.v1: kubelet probes carry no
		// client certificate, and health tells nothing secret.
		healthSrv = grpc.NewServer(grpc.MaxRecvMsgSize(4 << 10))
		healthpb.RegisterHealthServer(healthSrv, s.health)
	}
	var metricsSrv *http.Server
	var metricsLis net.Listener
	if s.cfg.MetricsAddr != "" && s.opts.Listener == nil {
		var err error
		if metricsLis, err = net.Listen("tcp", s.cfg.MetricsAddr); err != nil {
			_ = lis.Close()
			if healthLis != nil {
				_ = healthLis.Close()
			}
			s.runClosers()
			return fmt.Errorf("listen metrics %s: %w", s.cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	}
	s.log.Info("serving", zap.String("grpc", lis.Addr().String()), zap.String("metrics", s.cfg.MetricsAddr),
		zap.String("health", s.cfg.HealthAddr))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.grpc.Serve(lis) })
	if s.cfg.DebugAddr != "" && s.opts.Listener == nil {
		g.Go(func() error { return debug.Serve(gctx, s.cfg, s.log) })
	}
	if healthSrv != nil {
		g.Go(func() error { return healthSrv.Serve(healthLis) })
	}
	if metricsSrv != nil {
		g.Go(func() error {
			if err := metricsSrv.Serve(metricsLis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		s.shutdown(metricsSrv, healthSrv)
		return nil
	})
	err := g.Wait()
	s.runClosers()
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

func (s *Server) shutdown(metricsSrv *http.Server, healthSrv *grpc.Server) {
	s.log.Info("shutting down")
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.log.Warn("graceful stop timed out; forcing", zap.Duration("timeout", s.cfg.ShutdownTimeout))
		s.grpc.Stop()
		<-done
	}
	if healthSrv != nil {
		healthSrv.Stop() // probes saw NOT_SERVING during the drain
	}
	if metricsSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = metricsSrv.Shutdown(ctx)
	}
}

func (s *Server) runClosers() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			s.log.Error("close", zap.Error(err))
		}
	}
	s.closers = nil
}
