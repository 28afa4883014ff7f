package directory

import "time"

// Outcome is what registering a supplier did (R-DIR-3, R-DIR-4); the
// numbers match vigil.directory.v1.RegistrationOutcome.
type Outcome int

// The outcomes.
const (
	OutcomeUnspecified   Outcome = 0
	OutcomeCreated       Outcome = 1 // a company was created and linked
	OutcomeLinked        Outcome = 2 // an existing company was linked, not duplicated (R-DIR-1)
	OutcomeAlreadyLinked Outcome = 3 // already a supplier of the customer: nothing changed
	OutcomeError         Outcome = 4 // an import row refused; see its error
)

// String names the outcome as CSV exports and metrics do.
func (o Outcome) String() string {
	switch o {
	case OutcomeCreated:
		return "created"
	case OutcomeLinked:
		return "linked"
	case OutcomeAlreadyLinked:
		return "already_linked"
	case OutcomeError:
		return "error"
	}
	return "unspecified"
}

// Contact is a person a customer names at a supplier (R-DIR-5).
type Contact struct {
	Email      string
	GivenName  string
	FamilyName string
	Function   string
	Phone      string
	Mobile     string
}

// PendingContact is a contact to add to a supplier as a user and as the
// customer's reference, queued in the same transaction as the link that
// brings it (so that a crash between the link and identity's answer loses
// nothing), and done as soon as identity answers.
type PendingContact struct {
	ID       string // assigned by the store
	Customer string // company id
	Supplier string // company id
	Contact  Contact
	// Actor is the customer's user who acted (`users/{u}`), "" for a
	// platform administrator.
	Actor string
	// Language of the invitation ("" = the supplier's).
	Language string
	// SyncFirst: the supplier was just created; identity gets its company
	// facts before the member (its invitation names the company).
	SyncFirst bool
	// Import and Row locate the import row that brought it ("" / 0 else).
	Import     string
	Row        uint64
	CreateTime time.Time
}

// ContactDone is how a pending contact ended.
type ContactDone struct {
	ID string
	// User is the supplier user id identity answered ("" when refused).
	User string
	// Error says why identity refused the contact ("" when added).
	Error string
}

// Registration is one supplier registration (R-DIR-3) as the store applies
// it in one transaction: find the company by country and registration
// number, else create NewCompany; link it to Customer unless already
// linked; queue Contact with a new link.
type Registration struct {
	Customer   string  // company id
	NewCompany Company // created when no company has its country and number (ID set)
	// Accept checks an existing company before it is linked (inside the
	// transaction); its error refuses the registration and writes nothing.
	Accept  func(existing Company) error
	Contact *PendingContact // queued with a new link; ignored when ALREADY_LINKED
	Time    time.Time
}

// Registered is what a registration did.
type Registered struct {
	Outcome      Outcome
	Supplier     Company
	Relationship Relationship
	// PendingContact is the id of the queued contact, "" when none.
	PendingContact string
}

// ListQuery pages a name-ordered list of relationships.
type ListQuery struct {
	NamePrefix string // folded (FoldName); "" = any
	Number     string // normalised registration number; "" = any
	After      string // the cursor of the last entry of the previous page
	Limit      int
}

// Related is one entry of a customer's suppliers or of a supplier's
// customers: the other company, the relationship, and the entry's cursor.
type Related struct {
	Company      Company
	Relationship Relationship
	Cursor       string
}

// Employee is a person working for a supplier (R-DIR-9).
type Employee struct {
	ID         string
	Supplier   string // company id
	GivenName  string
	FamilyName string
	Email      string
	JobTitle   string
	BirthDate  string // YYYY-MM-DD or ""
	Projects   []ProjectRef
	CreateTime time.Time
	UpdateTime time.Time
}

// ProjectRef names a project: its customer and id.
type ProjectRef struct {
	Customer string
	Project  string
}

// EmployeeRef names an employee: its supplier and id.
type EmployeeRef struct {
	Supplier string
	Employee string
}

// ProjectState says whether a project runs; numbers match
// vigil.directory.v1.Project.State.
type ProjectState int

// The project states.
const (
	ProjectStateUnspecified ProjectState = 0
	ProjectActive           ProjectState = 1
	ProjectClosed           ProjectState = 2
)

func (s ProjectState) String() string {
	switch s {
	case ProjectActive:
		return "active"
	case ProjectClosed:
		return "closed"
	}
	return "unspecified"
}

// Project is an operator's project.
type Project struct {
	ID          string
	Customer    string // company id
	DisplayName string
	Description string
	SiteAddress Address
	StartDate   string
	EndDate     string
	State       ProjectState
	CreateTime  time.Time
	UpdateTime  time.Time
}

// Assignment is one employee assigned to one project (R-DIR-9).
type Assignment struct {
	Customer   string
	Project    string
	Supplier   string
	Employee   string
	CreateTime time.Time
}

// AssignmentQuery filters a customer's assignments.
type AssignmentQuery struct {
	Customer string // required
	Supplier string // "" = any
	Project  string // "" = any
	Employee string // with Supplier; "" = any
	After    string // cursor
	Limit    int
}

// ImportState is where an import stands; numbers match
// vigil.directory.v1.SupplierImport.State, plus one internal state.
type ImportState int

// The import states.
const (
	ImportStateUnspecified ImportState = 0
	ImportRunning          ImportState = 1
	ImportDone             ImportState = 2
	ImportFailed           ImportState = 3
	// ImportUploading: the list is still being received; never shown.
	ImportUploading ImportState = 100
)

// Import is a mass registration job (R-DIR-4).
type Import struct {
	ID          string
	Customer    string // company id
	State       ImportState
	Error       string
	FileName    string
	SubmittedBy string // users/{u}
	OnBehalf    bool   // a platform administrator's
	Language    string // of the invitations
	Counts      ImportCounts
	CreateTime  time.Time
	UpdateTime  time.Time // last progress (upload staleness)
	DoneTime    time.Time
}

// ImportCounts are an import's counters, always equal to its recorded
// results.
type ImportCounts struct {
	Rows, Processed, Created, Linked, AlreadyLinked, Errors int
}

// Add counts one result.
func (c *ImportCounts) Add(o Outcome) {
	c.Processed++
	switch o {
	case OutcomeCreated:
		c.Created++
	case OutcomeLinked:
		c.Linked++
	case OutcomeAlreadyLinked:
		c.AlreadyLinked++
	default:
		c.Errors++
	}
}

// ImportRow is one establishment of an import, as read (R-DIR-4).
type ImportRow struct {
	Seq  uint64 // 1-based position in the import
	Line int    // CSV line number (header = 1), or Seq for structured rows
	// Fields, raw: checked when the row is registered.
	RegistrationNumber string
	LegalName          string
	Country            string
	Address            Address
	Contact            Contact
	// ReadError is set when the line could not be read at all (a broken
	// quote, a line too long); the row then ends as an ERROR.
	ReadError string
}

// ImportRowResult is what an import did with one row.
type ImportRowResult struct {
	Seq                uint64
	Line               int
	RegistrationNumber string
	LegalName          string
	Outcome            Outcome
	Error              string
	ContactError       string
	Supplier           string // company id; "" on ERROR
}

// ImportWork is one row ready to apply: either a registration or a refusal.
type ImportWork struct {
	Row          ImportRow
	Registration *Registration // nil when refused
	Error        string        // why the row is refused
	// ContactError says why the row's contact is left out although the
	// supplier is registered (no e-mail given).
	ContactError string
}
