// Package directory is the directory's domain: companies and their
// relationships, with the rules that govern them (R-DIR-1, R-DIR-7, R-ID-3,
// R-ID-4). It knows neither gRPC messages nor bbolt: handlers translate the
// wire to these types, and the Store interface below is implemented by the
// storage package.
package directory

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Kind says whether a company collects documents or provides them.
type Kind int

// The kinds; the numbers match vigil.directory.v1.CompanyKind.
const (
	KindUnspecified Kind = 0
	KindOperator    Kind = 1
	KindSupplier    Kind = 2
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

// Identity is what the domain asks the identity service about a user.
type Identity interface {
	// IsAdministrator reports whether the user ("users/{user}") is an active
	// Administrator of company (a company id).
	IsAdministrator(ctx context.Context, user, company string) (bool, error)
	// CanViewSuppliers reports whether the user ("users/{user}") holds the suppliers-area
	// view permission in company, an operator (R-DIR-10).
	CanViewSuppliers(ctx context.Context, user, company string) (bool, error)
	// SyncCompany gives identity its copy of the company facts it uses at
	// sign-in (kind, legal name, require_two_factor, language).
	SyncCompany(ctx context.Context, c Company) error
}

// Service holds the directory's rules.
type Service struct {
	store    Store
	identity Identity
	log      *zap.Logger
	now      func() time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// NewService returns the domain service over store. identity answers the
// questions only identity knows (administrator of a parent company,
// extended permissions).
func NewService(store Store, identity Identity, log *zap.Logger, opts ...Option) *Service {
	s := &Service{store: store, identity: identity, log: log, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a random, URL-safe id: 16 random bytes in lower-case base32
// (26 characters).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}
