// Package app wires the identity service: configuration, storage, the
// domain, its clients to directory and notify, handlers and the shared gRPC
// server.
package app

import (
	"context"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/identity/internal/api"
	"github.com/vigil/vigil/services/identity/internal/boltstore"
	"github.com/vigil/vigil/services/identity/internal/clients"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/identity/internal/password"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/secrets"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/telemetry"
)

// Config is identity's configuration.
type Config struct {
	config.Common

	AccessTokenTTL      time.Duration
	RefreshTokenTTL     time.Duration
	SessionMaxAge       time.Duration
	KeyRotation         time.Duration
	RevocationRetention time.Duration
	HashSlots           int
	HashQueue           int
	DirectoryTimeout    time.Duration
	TrustedProxyHops    int
}

// Register adds identity's flags (VIGIL_* environment variables come with
// config.Parse).
func (c *Config) Register(fs *flag.FlagSet) {
	c.Common.Register(fs)
	fs.DurationVar(&c.AccessTokenTTL, "access-token-ttl", 15*time.Minute, "lifetime of access tokens")
	fs.DurationVar(&c.RefreshTokenTTL, "refresh-token-ttl", 7*24*time.Hour, "a session ends after this long without a refresh")
	fs.DurationVar(&c.SessionMaxAge, "session-max-age", 30*24*time.Hour, "a session ends this long after sign-in, refreshed or not")
	fs.DurationVar(&c.KeyRotation, "key-rotation", 7*24*time.Hour, "a new signing key takes over after this long (0: never); old keys stay published until their tokens expire")
	fs.DurationVar(&c.RevocationRetention, "revocation-retention", 0, "how long revocation events are kept for WatchRevocations (0: the refresh-token TTL; never less than the access-token TTL)")
	fs.IntVar(&c.HashSlots, "hash-slots", 0, "password hashes computed at once (0: GOMAXPROCS)")
	fs.IntVar(&c.HashQueue, "hash-queue", 0, "sign-ins waiting for a hashing slot before RESOURCE_EXHAUSTED (0: twice the slots)")
	fs.DurationVar(&c.DirectoryTimeout, "directory-timeout", 500*time.Millisecond, "how long a sign-in waits for directory's company settings before using identity's copy")
	fs.IntVar(&c.TrustedProxyHops, "trusted-proxy-hops", 0, "proxies in front of the gateway that append to X-Forwarded-For (an ingress, a load balancer); "+
		"sign-in throttling keys on the client address taken this many entries before the last one, which the gateway appends "+
		"(0: the last entry; set it to the number of such proxies, never more, or clients can choose their address)")
}

// Complete validates and fills defaults.
func (c *Config) Complete() error {
	if err := c.Common.Complete(); err != nil {
		return err
	}
	if c.AccessTokenTTL < time.Minute {
		return fmt.Errorf("access-token-ttl: must be at least 1m")
	}
	if c.RefreshTokenTTL < c.AccessTokenTTL {
		return fmt.Errorf("refresh-token-ttl: must be at least access-token-ttl")
	}
	if c.KeyRotation != 0 && c.KeyRotation < time.Minute {
		return fmt.Errorf("key-rotation: must be 0 or at least 1m")
	}
	if c.TrustedProxyHops < 0 {
		return fmt.Errorf("trusted-proxy-hops: must be 0 or more")
	}
	if c.HashSlots <= 0 {
		c.HashSlots = runtime.GOMAXPROCS(0)
	}
	if c.HashQueue <= 0 {
		c.HashQueue = 2 * c.HashSlots
	}
	if c.SecretKeyFile == "" {
		return fmt.Errorf("secret-key-file: required: identity seals TOTP secrets and token-signing keys with it " +
			"(32 random bytes, hex: openssl rand -hex 32 > key; `make run` makes one in the data folder)")
	}
	return nil
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

// Options let tests and benchmarks replace the process's surroundings.
type Options struct {
	// Listener replaces listening on the configured address (bufconn).
	Listener net.Listener
	// DirectoryConn and NotifyConn replace dialing cfg.DirectoryAddr and
	// cfg.NotifyAddr.
	DirectoryConn grpc.ClientConnInterface
	NotifyConn    grpc.ClientConnInterface
	// Now replaces the clock.
	Now func() time.Time
	// WrapStore wraps the bbolt store (failure injection).
	WrapStore func(domain.Store) domain.Store
	// HashParams replaces argon2id's OWASP parameters (fast tests only).
	HashParams password.Params
	// Auth replaces identity's authenticator (benchmark baseline).
	Auth server.Authenticator
	// Started receives the domain once the server is ready to serve.
	Started func(*domain.Service)
	// SignUpTimeout replaces the sign-up deadline (recovery tests).
	SignUpTimeout time.Duration
}

// Run serves identity until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	return RunWith(ctx, cfg, log, Options{})
}

// RunWith is Run with replaced surroundings. The wiring is every
// service's (runtime/server lifecycle.go): server, telemetry, connections,
// store, background work; closers run in reverse.
func RunWith(ctx context.Context, cfg *Config, log *zap.Logger, opts Options) error {
	box, err := secrets.Load(cfg.SecretKeyFile)
	if err != nil {
		return err
	}
	srv, err := server.New(&cfg.Common, log, server.Options{Listener: opts.Listener, ServiceNames: []string{
		identityv1.IdentityService_ServiceDesc.ServiceName,
		identityv1.IdentityInternalService_ServiceDesc.ServiceName,
		eventsv1.EventsInternalService_ServiceDesc.ServiceName,
	}})
	if err != nil {
		return err
	}
	srv.OnClose(telemetry.Setup(&cfg.Common, log))

	conns := client.NewConns(&cfg.Common, map[string]grpc.ClientConnInterface{"directory": opts.DirectoryConn, "notify": opts.NotifyConn})
	srv.OnClose(conns.Close)
	cs, err := conns.Dial("directory", "notify")
	if err != nil {
		return srv.Abort(err)
	}
	dirConn, notifyConn := cs[0], cs[1]

	bolt, err := boltstore.Open(filepath.Join(cfg.ServiceDataDir(), "identity.db"))
	if err != nil {
		return srv.Abort(err)
	}
	srv.OnClose(bolt.Close)
	var store domain.Store = bolt
	if opts.WrapStore != nil {
		store = opts.WrapStore(bolt)
	}
	events := feed.NewServer("identity", store)
	logins := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_identity_logins_total",
		Help: "Sign-ins (Login) by result."}, []string{"result"})
	for _, r := range domain.LoginResults {
		logins.WithLabelValues(r)
	}
	svc, err := domain.New(ctx, domain.Config{
		PublicURL: cfg.PublicURL, AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL,
		SessionMaxAge: cfg.SessionMaxAge, KeyRotation: cfg.KeyRotation, RevocationRetention: cfg.RevocationRetention,
		DirectoryTimeout: cfg.DirectoryTimeout, HashParams: opts.HashParams, HashSlots: cfg.HashSlots, HashQueue: cfg.HashQueue,
		PlatformAdmins: cfg.PlatformAdmins, SignUpTimeout: opts.SignUpTimeout, Now: opts.Now,
		LoginResult:    func(r string) { logins.WithLabelValues(r).Inc() },
		EventsAppended: events.Wake,
	}, log, store, clients.NewDirectory(dirConn), clients.NewNotifier(notifyConn), box)
	if err != nil {
		return srv.Abort(err)
	}
	var authn server.Authenticator = api.NewAuthenticator(svc)
	if opts.Auth != nil {
		authn = opts.Auth
	}
	srv.SetAuth(authn)
	srv.Registry().MustRegister(logins,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_identity_password_hash_queue",
			Help: "Password hashes waiting for a hashing slot."}, func() float64 { return float64(svc.HashQueue()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_identity_password_hash_refused_total",
			Help: "Sign-ins refused for lack of hashing capacity (HASHING_CAPACITY)."}, func() float64 { return float64(svc.HashRefused()) }))

	bg := server.NewBackground(ctx)
	srv.OnClose(bg.Close)
	bg.Go("identity", func(ctx context.Context) error { svc.Run(ctx); return nil })
	// Watchers of the feeds must not hold the graceful stop open.
	context.AfterFunc(ctx, func() { svc.Stop(); events.Stop() })

	api.Register(srv.GRPC(), svc, api.Options{TrustedProxyHops: cfg.TrustedProxyHops})
	events.Register(srv.GRPC())
	srv.MarkServing()
	if opts.Started != nil {
		opts.Started(svc)
	}
	return bg.Wait(srv.Run(bg.Context()))
}
