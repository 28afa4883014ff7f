// Package app wires the notify service: configuration, storage, handlers and
// the shared gRPC server.
package app

import (
	"context"
	"flag"
	"path/filepath"

	"go.uber.org/zap"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/storage"
)

// Config is notify's configuration.
type Config struct {
	config.Common
}

// ParseConfig reads flags and VIGIL_* environment variables.
func ParseConfig(args []string) (*Config, error) {
	cfg := &Config{Common: config.Common{Service: "notify"}}
	fs := flag.NewFlagSet("notify", flag.ContinueOnError)
	cfg.Register(fs)
	if err := config.Parse(fs, args); err != nil {
		return nil, err
	}
	return cfg, cfg.Complete()
}

// Run serves notify until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	srv, err := server.New(&cfg.Common, log, server.Options{
		ServiceNames: []string{notifyv1.NotificationService_ServiceDesc.ServiceName},
	})
	if err != nil {
		return err
	}
	db, err := storage.OpenBolt(filepath.Join(cfg.ServiceDataDir(), "notify.db"))
	if err != nil {
		return err
	}
	srv.OnClose(db.Close)
	notifyv1.RegisterNotificationServiceServer(srv.GRPC(), &notificationServer{})
	srv.MarkServing()
	return srv.Run(ctx)
}

// notificationServer answers UNIMPLEMENTED until delivery is built (issue: notify delivers).
type notificationServer struct {
	notifyv1.UnimplementedNotificationServiceServer
}
