package directory

import (
	"fmt"
	"time"

	"github.com/vigil/vigil/services/runtime/feed"
)

// The events directory emits (runtime/feed), one per company concerned
// (R-VAULT-3: a company receives only events about what it may see). Store
// implementations build them with these functions and append them in the
// transaction of the change, so that the shape of each event lives here.

// SupplierName is `companies/{customer}/suppliers/{supplier}`.
func SupplierName(customer, supplier string) string {
	return Name(customer) + "/suppliers/" + supplier
}

// CustomerName is `companies/{supplier}/customers/{customer}`.
func CustomerName(supplier, customer string) string {
	return Name(supplier) + "/customers/" + customer
}

// EmployeeName is `companies/{supplier}/employees/{employee}`.
func EmployeeName(supplier, employee string) string {
	return Name(supplier) + "/employees/" + employee
}

// ProjectName is `companies/{customer}/projects/{project}`.
func ProjectName(customer, project string) string {
	return Name(customer) + "/projects/" + project
}

// ImportName is `companies/{customer}/supplierImports/{import}`.
func ImportName(customer, id string) string {
	return Name(customer) + "/supplierImports/" + id
}

// MemberName is `companies/{company}/users/{user}`.
func MemberName(company, user string) string {
	return Name(company) + "/users/" + user
}

// RelationshipEvents are `supplier.linked` or `supplier.unlinked` (typ):
// one for the customer (subject its supplier) and one for the supplier
// (subject its customer).
func RelationshipEvents(typ, customer, supplier string, now time.Time) []feed.Event {
	res := map[string]string{feed.ResourceCustomer: Name(customer), feed.ResourceSupplier: Name(supplier)}
	return []feed.Event{
		{Type: typ, Time: now, Company: Name(customer), Subject: SupplierName(customer, supplier), Resources: res},
		{Type: typ, Time: now, Company: Name(supplier), Subject: CustomerName(supplier, customer), Resources: clone(res)},
	}
}

// AssignmentEvents are `employee.assigned` or `employee.unassigned` (typ):
// one for the project's customer and one for the employee's supplier,
// subject the employee.
func AssignmentEvents(typ string, a Assignment, now time.Time) []feed.Event {
	res := map[string]string{
		feed.ResourceEmployee: EmployeeName(a.Supplier, a.Employee), feed.ResourceProject: ProjectName(a.Customer, a.Project),
		feed.ResourceCustomer: Name(a.Customer), feed.ResourceSupplier: Name(a.Supplier),
	}
	subject := EmployeeName(a.Supplier, a.Employee)
	return []feed.Event{
		{Type: typ, Time: now, Company: Name(a.Customer), Subject: subject, Resources: res},
		{Type: typ, Time: now, Company: Name(a.Supplier), Subject: subject, Resources: clone(res)},
	}
}

// EmployeeDeletedEvent is `employee.deleted`, for the supplier.
func EmployeeDeletedEvent(supplier, employee string, now time.Time) feed.Event {
	return feed.Event{Type: feed.TypeEmployeeDeleted, Time: now, Company: Name(supplier), Subject: EmployeeName(supplier, employee),
		Resources: map[string]string{feed.ResourceEmployee: EmployeeName(supplier, employee), feed.ResourceSupplier: Name(supplier)}}
}

// AttrState is project.changed's attribute: `active` or `closed`.
const AttrState = "state"

// ProjectChangedEvent is `project.changed`, for the customer.
func ProjectChangedEvent(p Project, now time.Time) feed.Event {
	return feed.Event{Type: feed.TypeProjectChanged, Time: now, Company: Name(p.Customer), Subject: ProjectName(p.Customer, p.ID),
		Resources:  map[string]string{feed.ResourceProject: ProjectName(p.Customer, p.ID), feed.ResourceCustomer: Name(p.Customer)},
		Attributes: map[string]string{AttrState: p.State.String()}}
}

// company.changed's attributes: the company's values after the change.
const (
	AttrTimeZone  = "time_zone"
	AttrLegalName = "legal_name"
	AttrLanguage  = "language"
)

// CompanyChangedEvent is `company.changed`, for the company itself.
func CompanyChangedEvent(c Company, now time.Time) feed.Event {
	return feed.Event{Type: feed.TypeCompanyChanged, Time: now, Company: Name(c.ID), Subject: Name(c.ID),
		Attributes: map[string]string{AttrTimeZone: c.TimeZone, AttrLegalName: c.LegalName, AttrLanguage: c.Language}}
}

// ImportCompletedEvent is `import.completed`, for the customer; its
// `counts` attribute reads `created=3,linked=1,already_linked=0,error=2`.
func ImportCompletedEvent(imp Import, now time.Time) feed.Event {
	c := imp.Counts
	return feed.Event{Type: feed.TypeImportCompleted, Time: now, Company: Name(imp.Customer), Subject: ImportName(imp.Customer, imp.ID),
		Resources: map[string]string{feed.ResourceImport: ImportName(imp.Customer, imp.ID), feed.ResourceCustomer: Name(imp.Customer)},
		Attributes: map[string]string{feed.AttrCounts: fmt.Sprintf("created=%d,linked=%d,already_linked=%d,error=%d",
			c.Created, c.Linked, c.AlreadyLinked, c.Errors)}}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
