package vault

import (
	"context"
	"errors"
	"time"

	"github.com/vigil/vigil/services/runtime/feed"
)

// ErrNotFound is what every store lookup returns for a missing key.
var ErrNotFound = errors.New("vault store: not found")

// Store is the vault's persistence, defined here by its consumer. Every
// change, the compliance it moves, the events and e-mails it causes are
// written in one Update, so that they commit together. A PostgreSQL
// implementation will follow: nothing here is bbolt's.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in one serializable write transaction; an error from
	// fn rolls everything back.
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Page bounds a listing: up to Limit items after the opaque cursor After
// ("" = from the start). A listing returns the cursor of its last item.
type Page struct {
	After string
	Limit int
}

// DocQuery filters a supplier's documents.
type DocQuery struct {
	DocumentType string // "" any
	Employee     string // with HasSubject: "" the company, else that employee
	HasSubject   bool
	Kind         SubjectKind // SubjectUnspecified: both
	History      bool        // superseded versions too
}

// SummaryOrder is the order of a customer's summaries.
type SummaryOrder int

// The orders.
const (
	// OrderWorst: fixed problems first (most first), then by MinUntil.
	OrderWorst SummaryOrder = iota
	// OrderName: by supplier name.
	OrderName
)

// SummaryQuery selects a customer's summaries. In OrderWorst, Fixed
// includes the summaries with a fixed problem and [From, To] bounds the
// MinUntil of the others (To 0: none of them). In OrderName, Keep decides
// from a summary's Fixed and MinUntil.
type SummaryQuery struct {
	Customer string
	Order    SummaryOrder
	Fixed    bool
	From, To Date
	Keep     func(fixed int, minUntil Date) bool
	// NameContains keeps suppliers whose lower-cased name contains it.
	NameContains string
	Page
}

// Tx is one transaction. Values returned are copies the caller may keep
// and change; nothing is written until a Put. Listings read index ranges,
// never a whole table.
type Tx interface {
	// Catalog (R-VAULT-1).
	DocumentType(id string) (*DocumentType, error)
	// PutDocumentType stores a type and indexes it by owner.
	PutDocumentType(t *DocumentType) error
	// DocumentTypesOf lists the types of one owner ("" the platform catalog), by id.
	DocumentTypesOf(owner string) ([]*DocumentType, error)

	// Requirements (R-VAULT-2).
	Requirement(customer, id string) (*Requirement, error)
	PutRequirement(r *Requirement) error
	DeleteRequirement(customer, id string) error
	// Requirements lists a customer's requirements, oldest first.
	Requirements(customer string) ([]*Requirement, error)

	// Documents (R-VAULT-4, R-VAULT-5). PutDocument keeps the indexes: the
	// versions of a type and subject, the current version, and, for
	// current versions only, valid_until (per supplier and platform-wide).
	Document(supplier, id string) (*Document, error)
	PutDocument(d *Document) error
	CurrentDocument(supplier, docType, employee string) (*Document, error)
	// Versions lists every version of a type and subject, newest first.
	Versions(supplier, docType, employee string) ([]*Document, error)
	// Documents lists a supplier's documents by type, subject, newest
	// version first.
	Documents(supplier string, q DocQuery, p Page) ([]*Document, string, error)
	// ExpiringDocuments lists a supplier's current documents with
	// valid_until in [from, to], soonest first.
	ExpiringDocuments(supplier string, from, to Date, p Page) ([]*Document, string, error)
	// DocumentsUntil lists every supplier's current documents whose
	// valid_until is day, by supplier.
	DocumentsUntil(day Date, p Page) ([]*Document, string, error)

	// Blobs: one record per SHA-256 (identical bytes are stored once).
	Blob(sha string) (*Blob, error)
	PutBlob(b *Blob) error
	PutBlobIntent(i *BlobIntent) error
	DeleteBlobIntent(id string) error
	BlobIntents(limit int) ([]*BlobIntent, error)
	// OtherBlobIntent tells whether an intent other than except records an
	// upload of the same bytes (by an index on sha, never a scan): while
	// one does, its upload may have published the blob and be about to
	// commit, so the blob must stay. A store shared by replicas takes the
	// sha's lock here (PostgreSQL: the intents' rows FOR SHARE, in the
	// transaction that deletes the blob).
	OtherBlobIntent(sha, except string) (bool, error)

	// Download log (R-VAULT-8), per supplier, type and subject.
	AppendAccess(a *Access) error
	// AccessLog lists the downloads of a type and subject, newest first.
	AccessLog(supplier, docType, employee string, p Page) ([]*Access, string, error)

	// What the vault knows of directory, kept current from its event feed.
	Company(id string) (*Company, error)
	PutCompany(c *Company) error
	HasRelationship(customer, supplier string) (bool, error)
	PutRelationship(customer, supplier string) error
	DeleteRelationship(customer, supplier string) error
	// Suppliers lists a customer's suppliers by id.
	Suppliers(customer string, p Page) ([]string, string, error)
	// Customers lists a supplier's customers by id.
	Customers(supplier string) ([]string, error)
	// Relationships lists every relationship as customer/supplier pairs by
	// customer (resynchronisation only).
	Relationships(p Page) ([][2]string, string, error)
	PutAssignment(a Assignment) error
	DeleteAssignment(a Assignment) error
	// Assignments lists the assignments of a supplier's employees to a
	// customer's projects.
	Assignments(customer, supplier string) ([]Assignment, error)
	// ProjectAssignments lists the assignments to one project.
	ProjectAssignments(customer, project string) ([]Assignment, error)
	// EmployeeAssignments lists one employee's assignments.
	EmployeeAssignments(supplier, employee string) ([]Assignment, error)
	// CustomerAssignments lists every assignment to a customer's projects.
	CustomerAssignments(customer string) ([]Assignment, error)
	Project(customer, id string) (*Project, error)
	PutProject(p *Project) error
	// Cursor is the last event applied from a followed feed (0: none).
	Cursor(feed string) (uint64, error)
	PutCursor(feed string, seq uint64) error

	// Compliance (R-VAULT-6). Entries are keyed by customer, supplier,
	// type, subject, requirement; the store indexes them by requirement and
	// keeps the customer's entry counters.
	Entries(customer, supplier string) ([]Entry, error)
	PutEntry(e *Entry) error
	DeleteEntry(e *Entry) error
	// Collects reports whether the customer has an entry for the
	// supplier's type and subject (R-VAULT-3: it sees those documents).
	Collects(customer, supplier, docType, employee string) (bool, error)
	// CollectedTypes lists the (type, employee) pairs a customer collects
	// from a supplier, by type then employee.
	CollectedTypes(customer, supplier string) ([][2]string, error)
	// RequirementSuppliers lists the suppliers with an entry of a requirement.
	RequirementSuppliers(customer, requirement string) ([]string, error)
	// CustomerEntries lists a customer's entries by supplier, type,
	// subject, requirement (exports).
	CustomerEntries(customer string, p Page) ([]Entry, string, error)

	Summary(customer, supplier string) (*Summary, error)
	// PutSummary stores a summary, moves it in the order indexes and keeps
	// the customer's counters.
	PutSummary(s *Summary) error
	DeleteSummary(customer, supplier string) error
	// SupplierSummaries lists a supplier's summaries (one per customer).
	SupplierSummaries(supplier string) ([]*Summary, error)
	ListSummaries(q SummaryQuery) ([]*Summary, string, error)
	CustomerStats(customer string) (CustomerStats, error)
	// ComplianceRevision reads the revisions a customer's compliance view
	// is built at (see Revision). A store shared by replicas keeps them as
	// counters written in the transaction of each change (PostgreSQL: a
	// row per customer beside its counters, one for the companies).
	ComplianceRevision(customer string) (Revision, error)
	// SummariesByMinUntil lists the summaries without a fixed problem whose
	// MinUntil is in [from, to], every customer, by date (the expiry sweep).
	SummariesByMinUntil(from, to Date, p Page) ([]*Summary, string, error)

	// Events (runtime/feed): appended in the transaction of their change.
	AppendEvent(e *feed.Event) error
	// PruneEvents deletes up to limit events older than before.
	PruneEvents(before time.Time, limit int) (int, error)

	// Outbox of e-mails for notify, relayed after commit.
	PutOutbox(n *Outbound) error
	Outbox(limit int) ([]*Outbound, error)
	DeleteOutbox(id string) error

	// Document requests (R-NOTIF-3): the last one per customer and supplier.
	LastRequest(customer, supplier string) (time.Time, error)
	PutLastRequest(customer, supplier string, at time.Time) error

	// Meta values (the expiry sweep's progress, the catalog's seed version).
	Meta(key string) ([]byte, error)
	PutMeta(key string, value []byte) error
}
