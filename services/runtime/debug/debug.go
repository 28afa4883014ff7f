// Package debug serves Go's profiler (net/http/pprof) on its own loopback
// listener when config DebugAddr is set, so that `make bench` can take CPU
// profiles of every process under load (issue 14). It is never on a
// service or public port.
package debug

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/config"
)

// Serve serves /debug/pprof/ on cfg.DebugAddr until ctx ends; without an
// address it returns at once.
func Serve(ctx context.Context, cfg *config.Common, log *zap.Logger) error {
	if cfg.DebugAddr == "" {
		return nil
	}
	if !config.IsLoopback(cfg.DebugAddr) {
		return errors.New("debug-addr: must be a loopback address")
	}
	lis, err := net.Listen("tcp", cfg.DebugAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("profiler", zap.String("debug", "http://"+lis.Addr().String()+"/debug/pprof/"))
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
