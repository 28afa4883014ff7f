// Package app wires the directory service: configuration, storage, token
// verification and grants, handlers, the event feed, the background worker
// and the shared gRPC server.
package app

import (
	"context"
	"flag"
	"fmt"
	"net"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/directory/internal/api"
	"github.com/vigil/vigil/services/directory/internal/boltstore"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// Config is directory's configuration.
type Config struct {
	config.Common
	// ImportMaxRows bounds one supplier import (R-DIR-4).
	ImportMaxRows int
}

// Register adds directory's own flags.
func (c *Config) Register(fs *flag.FlagSet) {
	c.Common.Register(fs)
	fs.IntVar(&c.ImportMaxRows, "import-max-rows", directory.DefaultLimits.MaxImportRows, "the most rows one supplier import may hold")
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

// Complete checks the settings and fills defaults.
func (c *Config) Complete() error {
	if c.ImportMaxRows == 0 {
		c.ImportMaxRows = directory.DefaultLimits.MaxImportRows
	}
	if c.ImportMaxRows < 0 {
		return fmt.Errorf("import-max-rows must be positive")
	}
	return c.Common.Complete()
}

// Run serves directory until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	return RunWith(ctx, cfg, log, Options{})
}

// Options let tests replace the process's surroundings.
type Options struct {
	// Listener replaces listening on the configured address (bufconn).
	Listener net.Listener
	// IdentityConn replaces dialing cfg.IdentityAddr.
	IdentityConn grpc.ClientConnInterface
}

// RunWith is Run with replaced surroundings. The wiring is every
// service's (runtime/server lifecycle.go): server, telemetry, connections,
// store, background work; closers run in reverse.
func RunWith(ctx context.Context, cfg *Config, log *zap.Logger, opts Options) error {
	srv, err := server.New(&cfg.Common, log, server.Options{
		Listener: opts.Listener,
		ServiceNames: []string{
			directoryv1.CompanyService_ServiceDesc.ServiceName,
			directoryv1.SupplierService_ServiceDesc.ServiceName,
			directoryv1.SupplierImportService_ServiceDesc.ServiceName,
			directoryv1.CustomerService_ServiceDesc.ServiceName,
			directoryv1.EmployeeService_ServiceDesc.ServiceName,
			directoryv1.ProjectService_ServiceDesc.ServiceName,
			directoryv1.DirectoryInternalService_ServiceDesc.ServiceName,
			eventsv1.EventsInternalService_ServiceDesc.ServiceName,
		},
	})
	if err != nil {
		return err
	}
	srv.OnClose(telemetry.Setup(&cfg.Common, log))

	conns := client.NewConns(&cfg.Common, map[string]grpc.ClientConnInterface{"identity": opts.IdentityConn})
	srv.OnClose(conns.Close)
	identityConn, err := conns.Get("identity")
	if err != nil {
		return srv.Abort(err)
	}
	// Identity: its keys and revocation feed verify every caller's token
	// (R-ID-7), its grants are cached and dropped as the feed reports
	// changes (R-DIR-10: a grant's change bites within a second).
	remote := auth.NewRemote(srv.Detached(ctx), identityConn, log)
	srv.SetAuth(&auth.Authenticator{Verifier: remote.Verifier})

	store, err := boltstore.Open(filepath.Join(cfg.ServiceDataDir(), "directory.db"))
	if err != nil {
		return srv.Abort(err)
	}
	srv.OnClose(store.Close)
	events := feed.NewServer(boltstore.Source, store)
	store.OnEvents(events.Wake)

	limits := directory.DefaultLimits
	limits.MaxImportRows = cfg.ImportMaxRows
	svc := directory.NewService(store, identityClient{client: identityv1.NewIdentityInternalServiceClient(identityConn)}, remote.Grants, log,
		directory.WithMetrics(newMetrics(srv.Registry())), directory.WithLimits(limits))

	// The worker (imports, queued contacts, event pruning) stops before the
	// store closes; the feed's watchers end so as not to hold the shutdown.
	bg := server.NewBackground(ctx)
	srv.OnClose(bg.Close)
	bg.Go("worker", func(ctx context.Context) error { svc.RunWorker(ctx); return nil })
	context.AfterFunc(ctx, events.Stop)

	g := srv.GRPC()
	directoryv1.RegisterCompanyServiceServer(g, api.NewCompanyServer(svc))
	directoryv1.RegisterSupplierServiceServer(g, api.NewSupplierServer(svc))
	directoryv1.RegisterSupplierImportServiceServer(g, api.NewImportServer(svc))
	directoryv1.RegisterCustomerServiceServer(g, api.NewCustomerServer(svc))
	directoryv1.RegisterEmployeeServiceServer(g, api.NewEmployeeServer(svc))
	directoryv1.RegisterProjectServiceServer(g, api.NewProjectServer(svc))
	directoryv1.RegisterDirectoryInternalServiceServer(g, api.NewInternalServer(svc))
	events.Register(g)
	srv.MarkServing()
	return bg.Wait(srv.Run(bg.Context()))
}

// metrics are directory's product metrics.
type metrics struct {
	running prometheus.Gauge
	rows    *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_directory_imports_running",
			Help: "Supplier imports being received or registered (R-DIR-4)."}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_directory_import_rows_total",
			Help: "Rows of supplier imports done, by outcome (created, linked, already_linked, error)."}, []string{"outcome"}),
	}
	reg.MustRegister(m.running, m.rows)
	for _, o := range []directory.Outcome{directory.OutcomeCreated, directory.OutcomeLinked, directory.OutcomeAlreadyLinked, directory.OutcomeError} {
		m.rows.WithLabelValues(o.String())
	}
	return m
}

func (m *metrics) ImportsRunning(n int) { m.running.Set(float64(n)) }

func (m *metrics) ImportRows(o directory.Outcome, n int) {
	m.rows.WithLabelValues(o.String()).Add(float64(n))
}
