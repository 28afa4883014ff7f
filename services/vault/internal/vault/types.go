// Package vault is the vault's domain: the document-type catalog
// (R-VAULT-1), customers' requirements (R-VAULT-2), suppliers' documents and
// their versions (R-VAULT-4, R-VAULT-5), who sees which document (R-VAULT-3,
// R-ID-3, R-DIR-10), the download log (R-VAULT-8), compliance kept current
// (R-VAULT-6), rejections (R-VAULT-7) and document requests (R-NOTIF-3).
//
// It speaks plain Go values: no proto, no bbolt. The store it needs is the
// Store interface below; the network it needs (directory, identity, notify)
// are the Directory, Identity and Notifier ports.
package vault

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/vigil/vigil/services/runtime/names"
)

// SubjectKind says what documents of a type are about (numbers as
// vigil.vault.v1.DocumentSubject).
type SubjectKind int32

// The subject kinds.
const (
	SubjectUnspecified SubjectKind = 0
	SubjectCompany     SubjectKind = 1
	SubjectEmployee    SubjectKind = 2
)

// Category classifies document types (numbers as vigil.vault.v1.DocumentCategory).
type Category int32

// The categories.
const (
	CategoryUnspecified Category = 0
	CategoryLegal       Category = 1
	CategoryRegulatory  Category = 2
	CategorySpecific    Category = 3
)

// Scope says from whom a requirement collects (numbers as
// vigil.vault.v1.RequirementScope).
type Scope int32

// The scopes.
const (
	ScopeUnspecified      Scope = 0
	ScopeAllSuppliers     Scope = 1
	ScopeNamedSuppliers   Scope = 2
	ScopeProjectEmployees Scope = 3
)

// DocState is current or superseded (numbers as vigil.vault.v1.DocumentState).
type DocState int32

// The document states.
const (
	StateUnspecified DocState = 0
	StateCurrent     DocState = 1
	StateSuperseded  DocState = 2
)

// Status is the compliance status of one entry (numbers as
// vigil.vault.v1.ComplianceStatus).
type Status int32

// The statuses (R-VAULT-6).
const (
	StatusUnspecified  Status = 0
	StatusMissing      Status = 1
	StatusValid        Status = 2
	StatusExpiringSoon Status = 3
	StatusExpired      Status = 4
	StatusRejected     Status = 5
)

// String is the status's name, for CSV exports and logs.
func (s Status) String() string {
	switch s {
	case StatusMissing:
		return "MISSING"
	case StatusValid:
		return "VALID"
	case StatusExpiringSoon:
		return "EXPIRING_SOON"
	case StatusExpired:
		return "EXPIRED"
	case StatusRejected:
		return "REJECTED"
	}
	return "UNSPECIFIED"
}

// Compliant reports whether an entry in this status counts as compliant
// (R-VAULT-6: VALID or EXPIRING_SOON).
func (s Status) Compliant() bool { return s == StatusValid || s == StatusExpiringSoon }

// ExpiringWindowDays is R-VAULT-6's "within 30 days": a document whose
// valid_until is at most this many days after today is EXPIRING_SOON.
const ExpiringWindowDays = 30

// Date is a calendar day, counted in days since 1970-01-01. Dates compare
// and subtract as numbers; their big-endian encoding sorts as they do.
type Date int32

// MaxDate stands for "never" (a summary with no dated entry).
const MaxDate Date = 2932896 // 9999-12-31

// DateOf is the day of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// ParseDate reads YYYY-MM-DD; field names the request field in the error.
func ParseDate(s string) (Date, bool) {
	if len(s) != 10 {
		return 0, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1900 {
		return 0, false
	}
	return DateOf(t), true
}

// Time is midnight UTC of the day.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String is YYYY-MM-DD ("" for the zero date, which means unset).
func (d Date) String() string {
	if d == 0 {
		return ""
	}
	return d.Time().Format(time.DateOnly)
}

// Key is the date's sortable 4-byte encoding.
func (d Date) Key() []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(d))
	return b[:]
}

// DateFromKey reads Key's encoding.
func DateFromKey(b []byte) Date {
	if len(b) < 4 {
		return 0
	}
	return Date(binary.BigEndian.Uint32(b))
}

// Text is a name and description in one language.
type Text struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Languages are the platform's languages; English first (the default).
var Languages = []string{"en", "fr"}

// DocumentType is what a document is (R-VAULT-1).
type DocumentType struct {
	ID       string          `json:"id"`
	Texts    map[string]Text `json:"texts"` // by language; "en" always set
	Subject  SubjectKind     `json:"subject"`
	Category Category        `json:"category"`
	// DefaultValidityDays fills valid_until when an upload leaves it out (0: none).
	DefaultValidityDays int32 `json:"default_validity_days,omitempty"`
	// Owner is the customer company id of a SPECIFIC type; "" for the catalog.
	Owner      string    `json:"owner,omitempty"`
	CreateTime time.Time `json:"create_time"`
}

// Text is the type's name and description in lang, English when missing.
func (t *DocumentType) Text(lang string) Text {
	if x, ok := t.Texts[lang]; ok && x.Name != "" {
		return x
	}
	return t.Texts["en"]
}

// Requirement is a customer's demand for one type (R-VAULT-2).
type Requirement struct {
	ID           string   `json:"id"`
	Customer     string   `json:"customer"`
	DocumentType string   `json:"document_type"`
	Scope        Scope    `json:"scope"`
	Suppliers    []string `json:"suppliers,omitempty"` // company ids, ScopeNamedSuppliers only
	Project      string   `json:"project,omitempty"`   // project id of the customer, ScopeProjectEmployees only
	// Subject is the type's subject kind, copied so that compliance needs
	// no catalog read per entry.
	Subject    SubjectKind `json:"subject"`
	CreateTime time.Time   `json:"create_time"`
}

// names reports whether a named-suppliers requirement names supplier.
func (r *Requirement) names(supplier string) bool {
	for _, s := range r.Suppliers {
		if s == supplier {
			return true
		}
	}
	return false
}

// Rejection is one customer's rejection of a document (R-VAULT-7).
type Rejection struct {
	Customer   string    `json:"customer"`
	Reason     string    `json:"reason"`
	RejectedBy string    `json:"rejected_by"` // companies/{c}/users/{u}
	Time       time.Time `json:"time"`
}

// Document is one uploaded version (R-VAULT-4, R-VAULT-5).
type Document struct {
	ID           string `json:"id"`
	Supplier     string `json:"supplier"`
	DocumentType string `json:"document_type"`
	// Employee is the employee id for an employee document, "" for the company.
	Employee     string      `json:"employee,omitempty"`
	FileName     string      `json:"file_name"`
	ContentType  string      `json:"content_type"`
	Size         int64       `json:"size"`
	SHA256       string      `json:"sha256"`
	ValidFrom    Date        `json:"valid_from"`
	ValidUntil   Date        `json:"valid_until"`
	Version      int32       `json:"version"`
	State        DocState    `json:"state"`
	SupersededBy string      `json:"superseded_by,omitempty"`
	Supersedes   string      `json:"supersedes,omitempty"`
	UploadedBy   string      `json:"uploaded_by"` // companies/{c}/users/{u}
	CreateTime   time.Time   `json:"create_time"`
	Rejections   []Rejection `json:"rejections,omitempty"`
}

// RejectionBy returns customer's rejection of the document, if any.
func (d *Document) RejectionBy(customer string) (Rejection, bool) {
	for _, r := range d.Rejections {
		if r.Customer == customer {
			return r, true
		}
	}
	return Rejection{}, false
}

// SubjectKind is the document's subject kind.
func (d *Document) SubjectKind() SubjectKind {
	if d.Employee != "" {
		return SubjectEmployee
	}
	return SubjectCompany
}

// Access is one download of a document by a customer's user (R-VAULT-8).
type Access struct {
	Supplier     string    `json:"supplier"`
	DocumentType string    `json:"document_type"`
	Employee     string    `json:"employee,omitempty"`
	Document     string    `json:"document"` // the version downloaded
	Version      int32     `json:"version"`
	Customer     string    `json:"customer"`
	User         string    `json:"user"` // companies/{c}/users/{u}
	UserName     string    `json:"user_name,omitempty"`
	Time         time.Time `json:"time"`
	Seq          uint64    `json:"seq"`
}

// Blob is one stored content, shared by every document with its SHA-256.
type Blob struct {
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	CreateTime  time.Time `json:"create_time"`
}

// BlobIntent records an upload about to publish a blob; it is removed in the
// transaction that commits the document. An intent left at start means the
// upload died between publishing and committing: its blob is an orphan
// unless a committed document uses the same bytes.
type BlobIntent struct {
	ID     string    `json:"id"`
	SHA256 string    `json:"sha256"`
	Time   time.Time `json:"time"`
}

// Company is what the vault keeps of a company (from directory): its name
// for lists and e-mails, its time zone for "today" (R-VAULT-6), its language.
type Company struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	TimeZone string `json:"time_zone,omitempty"`
	Language string `json:"language,omitempty"`
}

// DefaultTimeZone is "today"'s zone for a company without one (R-VAULT-6).
const DefaultTimeZone = "Europe/Paris"

// Assignment is one employee of a supplier assigned to a customer's project,
// as directory reported it.
type Assignment struct {
	Customer string `json:"customer"`
	Supplier string `json:"supplier"`
	Employee string `json:"employee"`
	Project  string `json:"project"`
}

// Project is what the vault keeps of a customer's project.
type Project struct {
	Customer string `json:"customer"`
	ID       string `json:"id"`
	Closed   bool   `json:"closed,omitempty"`
}

// SubjectName is the supplier's or the employee's resource name.
func SubjectName(supplier, employee string) string {
	if employee == "" {
		return names.Company.Format(supplier)
	}
	return names.Employee.Format(supplier, employee)
}

// ParseSubject reads a document subject of supplier: the supplier itself
// (returns "") or one of its employees (returns the employee id).
func ParseSubject(supplier, name string) (employee string, ok bool) {
	if name == names.Company.Format(supplier) {
		return "", true
	}
	company, employee, ok := names.Employee.Match(name)
	if !ok || company != supplier {
		return "", false
	}
	return employee, true
}

func errorf(format string, args ...any) error { return fmt.Errorf("vault: "+format, args...) }
