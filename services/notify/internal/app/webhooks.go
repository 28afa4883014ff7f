package app

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/api"
	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/templates"
	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/secrets"
	"github.com/vigil/vigil/services/runtime/server"
)

// WebhookConfig tunes webhook delivery (R-NOTIF-6); whether private
// addresses may be reached and which extra CA endpoints may present are in
// the common configuration (VIGIL_WEBHOOK_ALLOW_PRIVATE, VIGIL_WEBHOOK_CA_FILE).
type WebhookConfig struct {
	Workers      int
	PerEndpoint  int
	Timeout      time.Duration
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	RetryFor     time.Duration
	DisableAfter time.Duration
}

func (c *WebhookConfig) register(fs *flag.FlagSet) {
	fs.IntVar(&c.Workers, "webhook-workers", 16, "concurrent webhook deliveries, all endpoints together")
	fs.IntVar(&c.PerEndpoint, "webhook-endpoint-concurrency", 4, "concurrent deliveries to one webhook endpoint")
	fs.DurationVar(&c.Timeout, "webhook-timeout", 10*time.Second, "bound on one webhook delivery attempt")
	fs.DurationVar(&c.BackoffBase, "webhook-backoff-base", 30*time.Second, "wait after a first failed webhook attempt; doubles each time, with jitter")
	fs.DurationVar(&c.BackoffMax, "webhook-backoff-max", time.Hour, "longest wait between webhook attempts")
	fs.DurationVar(&c.RetryFor, "webhook-retry-for", 72*time.Hour, "how long a webhook delivery is retried before it is dead")
	fs.DurationVar(&c.DisableAfter, "webhook-disable-after", 72*time.Hour, "how long an endpoint fails before it is disabled")
}

func (c *WebhookConfig) complete() error {
	switch {
	case c.Workers < 1 || c.Workers > 1024:
		return errors.New("webhook-workers: between 1 and 1024")
	case c.PerEndpoint < 1 || c.PerEndpoint > c.Workers:
		return errors.New("webhook-endpoint-concurrency: between 1 and webhook-workers")
	case c.Timeout <= 0:
		return errors.New("webhook-timeout: must be positive")
	case c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase:
		return errors.New("webhook-backoff-base must be positive and at most webhook-backoff-max")
	case c.RetryFor <= 0 || c.DisableAfter <= 0:
		return errors.New("webhook-retry-for and webhook-disable-after: must be positive")
	}
	return nil
}

// feedSources are the services whose events integrations receive.
var feedSources = []string{"identity", "directory", "vault"}

// webhookParts is the running webhook machinery: the store, the relay's
// followers and the dispatcher.
type webhookParts struct {
	store      *boltstore.WebhookStore
	dispatcher *webhooks.Dispatcher
	followers  []*feed.Follower
	client     *webhooks.Client
}

// newWebhooks opens webhooks.db, registers WebhookService on srv and builds
// the followers and the dispatcher; run starts them. Signing secrets are
// sealed with box; the Administrators of a disabled endpoint are told
// through mail, in process. conns are the process's connections to
// identity, directory and vault.
func newWebhooks(cfg *Config, log *zap.Logger, srv *server.Server, mail *notify.Service, box *secrets.Box, observe func(string),
	conns *client.Conns) (*webhookParts, error) {
	roots, err := webhookRoots(cfg.WebhookCAFile)
	if err != nil {
		return nil, err
	}
	store, err := boltstore.OpenWebhooks(filepath.Join(cfg.ServiceDataDir(), "webhooks.db"))
	if err != nil {
		return nil, err
	}
	p := &webhookParts{store: store}
	identity, err := conns.Get("identity")
	if err != nil {
		_ = p.close()
		return nil, err
	}
	p.client = webhooks.NewClient(webhooks.ClientOptions{
		Guard: webhooks.Guard{AllowPrivate: cfg.WebhookAllowPrivate}, RootCAs: roots,
		Timeout: cfg.Webhooks.Timeout, PerHost: cfg.Webhooks.PerEndpoint,
	})
	p.dispatcher = webhooks.NewDispatcher(webhooks.DispatcherOptions{
		Store: store, Box: box, Poster: p.client, Log: log.Named("webhooks"), Observe: observe,
		Notifier: &adminMailer{identity: identityv1.NewIdentityInternalServiceClient(identity), mail: mail, link: cfg.PublicURL, log: log},
	}, webhooks.DispatcherConfig{
		Workers: cfg.Webhooks.Workers, PerEndpoint: cfg.Webhooks.PerEndpoint,
		BackoffBase: cfg.Webhooks.BackoffBase, BackoffMax: cfg.Webhooks.BackoffMax,
		RetryFor: cfg.Webhooks.RetryFor, DisableAfter: cfg.Webhooks.DisableAfter,
	})
	svc := webhooks.NewService(store, box, log.Named("webhooks"), webhooks.ServiceOptions{
		AllowPrivate: cfg.WebhookAllowPrivate, Poke: p.dispatcher.Poke,
	})
	notifyv1.RegisterWebhookServiceServer(srv.GRPC(), api.NewWebhookServer(svc, principalFrom))

	relay := webhooks.NewRelay(store, log.Named("relay"), p.dispatcher.Wake)
	for _, source := range feedSources {
		c, err := conns.Get(source)
		if err != nil {
			_ = p.close()
			return nil, err
		}
		p.followers = append(p.followers, &feed.Follower{
			Client: eventsv1.NewEventsInternalServiceClient(c), Name: source, Types: feed.Public,
			Cursor: relay.Cursor(source), HandleBatch: relay.HandleBatch(source), Log: log.Named("relay"),
		})
	}
	return p, nil
}

// run follows the feeds and delivers until ctx ends.
func (p *webhookParts) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, f := range p.followers {
		wg.Add(1)
		go func() { defer wg.Done(); f.Run(ctx) }()
	}
	err := p.dispatcher.Run(ctx)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("webhook dispatcher: %w", err)
	}
	return nil
}

// close closes the webhook client and store, once run has returned (the
// background work stops before the closers that come before it).
func (p *webhookParts) close() error {
	if p.client != nil {
		p.client.Close()
	}
	return p.store.Close()
}

// webhookRoots are the CAs endpoints may chain to: the system's and the
// operator's extra CA (VIGIL_WEBHOOK_CA_FILE).
func webhookRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil // the system's
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("webhook-ca-file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("webhook-ca-file: no certificate found")
	}
	return pool, nil
}

// adminMailer tells a company's active Administrators that one of its
// webhooks was disabled, through notify's own outbox (in process, the path
// EnqueueNotification takes), once per disabling (idempotency key).
type adminMailer struct {
	identity identityv1.IdentityInternalServiceClient
	mail     *notify.Service
	link     string
	log      *zap.Logger
}

// WebhookDisabled implements webhooks.Notifier.
func (m *adminMailer) WebhookDisabled(ctx context.Context, e webhooks.Endpoint) error {
	// A service's own question: no caller's token to forward.
	ctx = client.AsService(ctx)
	var to []notify.Recipient
	token := ""
	for {
		resp, err := m.identity.ListMembers(ctx, &identityv1.ListMembersRequest{
			Company: e.Company, State: identityv1.User_STATE_ACTIVE, PageSize: 1000, PageToken: token,
		})
		if err != nil {
			return fmt.Errorf("list the Administrators of %s: %w", e.Company, err)
		}
		for _, u := range resp.GetMembers() {
			if u.GetRole() != identityv1.Role_ROLE_ADMINISTRATOR || u.GetEmail() == "" {
				continue
			}
			r := notify.Recipient{Email: u.GetEmail(), Language: u.GetLanguage(),
				Name: strings.TrimSpace(u.GetGivenName() + " " + u.GetFamilyName())}
			if _, user, ok := names.Member.Match(u.GetName()); ok {
				r.User = names.User.Format(user)
			}
			to = append(to, r)
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(to) == 0 {
		m.log.Warn("a disabled webhook's company has no active Administrator to tell", zap.String("webhook", e.Name()))
		return nil
	}
	_, _, err := m.mail.Enqueue(ctx, notify.EnqueueRequest{
		IdempotencyKey: fmt.Sprintf("webhook-disabled:%s:%d", e.Name(), e.DisableTime.UnixNano()),
		Template:       templates.TemplateWebhookDisabled,
		Recipients:     to,
		Data:           map[string]any{"webhook_url": e.URL, "reason": e.DisabledReason, "link": m.link},
		Company:        e.Company,
	})
	return err
}
