// Package app wires the directory service: configuration, storage, token
// verification, handlers and the shared gRPC server.
package app

import (
	"context"
	"flag"
	"net"
	"path/filepath"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/directory/internal/boltstore"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/grpcapi"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/server"
)

// Config is directory's configuration.
type Config struct {
	config.Common
}

// ParseConfig reads flags and VIGIL_* environment variables.
func ParseConfig(args []string) (*Config, error) {
	cfg := &Config{Common: config.Common{Service: "directory"}}
	fs := flag.NewFlagSet("directory", flag.ContinueOnError)
	cfg.Register(fs)
	if err := config.Parse(fs, args); err != nil {
		return nil, err
	}
	return cfg, cfg.Complete()
}

// Run serves directory until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	return run(ctx, cfg, log, deps{})
}

// deps replaces the network in tests: a listener to serve on and extra dial
// options for identity (a bufconn dialer).
type deps struct {
	listener     net.Listener
	identityDial []grpc.DialOption
}

func run(ctx context.Context, cfg *Config, log *zap.Logger, d deps) error {
	// Identity: its keys and revocation feed verify every caller's token
	// (R-ID-7); its CheckPermission answers what only it knows.
	conn, err := client.Dial(&cfg.Common, cfg.IdentityAddr, d.identityDial...)
	if err != nil {
		return err
	}
	verifierCtx, stopVerifier := context.WithCancel(ctx)
	verifier := auth.NewRemoteVerifier(verifierCtx, conn, log)

	srv, err := server.New(&cfg.Common, log, server.Options{
		Auth:     &auth.Authenticator{Verifier: verifier},
		Listener: d.listener,
		ServiceNames: []string{
			directoryv1.CompanyService_ServiceDesc.ServiceName,
			directoryv1.SupplierService_ServiceDesc.ServiceName,
			directoryv1.SupplierImportService_ServiceDesc.ServiceName,
			directoryv1.CustomerService_ServiceDesc.ServiceName,
			directoryv1.EmployeeService_ServiceDesc.ServiceName,
			directoryv1.ProjectService_ServiceDesc.ServiceName,
			directoryv1.DirectoryInternalService_ServiceDesc.ServiceName,
		},
	})
	if err != nil {
		stopVerifier()
		_ = conn.Close()
		return err
	}
	// Closers run last-registered first: the store, then the feed and
	// identity connection.
	srv.OnClose(func() error { stopVerifier(); return conn.Close() })

	store, err := boltstore.Open(filepath.Join(cfg.ServiceDataDir(), "directory.db"))
	if err != nil {
		stopVerifier()
		_ = conn.Close()
		return err
	}
	srv.OnClose(store.Close)

	svc := directory.NewService(store, identityClient{client: identityv1.NewIdentityInternalServiceClient(conn)}, log)
	g := srv.GRPC()
	directoryv1.RegisterCompanyServiceServer(g, grpcapi.NewCompanyServer(svc))
	directoryv1.RegisterDirectoryInternalServiceServer(g, grpcapi.NewInternalServer(svc))
	// Later issues: suppliers, imports, customers, employees, projects.
	directoryv1.RegisterSupplierServiceServer(g, directoryv1.UnimplementedSupplierServiceServer{})
	directoryv1.RegisterSupplierImportServiceServer(g, directoryv1.UnimplementedSupplierImportServiceServer{})
	directoryv1.RegisterCustomerServiceServer(g, directoryv1.UnimplementedCustomerServiceServer{})
	directoryv1.RegisterEmployeeServiceServer(g, directoryv1.UnimplementedEmployeeServiceServer{})
	directoryv1.RegisterProjectServiceServer(g, directoryv1.UnimplementedProjectServiceServer{})
	srv.MarkServing()
	return srv.Run(ctx)
}
