// Package app wires the directory service: configuration, storage, handlers
// and the shared gRPC server.
package app

import (
	"context"
	"flag"
	"path/filepath"

	"go.uber.org/zap"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/storage"
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
	srv, err := server.New(&cfg.Common, log, server.Options{ServiceNames: []string{
		directoryv1.CompanyService_ServiceDesc.ServiceName,
		directoryv1.SupplierService_ServiceDesc.ServiceName,
		directoryv1.SupplierImportService_ServiceDesc.ServiceName,
		directoryv1.CustomerService_ServiceDesc.ServiceName,
		directoryv1.EmployeeService_ServiceDesc.ServiceName,
		directoryv1.ProjectService_ServiceDesc.ServiceName,
		directoryv1.DirectoryInternalService_ServiceDesc.ServiceName,
	}})
	if err != nil {
		return err
	}
	db, err := storage.OpenBolt(filepath.Join(cfg.ServiceDataDir(), "directory.db"))
	if err != nil {
		return err
	}
	srv.OnClose(db.Close)
	g := srv.GRPC()
	directoryv1.RegisterCompanyServiceServer(g, directoryv1.UnimplementedCompanyServiceServer{})
	directoryv1.RegisterSupplierServiceServer(g, directoryv1.UnimplementedSupplierServiceServer{})
	directoryv1.RegisterSupplierImportServiceServer(g, directoryv1.UnimplementedSupplierImportServiceServer{})
	directoryv1.RegisterCustomerServiceServer(g, directoryv1.UnimplementedCustomerServiceServer{})
	directoryv1.RegisterEmployeeServiceServer(g, directoryv1.UnimplementedEmployeeServiceServer{})
	directoryv1.RegisterProjectServiceServer(g, directoryv1.UnimplementedProjectServiceServer{})
	directoryv1.RegisterDirectoryInternalServiceServer(g, directoryv1.UnimplementedDirectoryInternalServiceServer{})
	srv.MarkServing()
	return srv.Run(ctx)
}
