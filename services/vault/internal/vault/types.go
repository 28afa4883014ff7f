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
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
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

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewID returns a time-ordered, URL-safe id: 6 bytes of milliseconds then 10
// random bytes, in lower-case base32hex (26 characters), so that ids sort
// by creation (requirements list oldest first by id).
func NewID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])
}

// validID reports whether id may appear in a resource name.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Resource names.

// CompanyName is companies/{id}.
func CompanyName(id string) string { return "companies/" + id }

// TypeName is documentTypes/{id}.
func TypeName(id string) string { return "documentTypes/" + id }

// DocumentName is companies/{supplier}/documents/{id}.
func DocumentName(supplier, id string) string { return "companies/" + supplier + "/documents/" + id }

// SupplierDocumentName is companies/{customer}/suppliers/{supplier}/documents/{id}.
func SupplierDocumentName(customer, supplier, id string) string {
	return "companies/" + customer + "/suppliers/" + supplier + "/documents/" + id
}

// EmployeeName is companies/{supplier}/employees/{id}.
func EmployeeName(supplier, id string) string { return "companies/" + supplier + "/employees/" + id }

// SubjectName is the supplier's or the employee's resource name.
func SubjectName(supplier, employee string) string {
	if employee == "" {
		return CompanyName(supplier)
	}
	return EmployeeName(supplier, employee)
}

// RequirementName is companies/{customer}/requirements/{id}.
func RequirementName(customer, id string) string {
	return "companies/" + customer + "/requirements/" + id
}

// ProjectName is companies/{customer}/projects/{id}.
func ProjectName(customer, id string) string { return "companies/" + customer + "/projects/" + id }

// ParseName splits a resource name into its ids by the collections it
// must have: ParseName("companies/a/documents/b", "companies", "documents")
// returns [a b].
func ParseName(name string, collections ...string) ([]string, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 2*len(collections) {
		return nil, false
	}
	ids := make([]string, len(collections))
	for i, c := range collections {
		if parts[2*i] != c || !validID(parts[2*i+1]) {
			return nil, false
		}
		ids[i] = parts[2*i+1]
	}
	return ids, true
}

// ParseSubject reads a document subject of supplier: the supplier itself
// (returns "") or one of its employees (returns the employee id).
func ParseSubject(supplier, name string) (employee string, ok bool) {
	if name == CompanyName(supplier) {
		return "", true
	}
	ids, ok := ParseName(name, "companies", "employees")
	if !ok || ids[0] != supplier {
		return "", false
	}
	return ids[1], true
}

func errorf(format string, args ...any) error { return fmt.Errorf("vault: "+format, args...) }
