// Package app wires the notify service: configuration, the secret key,
// storage, templates, the mail sender, the dispatcher, the bounce reporter,
// the scheduler and its jobs with their upstream clients, the metrics,
// handlers and the shared gRPC server.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/api"
	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/jobs"
	"github.com/vigil/vigil/services/notify/internal/mailer"
	"github.com/vigil/vigil/services/notify/internal/metrics"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/notify/internal/templates"
	"github.com/vigil/vigil/services/notify/internal/upstream"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/secrets"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/telemetry"
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
	// Scheduler runs the scheduled jobs in this process (with several
	// replicas, one is enough; the idempotency keys make more harmless).
	Scheduler     bool
	CatchUpDays   int
	DigestWeekday string
	DigestHour    int
	ReminderHour  int

	digestWeekday time.Weekday

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
	fs.BoolVar(&c.Scheduler, "notify-scheduler", true, "run the scheduled jobs (weekly digest, expiry reminders) in this process")
	fs.IntVar(&c.CatchUpDays, "notify-catch-up-days", 31, "after downtime, how many days back missed job days are still run")
	fs.StringVar(&c.DigestWeekday, "notify-digest-weekday", "monday", "day of the weekly compliance e-mail, in each company's time zone")
	fs.IntVar(&c.DigestHour, "notify-digest-hour", 7, "hour (0-23) of the weekly compliance e-mail, in each company's time zone")
	fs.IntVar(&c.ReminderHour, "notify-reminder-hour", 6, "hour (0-23, UTC) of the daily expiry reminders")
	c.Webhooks.register(fs)
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
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
	case c.CatchUpDays < 1 || c.CatchUpDays > 366:
		return errors.New("notify-catch-up-days: between 1 and 366")
	case c.DigestHour < 0 || c.DigestHour > 23:
		return errors.New("notify-digest-hour: between 0 and 23")
	case c.ReminderHour < 0 || c.ReminderHour > 23:
		return errors.New("notify-reminder-hour: between 0 and 23")
	}
	wd, ok := weekdays[strings.ToLower(c.DigestWeekday)]
	if !ok {
		return errors.New("notify-digest-weekday: a day of the week in English (monday, …)")
	}
	c.digestWeekday = wd
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

// Options let tests replace the process's surroundings.
type Options struct {
	// Listener replaces listening on the configured address (bufconn).
	Listener net.Listener
	// Auth replaces the access-token verifier (tests); it must put the
	// caller in the context with auth.WithPrincipal.
	Auth server.Authenticator
	// IdentityConn, DirectoryConn and VaultConn replace dialing those
	// services (tests serve fakes over bufconn).
	IdentityConn, DirectoryConn, VaultConn grpc.ClientConnInterface
	// Now replaces the scheduler's clock.
	Now func() time.Time
}

// principalFrom reads the caller the interceptor chain authenticated.
func principalFrom(ctx context.Context) (authz.Subject, bool) {
	p, ok := auth.FromContext(ctx)
	return p.Subject(), ok
}

// Run serves notify until ctx ends.
func Run(ctx context.Context, cfg *Config, log *zap.Logger) error {
	return RunWith(ctx, cfg, log, Options{})
}

// RunWith is Run with replaced surroundings. The wiring is every
// service's (runtime/server lifecycle.go): server, telemetry, connections,
// store, background work; closers run in reverse.
func RunWith(ctx context.Context, cfg *Config, log *zap.Logger, opts Options) error {
	// Secrets at rest (issue 7): links of invitations and resets wait in the
	// outbox sealed with the operator's key; without one notify refuses to start.
	box, err := secrets.Load(cfg.SecretKeyFile)
	if err != nil {
		return err
	}
	renderer, err := templates.Load()
	if err != nil {
		return err
	}
	srv, err := server.New(&cfg.Common, log, server.Options{
		Listener: opts.Listener,
		ServiceNames: []string{
			notifyv1.NotificationService_ServiceDesc.ServiceName,
			notifyv1.NotificationInternalService_ServiceDesc.ServiceName,
			notifyv1.JobService_ServiceDesc.ServiceName,
			notifyv1.WebhookService_ServiceDesc.ServiceName,
		},
	})
	if err != nil {
		return err
	}
	srv.OnClose(telemetry.Setup(&cfg.Common, log))

	conns := client.NewConns(&cfg.Common, map[string]grpc.ClientConnInterface{
		"identity": opts.IdentityConn, "directory": opts.DirectoryConn, "vault": opts.VaultConn})
	srv.OnClose(conns.Close)
	cs, err := conns.Dial("identity", "directory", "vault")
	if err != nil {
		return srv.Abort(err)
	}
	identityConn, directoryConn, vaultConn := cs[0], cs[1], cs[2]
	if opts.Auth == nil {
		opts.Auth = &auth.Authenticator{Verifier: auth.NewRemoteVerifier(ctx, identityConn, log)}
	}
	srv.SetAuth(opts.Auth)
	sender, closeSender, err := newSender(cfg, log)
	if err != nil {
		return srv.Abort(err)
	}
	srv.OnClose(closeSender)

	store, err := boltstore.Open(filepath.Join(cfg.ServiceDataDir(), "notify.db"))
	if err != nil {
		return srv.Abort(err)
	}
	srv.OnClose(store.Close)
	log.Info("secrets at rest sealed", zap.String("key_id", box.KeyID()))

	m := metrics.New(srv.Registry())
	m.AddSource(metrics.ChannelEmail, func(ctx context.Context) (metrics.Snapshot, error) {
		st, err := store.Stats(ctx)
		return metrics.Snapshot{Depth: st.Pending, OldestPending: st.OldestPending, DeadLetters: st.DeadLetters}, err
	})
	identity := upstream.NewIdentity(identityConn)
	reporter := notify.NewReporter(store, identity, log.Named("bounces"))
	dispatcher := notify.NewDispatcher(store, renderer, box, sender, log.Named("dispatcher"), notify.DispatcherConfig{
		Workers: cfg.Workers, MaxAttempts: cfg.MaxAttempts, BackoffBase: cfg.BackoffBase, BackoffMax: cfg.BackoffMax,
		OnOutcome: func(result string) { m.Delivered(metrics.ChannelEmail, result) },
		OnBounce:  reporter.Wake,
	})
	svc := notify.NewService(store, renderer, box, log, notify.ServiceOptions{Accepted: dispatcher.Wake})

	directory, vault := upstream.NewDirectory(directoryConn), upstream.NewVault(vaultConn)
	common := jobs.Config{PublicURL: cfg.PublicURL}
	scheduler := schedule.New(store, log.Named("schedule"), schedule.Config{Interval: cfg.ScheduleInterval, CatchUpDays: cfg.CatchUpDays},
		jobs.NewDigest(jobs.DigestConfig{Config: common, Weekday: cfg.digestWeekday, Hour: cfg.DigestHour}, directory, identity, vault, svc, log.Named("digest")),
		jobs.NewReminders(jobs.RemindersConfig{Config: common, Hour: cfg.ReminderHour}, directory, identity, vault, svc, log.Named("reminders")),
	)
	if opts.Now != nil {
		scheduler.SetClock(opts.Now)
	}
	hooks, err := newWebhooks(cfg, log, srv, svc, box, func(result string) { m.Delivered(metrics.ChannelWebhook, result) }, conns)
	if err != nil {
		return srv.Abort(err)
	}
	srv.OnClose(hooks.close)

	// The background work stops (a send in progress records its outcome)
	// before the stores close.
	bg := server.NewBackground(ctx)
	srv.OnClose(bg.Close)
	bg.Go("dispatcher", dispatcher.Run)
	bg.Go("bounce reporter", reporter.Run)
	if cfg.Scheduler {
		bg.Go("scheduler", scheduler.Run)
	} else {
		log.Info("scheduled jobs are off in this process (notify-scheduler=false); they run by hand only")
	}
	bg.Go("webhooks", hooks.run)

	notifyv1.RegisterNotificationServiceServer(srv.GRPC(), api.NewNotificationServer(svc, principalFrom))
	notifyv1.RegisterNotificationInternalServiceServer(srv.GRPC(), api.NewInternalServer(svc))
	notifyv1.RegisterJobServiceServer(srv.GRPC(), api.NewJobServer(scheduler, principalFrom))
	srv.MarkServing()
	return bg.Wait(srv.Run(bg.Context()))
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
