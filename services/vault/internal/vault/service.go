package vault

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/outbox"
	"github.com/vigil/vigil/services/vault/internal/blob"
)

// Directory is what the vault asks directory (DirectoryInternalService).
type Directory interface {
	// Companies returns the companies found among ids (unknown ids left out).
	Companies(ctx context.Context, ids []string) ([]Company, error)
	// Employee returns an employee's display name; ErrNotFound when the
	// supplier has no such employee.
	Employee(ctx context.Context, supplier, employee string) (string, error)
	// Project returns a customer's project; ErrNotFound when absent.
	Project(ctx context.Context, customer, project string) (*Project, error)
	// References lists a supplier's references for a customer, as member
	// names companies/{supplier}/users/{user} (R-DIR-8).
	References(ctx context.Context, customer, supplier string) ([]string, error)
	// Resynchronisation (after a gap in directory's feed): every company,
	// a customer's suppliers, a customer's assignments.
	AllCompanies(ctx context.Context, fn func(c Company, operator bool) error) error
	SuppliersOf(ctx context.Context, customer string) ([]string, error)
	AssignmentsOf(ctx context.Context, customer string) ([]Assignment, error)
}

// Person is one addressee of an e-mail.
type Person struct {
	User     string // users/{user}
	Member   string // companies/{c}/users/{u}
	Email    string
	Name     string
	Language string
}

// Identity is what the vault asks identity (IdentityInternalService).
type Identity interface {
	// Members lists a company's active members whose role holds the R-ID-3
	// permission (authz action 1…15).
	Members(ctx context.Context, company string, permission authz.Action) ([]Person, error)
	// Users returns members by name (companies/{c}/users/{u}); unknown ones left out.
	Users(ctx context.Context, members []string) ([]Person, error)
}

// Notifier hands notify one e-mail (EnqueueNotification).
type Notifier interface {
	Enqueue(ctx context.Context, n Notification) error
}

// Notification is one e-mail for notify.
type Notification struct {
	IdempotencyKey string
	Template       Template
	Recipients     []Person
	Data           map[string]any
	Company        string // companies/{c}
}

// Template names notify's templates the vault uses.
type Template int

// The templates (numbers as vigil.notify.v1.Template).
const (
	TemplateDocumentRejected      Template = 4
	TemplateDocumentUpdateRequest Template = 5
)

// Config is what the domain needs to know of the deployment.
type Config struct {
	// MaxUploadBytes bounds one document (R-VAULT-4; default 25 MiB).
	MaxUploadBytes int64
	// ContentTypes are the accepted content types (default PDF, PNG, JPEG).
	ContentTypes []string
	// PublicURL is the base of links in e-mails.
	PublicURL string
	// Now replaces the clock (tests).
	Now func() time.Time
	// EventRetention is how long the vault's events are kept (default 30 days).
	EventRetention time.Duration
	// RequestInterval is R-NOTIF-3's minimum time between two document
	// requests of a customer to a supplier (default one hour).
	RequestInterval time.Duration
	// SweepEvery is how often the expiry sweep runs (default one minute).
	SweepEvery time.Duration
	// MaxUploads bounds the uploads in flight in all (default 64) and
	// MaxCompanyUploads those of one company (default 4): an upload holds
	// buffers and a staging file for as long as its client takes to send
	// (the gateway allows minutes), and anyone may sign up a supplier.
	MaxUploads, MaxCompanyUploads int
}

// Service is the vault's domain.
type Service struct {
	cfg       Config
	store     Store
	blobs     blob.Store
	directory Directory
	identity  Identity
	notifier  Notifier
	grants    authz.Grants
	log       *zap.Logger
	now       func() time.Time
	metrics   *Metrics

	// wake tells the feed server that events were appended.
	wake  func()
	relay *outbox.Relay[*Outbound, Notification] // nil without a notifier

	zones sync.Map // time zone name → *time.Location
	types sync.Map // document type id → *DocumentType (types never change)
	pages *pageCache

	// uploads counts the uploads in flight, in all and per company.
	uploadsMu sync.Mutex
	uploads   map[string]int
	uploading int
}

// Deps are the service's collaborators.
type Deps struct {
	Store     Store
	Blobs     blob.Store
	Directory Directory
	Identity  Identity
	Notifier  Notifier
	Grants    authz.Grants
	Log       *zap.Logger
	Metrics   *Metrics
	// Wake is called after every commit that appended events.
	Wake func()
}

// New builds the service, seeds the catalog (issue 9 point 1) and removes
// what an upload that died half-way left (R-VAULT-4).
func New(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 25 << 20
	}
	if len(cfg.ContentTypes) == 0 {
		cfg.ContentTypes = DefaultContentTypes
	}
	if cfg.EventRetention <= 0 {
		cfg.EventRetention = 30 * 24 * time.Hour
	}
	if cfg.RequestInterval <= 0 {
		cfg.RequestInterval = time.Hour
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = 64
	}
	if cfg.MaxCompanyUploads <= 0 {
		cfg.MaxCompanyUploads = 4
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.Wake == nil {
		d.Wake = func() {}
	}
	s := &Service{cfg: cfg, store: d.Store, blobs: d.Blobs, directory: d.Directory, identity: d.Identity, notifier: d.Notifier,
		grants: d.Grants, log: d.Log, now: now, metrics: d.Metrics, wake: d.Wake, uploads: map[string]int{},
		pages: newPageCache()}
	if d.Notifier != nil {
		s.relay = s.newRelay()
	}
	if err := s.seedCatalog(ctx); err != nil {
		return nil, err
	}
	if err := s.recoverUploads(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Run does the background work until ctx ends: the e-mail relay to notify,
// the expiry sweep and the pruning of old events.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){s.relayOutbox, s.sweepLoop} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	wg.Wait()
}

// update runs fn in a write transaction and wakes the event feed and the
// relay after it commits.
func (s *Service) update(ctx context.Context, fn func(Tx) error) error {
	if err := s.store.Update(ctx, fn); err != nil {
		return err
	}
	s.wake()
	s.kickOutbox()
	return nil
}

func (s *Service) view(ctx context.Context, fn func(Tx) error) error { return s.store.View(ctx, fn) }

func (s *Service) kickOutbox() {
	if s.relay != nil {
		s.relay.Wake()
	}
}

// Caller is who calls: the authenticated principal.
type Caller = auth.Principal

// authorize decides with the one table (runtime/authz).
func (s *Service) authorize(ctx context.Context, c Caller, company string, a authz.Action) error {
	return authz.Authorize(ctx, c.Subject(), names.Company.Format(company), a, "", s.grants)
}

// location is the time zone of a company ("today" for R-VAULT-6).
func (s *Service) location(tz string) *time.Location {
	if tz == "" {
		tz = DefaultTimeZone
	}
	if l, ok := s.zones.Load(tz); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		s.log.Warn("unknown time zone; using the default", zap.String("time_zone", tz))
		loc, err = time.LoadLocation(DefaultTimeZone)
		if err != nil {
			loc = time.UTC
		}
	}
	s.zones.Store(tz, loc)
	return loc
}

// today is the date in company's time zone.
func (s *Service) todayIn(tx Tx, company string) (Date, error) {
	c, err := tx.Company(company)
	if errors.Is(err, ErrNotFound) {
		return DateOf(s.now().In(s.location(""))), nil
	}
	if err != nil {
		return 0, err
	}
	return DateOf(s.now().In(s.location(c.TimeZone))), nil
}

// companyName is a company's legal name, or its resource name when unknown.
func companyName(tx Tx, id string) string {
	c, err := tx.Company(id)
	if err != nil || c.Name == "" {
		return names.Company.Format(id)
	}
	return c.Name
}

// notFound is the answer to anything the caller may not know exists.
func notFound(what string) error {
	return errs.NotFound(reasonNotFound, "%s not found", what)
}
