// Package jobs holds notify's scheduled jobs: the weekly compliance e-mail
// (R-NOTIF-1) and the expiry reminders (R-NOTIF-2). They read what they
// need from directory, identity and vault in pages, through the interfaces
// below (plain types; internal/upstream implements them over gRPC), and
// hand notify's outbox batches of notifications whose idempotency keys make
// every run repeatable without sending anything twice.
package jobs

import (
	"context"
	"time"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/names"
)

// Company is a company as directory lists it (ListCompanies, BatchGetCompanies).
type Company struct {
	Name      string // companies/{id}
	LegalName string
	Kind      authz.CompanyKind
	TimeZone  string // IANA; empty means UTC
	Language  string // en, fr; empty means en
}

// Member is an active member of a company as identity lists it.
type Member struct {
	Name       string // companies/{c}/users/{u}
	Email      string
	GivenName  string
	FamilyName string
	Language   string // the person's, else the company's; may be empty
	// Role is the member's role in the company (R-ID-3).
	Role authz.Role
	// Undeliverable is set when mail to Email failed for good and no one
	// cleared the mark (User.email_undeliverable).
	Undeliverable bool
}

// User is the member's login resource `users/{u}`.
func (m Member) User() string {
	if _, user, ok := names.Member.Match(m.Name); ok {
		return names.User.Format(user)
	}
	return ""
}

// DisplayName is "Given Family".
func (m Member) DisplayName() string {
	switch {
	case m.GivenName == "":
		return m.FamilyName
	case m.FamilyName == "":
		return m.GivenName
	}
	return m.GivenName + " " + m.FamilyName
}

// Directory is what the jobs ask directory (DirectoryInternalService).
type Directory interface {
	// ListCompanies pages through every company, in id order.
	ListCompanies(ctx context.Context, pageSize int, pageToken string) ([]Company, string, error)
	// BatchGetCompanies returns the named companies (at most 1000); unknown
	// ones are left out.
	BatchGetCompanies(ctx context.Context, names []string) ([]Company, error)
	// ListReferences returns the supplier's users who are references for
	// the customer (`companies/{supplier}/users/{u}`).
	ListReferences(ctx context.Context, customer, supplier string) ([]string, error)
	// EmployeeName returns an employee's "Given Family".
	EmployeeName(ctx context.Context, employee string) (string, error)
}

// Identity is what the jobs ask identity (IdentityInternalService).
type Identity interface {
	// ListMembers pages through the ACTIVE members of company whose role
	// holds permission (an R-ID-3 row).
	ListMembers(ctx context.Context, company string, permission authz.Action, pageSize int, pageToken string) ([]Member, string, error)
	// BatchGetUsers returns the named members (at most 500) that are active.
	BatchGetUsers(ctx context.Context, names []string) ([]Member, error)
}

// Status is a compliance entry's status (R-VAULT-6).
type Status string

// The statuses of open entries (everything but VALID).
const (
	StatusMissing      Status = "missing"
	StatusExpired      Status = "expired"
	StatusExpiringSoon Status = "expiring_soon"
	StatusRejected     Status = "rejected"
	StatusValid        Status = "valid"
)

// Entry is one requirement's status for one subject.
type Entry struct {
	DocumentType     string // documentTypes/{t}
	DocumentTypeName string
	Subject          string // companies/{s} or companies/{s}/employees/{e}
	Status           Status
	ValidUntil       string
	RejectionReason  string
}

// Summary is one supplier's compliance towards one customer.
type Summary struct {
	Customer, Supplier string
	Compliant          bool
	ExpiringSoon       int // entries EXPIRING_SOON
	Open               []Entry
}

// Digest is what one company's weekly e-mail says (vault's
// GetComplianceDigestResponse).
type Digest struct {
	Company string
	AsOf    string
	// Operator half: suppliers with requirements, compliant ones, entries
	// expiring soon over all suppliers, the worst suppliers.
	Operator *OperatorDigest
	// Supplier half: customers with requirements, compliant for, per customer.
	Supplier *SupplierDigest
}

// OperatorDigest is an operator's view of its suppliers.
type OperatorDigest struct {
	SupplierCount, CompliantCount, ExpiringSoon int
	Worst                                       []Summary
}

// SupplierDigest is a supplier's view of its customers.
type SupplierDigest struct {
	CustomerCount, CompliantCount int
	Customers                     []Summary
}

// Expiring is a current document whose reminder is due (vault's
// ExpiringDocument).
type Expiring struct {
	Document         string // companies/{s}/documents/{d}: one version
	DocumentTypeName string
	Subject          string // companies/{s} or companies/{s}/employees/{e}
	Supplier         string
	ValidUntil       string
	WindowDays       int
	Customers        []string
}

// Vault is what the jobs ask vault (VaultInternalService).
type Vault interface {
	// BatchGetComplianceDigests returns the digests of up to 100 companies,
	// in order; asOf empty means today in each company's time zone.
	BatchGetComplianceDigests(ctx context.Context, companies []string, asOf string, worst int) ([]Digest, error)
	// ListExpiringForReminders pages through the current documents whose
	// valid_until is exactly one of windows days after asOf.
	ListExpiringForReminders(ctx context.Context, asOf string, windows []int, pageSize int, pageToken string) ([]Expiring, string, error)
}

// Outbox is notify's outbox as the jobs use it (*notify.Service).
type Outbox interface {
	EnqueueBatch(ctx context.Context, reqs []notify.EnqueueRequest, marks []string) ([]notify.EnqueueResult, error)
	Marked(ctx context.Context, keys []string) (map[string]bool, error)
	PruneMarks(ctx context.Context, prefix, before string) (int, error)
	Suppressions(ctx context.Context, emails []string) (map[string]notify.Suppression, error)
	LiftSuppression(ctx context.Context, email string, reportedBefore time.Time) error
}
