// Package app wires the vault service: configuration, storage (bbolt and
// the blob store), the domain and its clients to identity, directory and
// notify, the handlers, the event feed it serves and the one it follows,
// and the shared gRPC server.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/telemetry"
	"github.com/vigil/vigil/services/vault/internal/api"
	"github.com/vigil/vigil/services/vault/internal/blob/localfs"
	"github.com/vigil/vigil/services/vault/internal/boltstore"
	"github.com/vigil/vigil/services/vault/internal/clients"
	"github.com/vigil/vigil/services/vault/internal/sniff"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// Config is vault's configuration.
type Config struct {
	config.Common
	// MaxUploadBytes bounds one document's size (R-VAULT-4).
	MaxUploadBytes int64
	// ContentTypes are the accepted content types (R-VAULT-4).
	ContentTypes config.List
	// BlobDir holds the documents' bytes (default: blobs under the
	// service's data folder).
	BlobDir string
	// SweepEvery is how often the expiry sweep looks for documents that
	// expired (compliance.changed events).
	SweepEvery time.Duration
	// RequestInterval is the least time between two document requests of a
	// customer to a supplier (R-NOTIF-3).
	RequestInterval time.Duration
	// MaxUploads and MaxCompanyUploads bound the uploads in flight, in all
	// and per company (429 past them).
	MaxUploads, MaxCompanyUploads int
}

// ParseConfig reads flags and VIGIL_* environment variables.
func ParseConfig(args []string) (*Config, error) {
	cfg := &Config{Common: config.Common{Service: "vault"}, ContentTypes: config.List(vault.DefaultContentTypes)}
	fs := flag.NewFlagSet("vault", flag.ContinueOnError)
	cfg.Register(fs)
	fs.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", 25<<20, "largest document accepted, in bytes ($VIGIL_MAX_UPLOAD_BYTES)")
	fs.Var(&cfg.ContentTypes, "content-types", "comma-separated content types accepted, among "+fmt.Sprint(sniff.Known)+" ($VIGIL_CONTENT_TYPES)")
	fs.StringVar(&cfg.BlobDir, "blob-dir", "", "folder of the documents' bytes (default: blobs under the vault's data folder) ($VIGIL_BLOB_DIR)")
	fs.DurationVar(&cfg.SweepEvery, "sweep-every", time.Minute, "how often expired documents are looked for, to tell integrations ($VIGIL_SWEEP_EVERY)")
	fs.DurationVar(&cfg.RequestInterval, "request-interval", time.Hour, "least time between two document requests to one supplier (R-NOTIF-3) ($VIGIL_REQUEST_INTERVAL)")
	fs.IntVar(&cfg.MaxUploads, "max-uploads", 64, "uploads in flight at once, in all; past it 429 ($VIGIL_MAX_UPLOADS)")
	fs.IntVar(&cfg.MaxCompanyUploads, "max-company-uploads", 4, "uploads in flight at once for one company; past it 429 ($VIGIL_MAX_COMPANY_UPLOADS)")
	if err := config.Parse(fs, args); err != nil {
		return nil, err
	}
	return cfg, cfg.Complete()
}

// Complete validates and fills defaults.
func (c *Config) Complete() error {
	if err := c.Common.Complete(); err != nil {
		return err
	}
	if c.MaxUploadBytes <= 0 {
		return errors.New("max-upload-bytes: must be positive")
	}
	if c.MaxUploads <= 0 || c.MaxCompanyUploads <= 0 {
		return errors.New("max-uploads and max-company-uploads: must be positive")
	}
	if len(c.ContentTypes) == 0 {
		return errors.New("content-types: at least one")
	}
	for _, t := range c.ContentTypes {
		if !sniff.IsKnown(t) {
			return fmt.Errorf("content-types: %q is not one of %v", t, sniff.Known)
		}
	}
	if c.BlobDir == "" {
		c.BlobDir = filepath.Join(c.ServiceDataDir(), "blobs")
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Minute
	}
	return nil
}

// Options let tests and benchmarks replace the process's surroundings.
type Options struct {
	// Listener replaces listening on the configured address (bufconn).
	Listener net.Listener
	// IdentityConn, DirectoryConn and NotifyConn replace dialing them.
	IdentityConn, DirectoryConn, NotifyConn grpc.ClientConnInterface
	// Now replaces the clock.
	Now func() time.Time
	// Auth replaces the token authenticator (benchmark baselines).
	Auth server.Authenticator
	// Started receives the domain once the server is ready to serve.
	Started func(*vault.Service)
	// NoFollow does not follow directory's feed (tests that apply events).
	NoFollow bool
}

// Run serves vault until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	return RunWith(ctx, cfg, log, Options{})
}

// RunWith is Run with replaced surroundings. The wiring is every
// service's (runtime/server lifecycle.go): server, telemetry, connections,
// store, background work; closers run in reverse.
func RunWith(ctx context.Context, cfg *Config, log *zap.Logger, opts Options) error {
	chunks := api.NewChunks()
	srv, err := server.New(&cfg.Common, log, server.Options{Listener: opts.Listener, ServiceNames: []string{
		vaultv1.DocumentTypeService_ServiceDesc.ServiceName,
		vaultv1.RequirementService_ServiceDesc.ServiceName,
		vaultv1.DocumentService_ServiceDesc.ServiceName,
		vaultv1.ComplianceService_ServiceDesc.ServiceName,
		vaultv1.VaultInternalService_ServiceDesc.ServiceName,
		eventsv1.EventsInternalService_ServiceDesc.ServiceName,
	}, GRPC: bulkOptions(chunks)})
	if err != nil {
		return err
	}
	srv.OnClose(telemetry.Setup(&cfg.Common, log))

	conns := client.NewConns(&cfg.Common, map[string]grpc.ClientConnInterface{
		"identity": opts.IdentityConn, "directory": opts.DirectoryConn, "notify": opts.NotifyConn})
	srv.OnClose(conns.Close)
	cs, err := conns.Dial("identity", "directory", "notify")
	if err != nil {
		return srv.Abort(err)
	}
	identityConn, directoryConn, notifyConn := cs[0], cs[1], cs[2]
	// Identity: keys and revocations verify every caller (R-ID-7); grants
	// (R-DIR-10) are cached and forgotten as its revocation feed reports
	// changes, so that a grant taken away bites within a second.
	remote := auth.NewRemote(srv.Detached(ctx), identityConn, log)
	var authn server.Authenticator = &auth.Authenticator{Verifier: remote.Verifier}
	if opts.Auth != nil {
		authn = opts.Auth
	}
	srv.SetAuth(authn)

	store, err := boltstore.Open(filepath.Join(cfg.ServiceDataDir(), "vault.db"))
	if err != nil {
		return srv.Abort(err)
	}
	srv.OnClose(store.Close)
	blobs, err := localfs.Open(cfg.BlobDir)
	if err != nil {
		return srv.Abort(err)
	}
	feedSrv := feed.NewServer("vault", store)
	svc, err := vault.New(ctx, vault.Config{
		MaxUploadBytes: cfg.MaxUploadBytes, ContentTypes: cfg.ContentTypes, PublicURL: cfg.PublicURL, Now: opts.Now,
		SweepEvery: cfg.SweepEvery, RequestInterval: cfg.RequestInterval, MaxUploads: cfg.MaxUploads, MaxCompanyUploads: cfg.MaxCompanyUploads,
	}, vault.Deps{
		Store: store, Blobs: blobs, Directory: clients.NewDirectory(directoryConn), Identity: clients.NewIdentity(identityConn),
		Notifier: clients.NewNotifier(notifyConn), Grants: remote.Grants, Log: log, Metrics: vault.NewMetrics(srv.Registry()),
		Wake: feedSrv.Wake,
	})
	if err != nil {
		return srv.Abort(err)
	}

	bg := server.NewBackground(ctx)
	srv.OnClose(bg.Close)
	bg.Go("vault", func(ctx context.Context) error { svc.Run(ctx); return nil })
	if !opts.NoFollow {
		follower := &feed.Follower{
			Client: eventsv1.NewEventsInternalServiceClient(directoryConn), Name: vault.DirectoryFeed, Log: log,
			Types: vault.DirectoryEventTypes, Cursor: svc.DirectoryCursor, Handle: svc.ApplyDirectoryEvent, Gap: svc.ResyncDirectory,
		}
		bg.Go("directory feed", func(ctx context.Context) error { follower.Run(ctx); return nil })
	}
	// Watchers of the vault's feed must not hold the graceful stop open.
	context.AfterFunc(ctx, feedSrv.Stop)

	api.Register(srv.GRPC(), svc, chunks)
	feedSrv.Register(srv.GRPC())
	srv.MarkServing()
	if opts.Started != nil {
		opts.Started(svc)
	}
	return bg.Wait(srv.Run(bg.Context()))
}

// bulkOptions fit the vault's gRPC server to documents' bytes (issue 9):
// its codec (api.Codec: an upload's chunks copied once, into a buffer
// reused for the whole upload; a download's chunks handed to gRPC in the
// buffers chunks lent them, not copied); 256 KiB read and write buffers,
// where gRPC's 32 KiB cost a system call per 32 KiB each way; and fixed
// flow-control windows (4 MiB per stream, 8 MiB per connection), so that
// the gateway streams an upload without waiting for window updates (and
// a stalled upload holds at most 4 MiB here).
func bulkOptions(chunks *api.Chunks) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(api.NewCodec(chunks)),
		grpc.ReadBufferSize(256 << 10), grpc.WriteBufferSize(256 << 10),
		grpc.InitialWindowSize(4 << 20), grpc.InitialConnWindowSize(8 << 20),
	}
}
