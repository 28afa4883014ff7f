package domain

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/identity/internal/password"
	"github.com/vigil/vigil/services/identity/internal/throttle"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/outbox"
)

// Directory is what identity needs of the directory service.
type Directory interface {
	// CreateCompany creates a company for a self sign-up (R-DIR-1 checks,
	// ALREADY_EXISTS for a registered number); the same requestID returns
	// the company the first call created.
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

// ErrCompanyRefused marks directory's definitive refusal of a company
// (invalid, already registered): it created nothing.
var ErrCompanyRefused = errors.New("directory refused the company")

// Notifier hands a notification to the notification service, which stores
// it durably before answering.
type Notifier interface {
	Enqueue(ctx context.Context, n *Notification) error
}

// Sealer seals and opens secrets at rest with the operator's key
// (runtime/secrets.Box): TOTP secrets and token-signing key seeds never
// reach the store in clear (issue 7 point 8).
type Sealer interface {
	Seal(plaintext, aad []byte) []byte
	Open(sealed, aad []byte) ([]byte, error)
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
	// SignUpTimeout bounds a sign-up from its pending record to its commit;
	// a record older than that is recovered (issue 7 point 6). 1 min.
	SignUpTimeout time.Duration
	// EventRetention is how long the event feed keeps events (30 days).
	EventRetention time.Duration
	// MaxSessions bounds a login's sessions; beyond it the oldest ends (32).
	MaxSessions int
	// SignInPatience is how long an attempt waits for the attempts in
	// flight on its account before answering SIGN_IN_BUSY (2 s).
	SignInPatience time.Duration
	// PlatformAdmins are the e-mails of the platform administrators
	// (R-ID-11, VIGIL_PLATFORM_ADMINS); compared normalized.
	PlatformAdmins []string
	HashParams     password.Params
	HashSlots      int // default GOMAXPROCS (set by the caller)
	HashQueue      int // default 2×slots
	Now            func() time.Time
	// LoginResult hears the outcome of every Login (a metric label).
	LoginResult func(result string)
	// EventsAppended is called after a commit that appended events (the
	// feed server's Wake).
	EventsAppended func()
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
	def(&c.SignUpTimeout, time.Minute)
	def(&c.EventRetention, 30*24*time.Hour)
	def(&c.SignInPatience, 2*time.Second)
	if c.MaxSessions <= 0 {
		c.MaxSessions = 32
	}
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
	if c.LoginResult == nil {
		c.LoginResult = func(string) {}
	}
	if c.EventsAppended == nil {
		c.EventsAppended = func() {}
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
	sealer   Sealer
	now      func() time.Time

	policy         *password.Policy
	pool           *password.Pool
	dummyHash      string
	accounts       *throttle.Limiter
	addresses      *throttle.Limiter
	resets         *throttle.Limiter
	platformAdmins map[string]bool

	keys        *keyring
	revocations *auth.Revocations
	verifier    *auth.Verifier
	revWake     wake

	relay    *outbox.Relay[*Notification, *Notification] // nil without a notifier
	async    chan func(context.Context)
	stopping chan struct{}
	stopOnce sync.Once
	bg       sync.WaitGroup
}

// New builds the service over an open store, sealing any secret an older
// version left in clear and loading (or creating) the signing keys.
func New(ctx context.Context, cfg Config, log *zap.Logger, store Store, dir Directory, notifier Notifier, sealer Sealer) (*Service, error) {
	if sealer == nil {
		return nil, errors.New("identity: a secret key is required to seal secrets at rest")
	}
	cfg.complete()
	s := &Service{
		cfg: cfg, log: log, store: store, dir: dir, notifier: notifier, sealer: sealer, now: cfg.Now,
		policy:         password.NewPolicy(),
		pool:           password.NewPool(cfg.HashSlots, cfg.HashQueue),
		accounts:       throttle.New(throttle.AccountConfig, cfg.Now),
		addresses:      throttle.New(throttle.AddressConfig, cfg.Now),
		resets:         throttle.New(resetThrottle, cfg.Now),
		platformAdmins: map[string]bool{},
		revocations:    auth.NewRevocations(),
		async:          make(chan func(context.Context), 1024),
		stopping:       make(chan struct{}),
	}
	if notifier != nil {
		s.relay = s.newRelay()
	}
	for _, e := range cfg.PlatformAdmins {
		if e = NormalizeEmail(e); e != "" {
			s.platformAdmins[e] = true
		}
	}
	s.revWake.ch = make(chan struct{})
	// Unknown e-mails are checked against this hash so that they cost what
	// a wrong password costs (R-ID-5).
	dummy, err := password.Hash("vigil-dummy-password-for-timing", cfg.HashParams)
	if err != nil {
		return nil, err
	}
	s.dummyHash = dummy
	if err := s.sealLegacySecrets(ctx); err != nil {
		return nil, err
	}
	s.keys = &keyring{store: store, sealer: sealer, rotation: cfg.KeyRotation, accessTTL: cfg.AccessTTL}
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

// HashQueue is how many password hashes wait for a slot now.
func (s *Service) HashQueue() int { return s.pool.Waiting() }

// HashRefused counts the sign-ins refused for lack of hashing capacity.
func (s *Service) HashRefused() uint64 { return s.pool.Refused() }

// Run does the background work until ctx ends: the e-mail outbox relay,
// asynchronous requests, the recovery of abandoned sign-ups, and pruning of
// expired sessions, link tokens, revocation and feed events and retired
// keys.
func (s *Service) Run(ctx context.Context) {
	s.bg.Add(3)
	go func() {
		defer s.bg.Done()
		if s.relay != nil {
			s.relay.Run(ctx)
		}
	}()
	go func() { defer s.bg.Done(); s.runAsync(ctx) }()
	go func() { defer s.bg.Done(); s.housekeeping(ctx) }()
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

// housekeeping recovers abandoned sign-ups at once (a previous process may
// have crashed in one) and then, every minute, prunes and recovers again.
func (s *Service) housekeeping(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := s.RecoverSignUps(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sign-up recovery", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Prune(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("prune", zap.Error(err))
		}
	}
}

// Prune deletes what has expired: sessions and link tokens (through their
// expiry index), revocation events past their retention, feed events past
// theirs (in bounded transactions), and rotates the signing key when due.
func (s *Service) Prune(ctx context.Context) error {
	now := s.now()
	err := s.store.Update(ctx, func(tx Tx) error {
		if err := tx.DeleteExpired(now); err != nil {
			return err
		}
		return tx.PruneRevocations(now.Add(-s.cfg.RevocationRetention))
	})
	if err != nil {
		return err
	}
	for {
		var n int
		if err := s.store.Update(ctx, func(tx Tx) error {
			var err error
			n, err = tx.PruneEvents(now.Add(-s.cfg.EventRetention), 1000)
			return err
		}); err != nil {
			return err
		}
		if n < 1000 {
			break
		}
	}
	_, err = s.keys.current(ctx, now)
	return err
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
	events int
	mail   bool
	// codeFailed is the e-mail of a login whose TOTP code was found wrong
	// in the transaction: counted as a failed attempt once it rolled back.
	codeFailed string
}

// update runs fn in one write transaction; once committed, the revocation
// events it appended are applied to identity's own verifier and pushed to
// every watcher, feed watchers are woken, and queued e-mails are relayed.
func (s *Service) update(ctx context.Context, c Caller, fn func(t *txn) error) error {
	var t *txn
	err := s.store.Update(ctx, func(tx Tx) error {
		t = &txn{Tx: tx, s: s, caller: c, now: s.now()}
		return fn(t)
	})
	if err != nil {
		if t != nil && t.codeFailed != "" {
			s.failed(t.codeFailed, c.ClientAddr)
		}
		return err
	}
	for _, ev := range t.revs {
		s.revocations.ApplyRevocation(*ev)
	}
	if len(t.revs) > 0 {
		s.revWake.notify()
	}
	if t.events > 0 {
		s.cfg.EventsAppended()
	}
	if t.mail && s.relay != nil {
		s.relay.Wake()
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

// emit appends an event to identity's feed in the transaction (runtime/feed).
func (t *txn) emit(e feed.Event) error {
	e.Time = t.now
	if err := t.AppendEvent(&e); err != nil {
		return err
	}
	t.events++
	return nil
}

// audit appends an audit event for company (an id) in the transaction, with
// the caller as actor, named as that company shows it.
func (t *txn) audit(company, action, target string, detail map[string]string) error {
	e := &AuditEvent{Company: company, Action: action, Target: target, Detail: detail, Time: t.now, RequestID: t.caller.RequestID}
	if t.caller.Authenticated {
		e.Actor = t.caller.Principal.User
		e.ActorDisplayName = t.nameIn(company, strings.TrimPrefix(e.Actor, "users/"))
	}
	return t.AppendAudit(e)
}

// auditAs is audit with an explicit actor (sign-in, internal calls).
func (t *txn) auditAs(actor *Login, company, action, target string, detail map[string]string) error {
	e := &AuditEvent{Company: company, Action: action, Target: target, Detail: detail, Time: t.now, RequestID: t.caller.RequestID}
	if actor != nil {
		e.Actor, e.ActorDisplayName = names.User.Format(actor.ID), t.nameIn(company, actor.ID)
	}
	return t.AppendAudit(e)
}

// nameIn is how company shows user's name: its membership's profile, else
// (a platform actor, or an older record) the login's own.
func (t *txn) nameIn(company, user string) string {
	if m, err := t.Membership(company, user); err == nil && m.GivenName+m.FamilyName != "" {
		return m.DisplayName()
	}
	if l, err := t.Login(user); err == nil {
		return l.DisplayName()
	}
	return ""
}

// queue puts a notification in the outbox, committed with the change.
func (t *txn) queue(n *Notification) error {
	n.ID = names.NewID()
	n.CreateTime = t.now
	t.mail = true
	return t.PutNotification(n)
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
			s.revocations.ApplyRevocation(*ev)
			after = ev.Sequence
		}
		if len(evs) < 1000 {
			return nil
		}
	}
}
