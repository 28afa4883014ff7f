package directory

import (
	"context"
	"errors"
	"time"

	"github.com/vigil/vigil/services/runtime/feed"
)

// Store errors. Implementations return them (possibly wrapped); the domain
// turns them into typed errs for the caller.
var (
	// ErrNotFound: the company (or relationship, employee, project, import)
	// does not exist.
	ErrNotFound = errors.New("directory store: not found")
	// ErrRegistrationTaken: another company has this country and
	// registration number (R-DIR-1).
	ErrRegistrationTaken = errors.New("directory store: registration number already registered")
	// ErrInUse: the company still has a relationship, an employee, a
	// project, an import or a group member, so it cannot be deleted.
	ErrInUse = errors.New("directory store: company in use")
	// ErrSelfLink: a company cannot be its own supplier.
	ErrSelfLink = errors.New("directory store: a company cannot be its own supplier")
	// ErrTooManyReferences: a relationship holds at most MaxReferences.
	ErrTooManyReferences = errors.New("directory store: too many references")
	// ErrEmployeeNotFound, ErrProjectNotFound, ErrNotRelated and
	// ErrProjectClosed refuse an assignment (R-DIR-9).
	ErrEmployeeNotFound = errors.New("directory store: employee not found")
	ErrProjectNotFound  = errors.New("directory store: project not found")
	ErrNotRelated       = errors.New("directory store: the project's company is not a customer of the employee's company")
	ErrProjectClosed    = errors.New("directory store: project closed")
	// ErrImportState: the import is not in the state the call needs.
	ErrImportState = errors.New("directory store: import in another state")
)

// MaxReferences bounds a supplier's references for one customer.
const MaxReferences = 100

// Reader reads companies inside the store's current transaction.
type Reader interface {
	Company(id string) (Company, error)
}

// Store is what the domain needs from storage. Every method is one atomic
// transaction (unless it says otherwise); secondary indexes change with the
// records they index, and events (runtime/feed) are appended in the
// transaction of the change they tell of. No method reads a whole
// collection on a request path: lists seek in indexes ordered as they are
// listed. The conformance suite (storetest) runs every method against every
// implementation.
type Store interface {
	feed.Log

	// CreateCompany stores c (whose ID is set) and indexes its country and
	// registration number; ErrRegistrationTaken when already indexed. When
	// requestID is not empty and an earlier call with it created a company
	// that still exists, that company is returned instead and nothing is
	// written.
	CreateCompany(ctx context.Context, c Company, requestID string) (Company, error)
	// Company returns one company or ErrNotFound.
	Company(ctx context.Context, id string) (Company, error)
	// Companies returns the companies with these ids, in order, leaving out
	// unknown ones.
	Companies(ctx context.Context, ids []string) ([]Company, error)
	// ListCompanies lists up to limit companies in id order after the id `after`.
	ListCompanies(ctx context.Context, after string, limit int) ([]Company, error)
	// CompanyByRegistration finds a company by country and normalised
	// registration number, or ErrNotFound.
	CompanyByRegistration(ctx context.Context, country, number string) (Company, error)
	// UpdateCompany reads the company, lets mutate change it (reading others
	// through r in the same transaction) and return the events the change
	// causes, and stores the result with its events (and, when the legal
	// name changed, the name indexes of its relationships); nothing is
	// written when mutate fails. Country and registration number must not
	// change.
	UpdateCompany(ctx context.Context, id string, mutate func(r Reader, c *Company) ([]feed.Event, error)) (Company, error)
	// DeleteCompany removes a company and its index entries: ErrNotFound
	// when absent, ErrInUse when it has a relationship (either side), an
	// employee, a project, an import or a group member.
	DeleteCompany(ctx context.Context, id string) error

	// RegisterSupplier applies one registration (see Registration): it
	// creates or finds the company, links it with `supplier.linked` events
	// to both companies and queues the contact, or reports ALREADY_LINKED
	// and writes nothing. ErrNotFound when the customer is missing,
	// ErrSelfLink when the number is the customer's own; Accept's error
	// is returned as is.
	RegisterSupplier(ctx context.Context, r Registration) (Registered, error)
	// LinkSupplier records that rel.Supplier is a supplier of rel.Customer
	// (both must exist, else ErrNotFound), with its events; it reports
	// false (and changes nothing) when the link already existed.
	LinkSupplier(ctx context.Context, rel Relationship) (bool, error)
	// Unlink ends a relationship at once: the supplier's employees are
	// unassigned from the customer's projects (`employee.unassigned`
	// events), then `supplier.unlinked` to both. ErrNotFound when absent.
	Unlink(ctx context.Context, customer, supplier string, now time.Time) error
	// Relationship returns the link between customer and supplier, or ErrNotFound.
	Relationship(ctx context.Context, customer, supplier string) (Relationship, error)
	// Suppliers lists up to limit supplier ids of customer, in id order,
	// after the id `after` ("" = from the start).
	Suppliers(ctx context.Context, customer, after string, limit int) ([]string, error)
	// Customers lists up to limit customer ids of supplier, in id order,
	// after the id `after`.
	Customers(ctx context.Context, supplier, after string, limit int) ([]string, error)
	// ListSuppliers lists a customer's suppliers by folded legal name (then
	// id), filtered and paged by q, with what a list shows of each: the
	// company's id, legal name, country, registration number and address,
	// and the relationship's customer, supplier and creation time (not its
	// references: GetSupplier and ListContacts have them). A page reads
	// ready-made list entries, kept current with the companies, not each
	// company and relationship (issue 8's benchmark).
	ListSuppliers(ctx context.Context, customer string, q ListQuery) ([]Related, error)
	// ListCustomers lists a supplier's customers likewise.
	ListCustomers(ctx context.Context, supplier string, q ListQuery) ([]Related, error)
	// AddReference makes user (a supplier user id) a reference of the
	// relationship; added is false when it already was. ErrNotFound when
	// the relationship does not exist, ErrTooManyReferences past MaxReferences.
	AddReference(ctx context.Context, customer, supplier, user string) (rel Relationship, added bool, err error)
	// SetReferences replaces the relationship's references (at most
	// MaxReferences); ErrNotFound when it does not exist.
	SetReferences(ctx context.Context, customer, supplier string, users []string) (Relationship, error)

	// PendingContacts lists up to limit queued contacts after the id
	// `after`, oldest first.
	PendingContacts(ctx context.Context, after string, limit int) ([]PendingContact, error)
	// CompleteContacts ends queued contacts in one transaction: each added
	// user becomes a reference of its relationship (if the relationship
	// still exists and has room), each refusal is written on its import
	// row's result, and the queued entries are removed. Unknown ids are
	// skipped (another worker ended them).
	CompleteContacts(ctx context.Context, done []ContactDone) error

	// CreateEmployee stores a new employee (ID set; the supplier must
	// exist, else ErrNotFound).
	CreateEmployee(ctx context.Context, e Employee) error
	// Employee returns one employee with its assignments, or ErrNotFound.
	Employee(ctx context.Context, supplier, id string) (Employee, error)
	// UpdateEmployee lets mutate change an employee and stores it;
	// ErrNotFound when absent; nothing written when mutate fails.
	UpdateEmployee(ctx context.Context, supplier, id string, mutate func(e *Employee) error) (Employee, error)
	// DeleteEmployee ends the employee's assignments (`employee.unassigned`
	// each), deletes it and emits `employee.deleted`; ErrNotFound when absent.
	DeleteEmployee(ctx context.Context, supplier, id string, now time.Time) error
	// ListEmployees lists a supplier's employees by folded family then given
	// name, after the cursor `after`; it returns each entry's cursor.
	ListEmployees(ctx context.Context, supplier, after string, limit int) ([]Employee, []string, error)
	// Assign assigns an employee to a project of one of its supplier's
	// customers, with `employee.assigned` events; changed is false when it
	// already was. ErrEmployeeNotFound, ErrNotRelated (checked before the
	// project, so that it tells nothing of other companies' projects),
	// ErrProjectNotFound, ErrProjectClosed.
	Assign(ctx context.Context, a Assignment) (changed bool, err error)
	// Unassign removes an assignment, with `employee.unassigned` events;
	// changed is false when there was none. ErrEmployeeNotFound when the
	// employee does not exist.
	Unassign(ctx context.Context, a Assignment) (changed bool, err error)
	// ListAssignments lists assignments as q filters them, by project then
	// supplier and employee (by supplier then project and employee when
	// q.Supplier is set without q.Project), after q.After; it returns each
	// entry's cursor.
	ListAssignments(ctx context.Context, q AssignmentQuery) ([]Assignment, []string, error)

	// CreateProject stores a new project (ID set; the customer must exist,
	// else ErrNotFound) with a `project.changed` event.
	CreateProject(ctx context.Context, p Project) error
	// Project returns one project, or ErrNotFound.
	Project(ctx context.Context, customer, id string) (Project, error)
	// UpdateProject lets mutate change a project and stores it with a
	// `project.changed` event; ErrNotFound when absent; nothing written when
	// mutate fails.
	UpdateProject(ctx context.Context, customer, id string, mutate func(p *Project) error) (Project, error)
	// ListProjects lists a customer's projects newest first, only those in
	// state when it is set, after the cursor `after`; it returns each
	// entry's cursor.
	ListProjects(ctx context.Context, customer string, state ProjectState, after string, limit int) ([]Project, []string, error)

	// CreateImport stores a new import in ImportUploading.
	CreateImport(ctx context.Context, imp Import) error
	// AppendImportRows adds rows (Seq set, continuing the import's) to an
	// uploading import and counts them; ErrImportState unless uploading.
	AppendImportRows(ctx context.Context, customer, id string, rows []ImportRow, now time.Time) (Import, error)
	// StartImport turns an uploading import into ImportRunning.
	StartImport(ctx context.Context, customer, id string, now time.Time) (Import, error)
	// DiscardImport deletes an import that is still uploading, with its
	// rows (an upload that failed: the import never existed for anyone).
	// It may take several transactions.
	DiscardImport(ctx context.Context, customer, id string) error
	// Import returns one import, or ErrNotFound.
	Import(ctx context.Context, customer, id string) (Import, error)
	// ListImports lists a customer's imports newest first (never an
	// uploading one), after the cursor `after`, with each entry's cursor.
	ListImports(ctx context.Context, customer, after string, limit int) ([]Import, []string, error)
	// ActiveImports lists the imports uploading or running, oldest first.
	ActiveImports(ctx context.Context) ([]Import, error)
	// PendingImportRows lists up to limit rows of an import without a
	// result yet, in order.
	PendingImportRows(ctx context.Context, customer, id string, limit int) ([]ImportRow, error)
	// ApplyImportRows applies a batch of rows of a running import in one
	// transaction: for each row still pending, the registration (or the
	// refusal, or Accept's refusal) with its result, counts and events;
	// when no row is left pending, the import ends ImportDone with an
	// `import.completed` event. Rows already applied (by another worker)
	// are skipped. It returns the results written, with the ids of the
	// contacts queued for them (same order; "" when none).
	ApplyImportRows(ctx context.Context, customer, id string, work []ImportWork, now time.Time) (Import, []ImportRowResult, []string, error)
	// ImportResults lists up to limit results of an import after the row
	// `after`, in row order; errorsOnly keeps the ERROR rows and those with
	// a contact error.
	ImportResults(ctx context.Context, id string, after uint64, limit int, errorsOnly bool) ([]ImportRowResult, error)

	// PruneEvents deletes up to limit events older than before and reports
	// how many it deleted.
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
}
