package directory

import (
	"context"
	"errors"
)

// Store errors. Implementations return them (possibly wrapped); the domain
// turns them into typed errs for the caller.
var (
	// ErrNotFound: the company (or relationship) does not exist.
	ErrNotFound = errors.New("directory store: not found")
	// ErrRegistrationTaken: another company has this country and
	// registration number (R-DIR-1).
	ErrRegistrationTaken = errors.New("directory store: registration number already registered")
	// ErrInUse: the company still has a relationship, an employee or a
	// project, so it cannot be deleted.
	ErrInUse = errors.New("directory store: company in use")
)

// Reader reads companies inside the store's current transaction.
type Reader interface {
	Company(id string) (Company, error)
}

// Store is what the domain needs from storage. Every method is one atomic
// transaction; secondary indexes change with the records they index.
type Store interface {
	// CreateCompany stores c (whose ID is set) and indexes its country and
	// registration number; ErrRegistrationTaken when already indexed. When
	// requestID is not empty and an earlier call with it created a company
	// that still exists, that company is returned instead and nothing is
	// written.
	CreateCompany(ctx context.Context, c Company, requestID string) (Company, error)
	// Company returns one company or ErrNotFound.
	Company(ctx context.Context, id string) (Company, error)
	// CompanyByRegistration finds a company by country and normalised
	// registration number, or ErrNotFound.
	CompanyByRegistration(ctx context.Context, country, number string) (Company, error)
	// UpdateCompany reads the company, lets mutate change it (reading others
	// through r in the same transaction), and stores the result; nothing is
	// written when mutate fails. Country and registration number must not
	// change.
	UpdateCompany(ctx context.Context, id string, mutate func(r Reader, c *Company) error) (Company, error)
	// DeleteCompany removes a company and its index entries: ErrNotFound
	// when absent, ErrInUse when it has a relationship (either side), an
	// employee or a project.
	DeleteCompany(ctx context.Context, id string) error

	// LinkSupplier records that rel.Supplier is a supplier of rel.Customer;
	// ErrNotFound when either company is missing. It reports false (and
	// changes nothing) when the link already existed.
	LinkSupplier(ctx context.Context, rel Relationship) (bool, error)
	// Relationship returns the link between customer and supplier, or ErrNotFound.
	Relationship(ctx context.Context, customer, supplier string) (Relationship, error)
	// Suppliers lists up to limit supplier ids of customer, in id order,
	// after the id `after` ("" = from the start).
	Suppliers(ctx context.Context, customer, after string, limit int) ([]string, error)
	// Customers lists up to limit customer ids of supplier, in id order,
	// after the id `after`.
	Customers(ctx context.Context, supplier, after string, limit int) ([]string, error)
}
