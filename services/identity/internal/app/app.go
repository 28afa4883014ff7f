// Package app wires the identity service: configuration, storage, handlers
// and the shared gRPC server.
package app

import (
	"context"
	"flag"
	"path/filepath"

	"go.uber.org/zap"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/storage"
)

// Config is identity's configuration.
type Config struct {
	config.Common
}

// ParseConfig reads flags and VIGIL_* environment variables.
func ParseConfig(args []string) (*Config, error) {
	cfg := &Config{Common: config.Common{Service: "identity"}}
	fs := flag.NewFlagSet("identity", flag.ContinueOnError)
	cfg.Register(fs)
	if err := config.Parse(fs, args); err != nil {
		return nil, err
	}
	return cfg, cfg.Complete()
}

// Run serves identity until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	srv, err := server.New(&cfg.Common, log, server.Options{ServiceNames: []string{
		identityv1.IdentityService_ServiceDesc.ServiceName,
		identityv1.IdentityInternalService_ServiceDesc.ServiceName,
	}})
	if err != nil {
		return err
	}
	db, err := storage.OpenBolt(filepath.Join(cfg.ServiceDataDir(), "identity.db"))
	if err != nil {
		return err
	}
	srv.OnClose(db.Close)
	g := srv.GRPC()
	identityv1.RegisterIdentityServiceServer(g, identityv1.UnimplementedIdentityServiceServer{})
	identityv1.RegisterIdentityInternalServiceServer(g, identityv1.UnimplementedIdentityInternalServiceServer{})
	srv.MarkServing()
	return srv.Run(ctx)
}
