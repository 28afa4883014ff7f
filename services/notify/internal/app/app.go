// Package app wires the notify service: configuration, storage, templates,
// the mail sender, the dispatcher, the scheduler, handlers and the shared
// gRPC server.
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
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/api"
	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/mailer"
	"github.com/vigil/vigil/services/notify/internal/metrics"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/notify/internal/templates"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/server"
)

// Config is notify's configuration: the common flags and notify's own.
type Config struct {
	config.Common

	// SMTPTLS is none, starttls or tls; empty picks starttls, or none for a
	// loopback SMTP server.
	SMTPTLS     string
	SMTPTimeout time.Duration

	Workers     int
	MaxAttempts int
	BackoffBase time.Duration
	BackoffMax  time.Duration

	ScheduleInterval time.Duration

	Webhooks WebhookConfig
}

// Register adds the flags (and so the VIGIL_* variables) of Config to fs.
func (c *Config) Register(fs *flag.FlagSet) {
	c.Common.Register(fs)
	fs.StringVar(&c.SMTPTLS, "smtp-tls", "", "SMTP transport security: none, starttls or tls (empty: starttls, none on loopback)")
	fs.DurationVar(&c.SMTPTimeout, "smtp-timeout", time.Minute, "bound on one SMTP delivery attempt")
	fs.IntVar(&c.Workers, "notify-workers", 4, "concurrent e-mail deliveries")
	fs.IntVar(&c.MaxAttempts, "notify-max-attempts", 12, "delivery attempts before a temporary failure becomes a dead letter")
	fs.DurationVar(&c.BackoffBase, "notify-backoff-base", 30*time.Second, "wait after a first failed attempt; doubles each time")
	fs.DurationVar(&c.BackoffMax, "notify-backoff-max", time.Hour, "longest wait between attempts")
	fs.DurationVar(&c.ScheduleInterval, "notify-schedule-interval", time.Minute, "how often periodic jobs are checked")
	c.Webhooks.register(fs)
}

// Complete validates the configuration and fills what derives from it.
func (c *Config) Complete() error {
	if err := c.Common.Complete(); err != nil {
		return err
	}
	if c.SMTPTLS == "" {
		c.SMTPTLS = string(mailer.TLSStartTLS)
		if c.SMTPAddr == "" || config.IsLoopback(c.SMTPAddr) {
			c.SMTPTLS = string(mailer.TLSNone)
		}
	}
	mode, err := mailer.ParseTLSMode(c.SMTPTLS)
	if err != nil {
		return fmt.Errorf("smtp-tls: %w", err)
	}
	c.SMTPTLS = string(mode)
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			return fmt.Errorf("smtp-addr: %w", err)
		}
		if c.SMTPUsername != "" && mode == mailer.TLSNone && !config.IsLoopback(c.SMTPAddr) {
			return errors.New("smtp-username over plaintext to a remote server: set smtp-tls to starttls or tls")
		}
	}
	switch {
	case c.Workers < 1 || c.Workers > 256:
		return errors.New("notify-workers: between 1 and 256")
	case c.MaxAttempts < 1:
		return errors.New("notify-max-attempts: at least 1")
	case c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase:
		return errors.New("notify-backoff-base must be positive and at most notify-backoff-max")
	case c.SMTPTimeout <= 0:
		return errors.New("smtp-timeout: must be positive")
	case c.ScheduleInterval <= 0:
		return errors.New("notify-schedule-interval: must be positive")
	}
	return c.Webhooks.complete()
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

// MailDir is where e-mails are written when no SMTP server is configured.
func (c *Config) MailDir() string { return filepath.Join(c.ServiceDataDir(), "outbox-mail") }

// Options are the parts tests replace.
type Options struct {
	// Listener, when set, is served instead of the configured address.
	Listener net.Listener
	// Authenticator replaces the access-token verifier (tests); it must put
	// the caller in the context with auth.WithPrincipal.
	Authenticator server.Authenticator
	// Jobs are the periodic jobs (none yet).
	Jobs []schedule.Job
	// IdentityConn, DirectoryConn and VaultConn replace the connections to
	// those services (tests serve fakes over bufconn).
	IdentityConn, DirectoryConn, VaultConn grpc.ClientConnInterface
}

// principalFrom reads the caller the interceptor chain authenticated.
func principalFrom(ctx context.Context) (string, bool, bool) {
	p, ok := auth.FromContext(ctx)
	return p.User, p.PlatformAdmin, ok
}

// Run serves notify until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger, opts ...Options) error {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Authenticator == nil {
		identityConn, err := client.Dial(&cfg.Common, cfg.IdentityAddr)
		if err != nil {
			return err
		}
		defer identityConn.Close()
		o.Authenticator = &auth.Authenticator{Verifier: auth.NewRemoteVerifier(ctx, identityConn, log)}
	}
	renderer, err := templates.Load()
	if err != nil {
		return err
	}
	sender, closeSender, err := newSender(cfg, log)
	if err != nil {
		return err
	}
	srv, err := server.New(&cfg.Common, log, server.Options{
		Listener: o.Listener,
		Auth:     o.Authenticator,
		ServiceNames: []string{
			notifyv1.NotificationService_ServiceDesc.ServiceName,
			notifyv1.NotificationInternalService_ServiceDesc.ServiceName,
			notifyv1.WebhookService_ServiceDesc.ServiceName,
		},
	})
	if err != nil {
		return err
	}
	store, err := boltstore.Open(filepath.Join(cfg.ServiceDataDir(), "notify.db"))
	if err != nil {
		return err
	}

	dispatcher := notify.NewDispatcher(store, renderer, sender, log.Named("dispatcher"), notify.DispatcherConfig{
		Workers: cfg.Workers, MaxAttempts: cfg.MaxAttempts, BackoffBase: cfg.BackoffBase, BackoffMax: cfg.BackoffMax,
	})
	svc := notify.NewService(store, renderer, log, notify.ServiceOptions{Accepted: dispatcher.Wake})
	scheduler := schedule.New(store, log.Named("schedule"), cfg.ScheduleInterval, o.Jobs...)
	notifyv1.RegisterNotificationServiceServer(srv.GRPC(), api.NewNotificationServer(svc, principalFrom))
	notifyv1.RegisterNotificationInternalServiceServer(srv.GRPC(), api.NewInternalServer(svc))
	m := metrics.New(srv.Registry())
	box, err := secretBox(cfg, log)
	if err != nil {
		_ = store.Close()
		return err
	}
	hooks, err := newWebhooks(cfg, log, srv, svc, box, func(result string) { m.Delivered(metrics.ChannelWebhook, result) },
		map[string]grpc.ClientConnInterface{"identity": o.IdentityConn, "directory": o.DirectoryConn, "vault": o.VaultConn})
	if err != nil {
		_ = store.Close()
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	bg, stopBg := context.WithCancel(gctx)
	defer stopBg()
	dispatcherDone, schedulerDone := make(chan struct{}), make(chan struct{})
	g.Go(func() error {
		defer close(dispatcherDone)
		if err := dispatcher.Run(bg); err != nil {
			return fmt.Errorf("dispatcher: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		defer close(schedulerDone)
		return scheduler.Run(bg)
	})
	g.Go(func() error { return hooks.run(bg) })
	// Closers run last-registered first: the background work stops (a send
	// in progress records its outcome) before the store closes.
	srv.OnClose(store.Close)
	srv.OnClose(hooks.close)
	srv.OnClose(func() error {
		stopBg()
		<-dispatcherDone
		<-schedulerDone
		return closeSender()
	})
	srv.MarkServing()
	g.Go(func() error { return srv.Run(gctx) })
	return g.Wait()
}

// newSender is SMTP when an SMTP server is configured, .eml files otherwise.
func newSender(cfg *Config, log *zap.Logger) (notify.Sender, func() error, error) {
	if cfg.SMTPAddr == "" {
		files, err := mailer.NewFiles(cfg.MailDir(), cfg.SMTPFrom)
		if err != nil {
			return nil, nil, err
		}
		log.Info("no SMTP server configured: e-mails are written as files", zap.String("folder", files.Dir()))
		return files, func() error { return nil }, nil
	}
	s, err := mailer.NewSMTP(mailer.SMTPConfig{
		Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		TLS: mailer.TLSMode(cfg.SMTPTLS), Timeout: cfg.SMTPTimeout, MaxIdle: cfg.Workers,
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("e-mails go to SMTP", zap.String("addr", cfg.SMTPAddr), zap.String("tls", cfg.SMTPTLS))
	return s, s.Close, nil
}
