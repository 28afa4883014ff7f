// Package directory is the directory's domain: companies, their
// relationships, contacts and references, supplier imports, employees and
// projects, with the rules that govern them (R-DIR-1 … R-DIR-10, R-ID-3,
// R-ID-4); who may do what is asked of runtime/authz. It knows neither gRPC messages nor bbolt: handlers translate the
// wire to these types, and the Store interface below is implemented by the
// storage package.
package directory

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/authz"
)

// Kind says whether a company collects documents or provides them: the
// authorization table's company kind (numbers match
// vigil.directory.v1.CompanyKind).
type Kind = authz.CompanyKind

// The kinds.
const (
	KindUnspecified = authz.KindUnspecified
	KindOperator    = authz.KindOperator
	KindSupplier    = authz.KindSupplier
)

// Address is a postal address.
type Address struct {
	Lines      []string
	PostalCode string
	City       string
	Country    string
}

// Company is one legal entity or establishment (SPEC §1).
type Company struct {
	ID                 string // random, URL-safe; the {company} of companies/{company}
	LegalName          string
	Kind               Kind
	Country            string // ISO 3166-1 alpha-2
	RegistrationNumber string // normalised (regnum.Normalize)
	Address            Address
	Parent             string // the group owner's company id, "" when none
	RequireTwoFactor   bool
	TimeZone           string
	Language           string
	CreateTime         time.Time
	UpdateTime         time.Time
}

// Relationship is a customer–supplier link (SPEC §1).
type Relationship struct {
	Customer   string   // company id
	Supplier   string   // company id
	References []string // supplier user ids named as contacts for the customer (R-DIR-8)
	CreateTime time.Time
}

// Identity is what the domain asks the identity service.
type Identity interface {
	// IsAdministrator reports whether the user ("users/{user}") is an active
	// Administrator of company (a company id).
	IsAdministrator(ctx context.Context, user, company string) (bool, error)
	// SyncCompany gives identity its copy of the company facts it uses at
	// sign-in (kind, legal name, require_two_factor, language).
	SyncCompany(ctx context.Context, c Company) error
	// AddMember adds a contact to a company (R-DIR-5, R-ID-10): invited,
	// Administrator when the company has no user yet, else Restricted
	// user, decided by identity in its own transaction; idempotent by
	// e-mail. A refusal of the contact itself is an errs.Error of kind
	// InvalidArgument or FailedPrecondition; anything else (Unavailable)
	// may succeed later.
	AddMember(ctx context.Context, m NewMember) (Member, error)
	// Members returns the supplier users named (`companies/{c}/users/{u}`),
	// in order, leaving out unknown ones.
	Members(ctx context.Context, names []string) ([]Member, error)
}

// NewMember is a contact for identity's AddMember.
type NewMember struct {
	Company   string // company id
	Contact   Contact
	InvitedBy string // the customer's company id
	Actor     string // users/{u} or ""
	Language  string
}

// Member is a user of a company as identity tells it.
type Member struct {
	Company string // company id
	User    string // user id (the {user} of companies/{c}/users/{user})
	Contact Contact
}

// Metrics receives the directory's product metrics.
type Metrics interface {
	// ImportsRunning is the number of imports uploading or running.
	ImportsRunning(n int)
	// ImportRows counts rows done, by outcome.
	ImportRows(o Outcome, n int)
}

type noMetrics struct{}

func (noMetrics) ImportsRunning(int)      {}
func (noMetrics) ImportRows(Outcome, int) {}

// Limits bound the imports.
type Limits struct {
	// MaxImportRows is the most rows one import may hold.
	MaxImportRows int
	// ImportBatch is how many rows are registered per transaction.
	ImportBatch int
	// ContactWorkers is how many contacts are sent to identity at once.
	ContactWorkers int
}

// DefaultLimits are the limits without configuration.
var DefaultLimits = Limits{MaxImportRows: 500_000, ImportBatch: 500, ContactWorkers: 8}

// Service holds the directory's rules.
type Service struct {
	store    Store
	identity Identity
	grants   authz.Grants
	log      *zap.Logger
	now      func() time.Time
	metrics  Metrics
	limits   Limits
	// work wakes the background worker (imports, contacts).
	work chan struct{}
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithMetrics reports product metrics to m.
func WithMetrics(m Metrics) Option { return func(s *Service) { s.metrics = m } }

// WithLimits replaces DefaultLimits.
func WithLimits(l Limits) Option { return func(s *Service) { s.limits = l } }

// NewService returns the domain service over store. identity answers the
// questions only identity knows; grants are the extended permissions
// (R-DIR-10), cached (auth.NewRemote).
func NewService(store Store, identity Identity, grants authz.Grants, log *zap.Logger, opts ...Option) *Service {
	s := &Service{store: store, identity: identity, grants: grants, log: log, now: time.Now, metrics: noMetrics{},
		limits: DefaultLimits, work: make(chan struct{}, 1)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// wake tells the background worker there is work.
func (s *Service) wake() {
	select {
	case s.work <- struct{}{}:
	default:
	}
}
