package domain

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/identity/internal/password"
	"github.com/vigil/vigil/services/identity/internal/throttle"
	"github.com/vigil/vigil/services/runtime/auth"
)

// Directory is what identity needs of the directory service.
type Directory interface {
	// CreateCompany creates a company for a self sign-up (R-DIR-1 checks,
	// ALREADY_EXISTS for a registered number); requestID makes retries safe.
	CreateCompany(ctx context.Context, d CompanyDraft, requestID string) (*Company, error)
	// DeleteCompany removes a company CreateCompany made (compensation);
	// a missing company is not an error.
	DeleteCompany(ctx context.Context, id string) error
	// GetCompany reads a company as the bearer of an access token.
	GetCompany(ctx context.Context, id, bearer string) (*Company, error)
}

// CompanyDraft is the company part of a sign-up.
type CompanyDraft struct {
	LegalName          string
	Kind               CompanyKind
	Country            string
	RegistrationNumber string
	Address            string
	TimeZone           string
	Language           string
}

// ErrPermanent marks a notification the notification service refused for
// good (e.g. invalid data): retrying cannot help, so the relay drops it.
var ErrPermanent = errors.New("notification refused for good")

// Notifier hands a notification to the notification service, which stores
// it durably before answering.
type Notifier interface {
	Enqueue(ctx context.Context, n *Notification) error
}

// Config tunes the service; zero values take the defaults.
type Config struct {
	PublicURL           string
	AccessTTL           time.Duration // 15 min
	RefreshTTL          time.Duration // idle session expiry, 7 days
	SessionMaxAge       time.Duration // 30 days
	KeyRotation         time.Duration // 0: never rotate
	RevocationRetention time.Duration // default RefreshTTL, at least AccessTTL
	ResetTTL            time.Duration // 30 min (R-ID-6)
	InvitationTTL       time.Duration // 7 days (R-ID-6)
	DirectoryTimeout    time.Duration // 500 ms: directory's answer at sign-in
	HashParams          password.Params
	HashSlots           int // default GOMAXPROCS (set by the caller)
	HashQueue           int // default 2×slots
	Now                 func() time.Time
}

func (c *Config) complete() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, 15*time.Minute)
	def(&c.RefreshTTL, 7*24*time.Hour)
	def(&c.SessionMaxAge, 30*24*time.Hour)
	def(&c.RevocationRetention, c.RefreshTTL)
	c.RevocationRetention = max(c.RevocationRetention, c.AccessTTL+time.Minute)
	def(&c.ResetTTL, 30*time.Minute)
	def(&c.InvitationTTL, 7*24*time.Hour)
	def(&c.DirectoryTimeout, 500*time.Millisecond)
	if c.HashParams == (password.Params{}) {
		c.HashParams = password.OWASP
	}
	c.HashSlots = max(c.HashSlots, 1)
	if c.HashQueue <= 0 {
		c.HashQueue = 2 * c.HashSlots
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
}

// Caller is who makes a request, as the handlers learned it.
type Caller struct {
	Principal     auth.Principal
	Authenticated bool
	RequestID     string
	ClientAddr    string
}

// Service is identity's domain.
type Service struct {
	cfg      Config
	log      *zap.Logger
	store    Store
	dir      Directory
	notifier Notifier
	now      func() time.Time

	policy    *password.Policy
	pool      *password.Pool
	dummyHash string
	accounts  *throttle.Limiter
	addresses *throttle.Limiter
	resets    *throttle.Limiter

	keys        *keyring
	revocations *auth.Revocations
	verifier    *auth.Verifier
	feed        feed

	outboxWake chan struct{}
	async      chan func(context.Context)
	stopping   chan struct{}
	stopOnce   sync.Once
	bg         sync.WaitGroup
}

// New builds the service over an open store, loading (or creating) the
// signing keys.
func New(ctx context.Context, cfg Config, log *zap.Logger, store Store, dir Directory, notifier Notifier) (*Service, error) {
	cfg.complete()
	s := &Service{
		cfg: cfg, log: log, store: store, dir: dir, notifier: notifier, now: cfg.Now,
		policy:      password.NewPolicy(),
		pool:        password.NewPool(cfg.HashSlots, cfg.HashQueue),
		accounts:    throttle.New(throttle.AccountConfig, cfg.Now),
		addresses:   throttle.New(throttle.AddressConfig, cfg.Now),
		resets:      throttle.New(resetThrottle, cfg.Now),
		revocations: auth.NewRevocations(),
		outboxWake:  make(chan struct{}, 1),
		async:       make(chan func(context.Context), 1024),
		stopping:    make(chan struct{}),
	}
	s.feed.ch = make(chan struct{})
	// Unknown e-mails are checked against this hash so that they cost what
	// a wrong password costs (R-ID-5).
	dummy, err := password.Hash("vigil-dummy-password-for-timing", cfg.HashParams)
	if err != nil {
		return nil, err
	}
	s.dummyHash = dummy
	s.keys = &keyring{store: store, rotation: cfg.KeyRotation, accessTTL: cfg.AccessTTL}
	if err := s.keys.load(ctx, s.now()); err != nil {
		return nil, err
	}
	if err := s.loadRevocations(ctx); err != nil {
		return nil, err
	}
	s.verifier = auth.NewVerifier(auth.KeyFunc(s.keys.publicKey), s.revocations)
	return s, nil
}

// resetThrottle limits reset e-mails per address silently: 3 an hour.
var resetThrottle = throttle.Config{FreeFailures: 3, BaseDelay: time.Hour, MaxDelay: time.Hour,
	LockAfter: 1 << 30, LockFor: time.Hour, Forget: time.Hour, MaxKeys: 100_000}

// Verifier checks identity's own access tokens: its keys, its revocations.
func (s *Service) Verifier() *auth.Verifier { return s.verifier }

// Run does the background work until ctx ends: the e-mail outbox relay,
// asynchronous requests, and pruning of expired sessions, link tokens,
// revocation events and retired keys.
func (s *Service) Run(ctx context.Context) {
	s.bg.Add(3)
	go func() { defer s.bg.Done(); s.relayOutbox(ctx) }()
	go func() { defer s.bg.Done(); s.runAsync(ctx) }()
	go func() { defer s.bg.Done(); s.prune(ctx) }()
	<-ctx.Done()
	s.bg.Wait()
}

func (s *Service) runAsync(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case fn := <-s.async:
			fn(ctx)
		}
	}
}

func (s *Service) prune(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		err := s.store.Update(ctx, func(tx Tx) error {
			if err := tx.DeleteExpired(now); err != nil {
				return err
			}
			return tx.PruneRevocations(now.Add(-s.cfg.RevocationRetention))
		})
		if err != nil {
			s.log.Warn("prune", zap.Error(err))
		}
		if _, err := s.keys.current(ctx, now); err != nil {
			s.log.Warn("key rotation", zap.Error(err))
		}
	}
}

// Stop ends the streams that would otherwise hold a graceful shutdown
// open (WatchRevocations); callers reconnect to another replica.
func (s *Service) Stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// txn is one write transaction with the side effects to run after commit.
type txn struct {
	Tx
	s      *Service
	caller Caller
	now    time.Time
	revs   []*RevocationEvent
	mail   bool
}

// update runs fn in one write transaction; once committed, the revocation
// events it appended are applied to identity's own verifier and pushed to
// every watcher, and queued e-mails are relayed.
func (s *Service) update(ctx context.Context, c Caller, fn func(t *txn) error) error {
	var t *txn
	err := s.store.Update(ctx, func(tx Tx) error {
		t = &txn{Tx: tx, s: s, caller: c, now: s.now()}
		return fn(t)
	})
	if err != nil {
		return err
	}
	for _, ev := range t.revs {
		s.revocations.Apply(revocationProto(ev))
	}
	if len(t.revs) > 0 {
		s.feed.notify()
	}
	if t.mail {
		select {
		case s.outboxWake <- struct{}{}:
		default:
		}
	}
	return nil
}

func (s *Service) view(ctx context.Context, fn func(tx Tx) error) error {
	return s.store.View(ctx, fn)
}

// revoke appends a revocation event in the transaction.
func (t *txn) revoke(ev RevocationEvent) error {
	if ev.NotBefore.IsZero() {
		ev.NotBefore = t.now
	}
	if err := t.AppendRevocation(&ev); err != nil {
		return err
	}
	t.revs = append(t.revs, &ev)
	return nil
}

// audit appends an audit event for company (an id) in the transaction.
func (t *txn) audit(company, action, target string, detail map[string]string) error {
	e := &AuditEvent{Company: company, Action: action, Target: target, Detail: detail, Time: t.now, RequestID: t.caller.RequestID}
	if t.caller.Authenticated {
		e.Actor = t.caller.Principal.User
		if l, err := t.Login(strings.TrimPrefix(e.Actor, "users/")); err == nil {
			e.ActorDisplayName = l.DisplayName()
		}
	}
	return t.AppendAudit(e)
}

// auditAs is audit with an explicit actor (sign-in, internal calls).
func (t *txn) auditAs(actor *Login, company, action, target string, detail map[string]string) error {
	e := &AuditEvent{Company: company, Action: action, Target: target, Detail: detail, Time: t.now, RequestID: t.caller.RequestID}
	if actor != nil {
		e.Actor, e.ActorDisplayName = UserName(actor.ID), actor.DisplayName()
	}
	return t.AppendAudit(e)
}

// queue puts a notification in the outbox, committed with the change.
func (t *txn) queue(n *Notification) error {
	n.ID = newID()
	n.CreateTime = t.now
	t.mail = true
	return t.PutNotification(n)
}

func revocationProto(ev *RevocationEvent) *identityv1.RevocationEvent {
	p := &identityv1.RevocationEvent{Sequence: ev.Seq, User: ev.User, Company: ev.Company, Kind: ev.Kind,
		Role: identityv1.Role(ev.Role), Session: ev.Session}
	p.NotBefore = timestamppb.New(ev.NotBefore)
	return p
}

// loadRevocations replays the retained log into identity's own verifier.
func (s *Service) loadRevocations(ctx context.Context) error {
	var after uint64
	for {
		var evs []*RevocationEvent
		if err := s.view(ctx, func(tx Tx) error {
			var err error
			evs, err = tx.Revocations(after, 1000)
			return err
		}); err != nil {
			return err
		}
		for _, ev := range evs {
			s.revocations.Apply(revocationProto(ev))
			after = ev.Seq
		}
		if len(evs) < 1000 {
			return nil
		}
	}
}
