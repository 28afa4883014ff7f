// Package feed is how Vigil's services tell each other, and integrations,
// what changed: each service that owns data appends events to a log in the
// same transaction as the change that causes them (an outbox), serves the
// log as vigil.events.v1.EventsInternalService/WatchEvents, and the others
// follow it with a durable cursor. Vault follows directory to keep
// compliance current (R-VAULT-6); notify follows every feed to relay events
// to webhooks and the change feed (R-NOTIF-6).
//
// Event is a plain value so that domain packages append events without
// knowing the wire; the server and the follower convert.
package feed

import (
	"maps"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
)

// Event is one committed change, for one company (R-VAULT-3: a change seen
// by several companies is several events).
type Event struct {
	// Sequence is assigned by the log on append: strictly increasing.
	Sequence uint64
	// Type is `<resource>.<verb>`, one of the Type… constants.
	Type string
	Time time.Time
	// Company is `companies/{company}`, the only company the event is for.
	Company string
	// Subject is the main resource (CloudEvents subject).
	Subject string
	// Resources names the resources involved by role (Resource… keys).
	Resources map[string]string
	// Attributes holds further facts (Attr… keys); never secrets.
	Attributes map[string]string
}

// The event types. Those integrations may subscribe to (R-NOTIF-6) are
// listed in Public; the others are for services only.
const (
	TypeSupplierLinked     = "supplier.linked"
	TypeSupplierUnlinked   = "supplier.unlinked"
	TypeImportCompleted    = "import.completed"
	TypeDocumentUploaded   = "document.uploaded"
	TypeDocumentRejected   = "document.rejected"
	TypeComplianceChanged  = "compliance.changed"
	TypeEmployeeAssigned   = "employee.assigned"
	TypeEmployeeUnassigned = "employee.unassigned"
	TypeUserDeactivated    = "user.deactivated"

	// Internal: a project's existence or state changed (directory).
	TypeProjectChanged = "project.changed"
	// Internal: an employee was deleted (directory); its assignments ended.
	TypeEmployeeDeleted = "employee.deleted"
	// Internal: a company's master data changed (time zone, name, …).
	TypeCompanyChanged = "company.changed"
)

// Public are the event types integrations may subscribe to (R-NOTIF-6).
var Public = []string{
	TypeSupplierLinked, TypeSupplierUnlinked, TypeImportCompleted,
	TypeDocumentUploaded, TypeDocumentRejected, TypeComplianceChanged,
	TypeEmployeeAssigned, TypeEmployeeUnassigned, TypeUserDeactivated,
}

// IsPublic reports whether integrations may subscribe to type t.
func IsPublic(t string) bool {
	for _, p := range Public {
		if p == t {
			return true
		}
	}
	return false
}

// Resource keys.
const (
	ResourceCustomer     = "customer"
	ResourceSupplier     = "supplier"
	ResourceDocument     = "document"
	ResourceDocumentType = "document_type"
	ResourceEmployee     = "employee"
	ResourceProject      = "project"
	ResourceRequirement  = "requirement"
	ResourceUser         = "user"
	ResourceImport       = "import"
)

// Attribute keys.
const (
	AttrCompliant  = "compliant"
	AttrReason     = "reason"
	AttrVersion    = "version"
	AttrValidUntil = "valid_until"
	AttrCounts     = "counts"
)

// ID is the event's unique id, `{source}-{sequence}`.
func ID(source string, seq uint64) string { return source + "-" + strconv.FormatUint(seq, 10) }

// ParseID splits an id made by ID.
func ParseID(id string) (source string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	return id[:i], n, err == nil
}

// ToProto is the wire form of e as source serves it.
func ToProto(source string, e Event) *eventsv1.Event {
	return &eventsv1.Event{
		Id: ID(source, e.Sequence), Sequence: e.Sequence, Source: source, Type: e.Type,
		Time: timestamppb.New(e.Time), Company: e.Company, Subject: e.Subject,
		Resources: maps.Clone(e.Resources), Attributes: maps.Clone(e.Attributes),
	}
}

// FromProto is the plain form of a wire event.
func FromProto(p *eventsv1.Event) Event {
	return Event{
		Sequence: p.GetSequence(), Type: p.GetType(), Time: p.GetTime().AsTime(), Company: p.GetCompany(),
		Subject: p.GetSubject(), Resources: maps.Clone(p.GetResources()), Attributes: maps.Clone(p.GetAttributes()),
	}
}
