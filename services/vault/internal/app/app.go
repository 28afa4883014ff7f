// Package app wires the vault service: configuration, storage, handlers and
// the shared gRPC server.
package app

import (
	"context"
	"flag"
	"path/filepath"

	"go.uber.org/zap"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/storage"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// Config is vault's configuration.
type Config struct {
	config.Common
	// MaxUploadBytes bounds one document's size (R-VAULT-4).
	MaxUploadBytes int64
}

// ParseConfig reads flags and VIGIL_* environment variables.
func ParseConfig(args []string) (*Config, error) {
	cfg := &Config{Common: config.Common{Service: "vault"}}
	fs := flag.NewFlagSet("vault", flag.ContinueOnError)
	cfg.Register(fs)
	fs.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", 25<<20, "largest document accepted, in bytes ($VIGIL_MAX_UPLOAD_BYTES)")
	if err := config.Parse(fs, args); err != nil {
		return nil, err
	}
	return cfg, cfg.Complete()
}

// Run serves vault until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	identityConn, err := client.Dial(&cfg.Common, cfg.IdentityAddr)
	if err != nil {
		return err
	}
	defer identityConn.Close()
	verifier := auth.NewRemoteVerifier(ctx, identityConn, log)
	srv, err := server.New(&cfg.Common, log, server.Options{Auth: &auth.Authenticator{Verifier: verifier}, ServiceNames: []string{
		vaultv1.DocumentTypeService_ServiceDesc.ServiceName,
		vaultv1.RequirementService_ServiceDesc.ServiceName,
		vaultv1.DocumentService_ServiceDesc.ServiceName,
		vaultv1.ComplianceService_ServiceDesc.ServiceName,
		vaultv1.VaultInternalService_ServiceDesc.ServiceName,
	}})
	if err != nil {
		return err
	}
	srv.OnClose(telemetry.Setup(&cfg.Common, log))
	db, err := storage.OpenBolt(filepath.Join(cfg.ServiceDataDir(), "vault.db"))
	if err != nil {
		return err
	}
	srv.OnClose(db.Close)
	g := srv.GRPC()
	vaultv1.RegisterDocumentTypeServiceServer(g, vaultv1.UnimplementedDocumentTypeServiceServer{})
	vaultv1.RegisterRequirementServiceServer(g, vaultv1.UnimplementedRequirementServiceServer{})
	vaultv1.RegisterDocumentServiceServer(g, vaultv1.UnimplementedDocumentServiceServer{})
	vaultv1.RegisterComplianceServiceServer(g, vaultv1.UnimplementedComplianceServiceServer{})
	vaultv1.RegisterVaultInternalServiceServer(g, vaultv1.UnimplementedVaultInternalServiceServer{})
	srv.MarkServing()
	return srv.Run(ctx)
}
