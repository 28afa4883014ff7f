package directory

import (
	"fmt"
	"time"

	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// The events directory emits (runtime/feed), one per company concerned
// (R-VAULT-3: a company receives only events about what it may see). Store
// implementations build them with these functions and append them in the
// transaction of the change, so that the shape of each event lives here.

// RelationshipEvents are `supplier.linked` or `supplier.unlinked` (typ):
// one for the customer (subject its supplier) and one for the supplier
// (subject its customer).
func RelationshipEvents(typ, customer, supplier string, now time.Time) []feed.Event {
	res := map[string]string{feed.ResourceCustomer: names.Company.Format(customer), feed.ResourceSupplier: names.Company.Format(supplier)}
	return []feed.Event{
		{Type: typ, Time: now, Company: names.Company.Format(customer), Subject: names.Supplier.Format(customer, supplier), Resources: res},
		{Type: typ, Time: now, Company: names.Company.Format(supplier), Subject: names.Customer.Format(supplier, customer), Resources: clone(res)},
	}
}

// AssignmentEvents are `employee.assigned` or `employee.unassigned` (typ):
// one for the project's customer and one for the employee's supplier,
// subject the employee.
func AssignmentEvents(typ string, a Assignment, now time.Time) []feed.Event {
	res := map[string]string{
		feed.ResourceEmployee: names.Employee.Format(a.Supplier, a.Employee), feed.ResourceProject: names.Project.Format(a.Customer, a.Project),
		feed.ResourceCustomer: names.Company.Format(a.Customer), feed.ResourceSupplier: names.Company.Format(a.Supplier),
	}
	subject := names.Employee.Format(a.Supplier, a.Employee)
	return []feed.Event{
		{Type: typ, Time: now, Company: names.Company.Format(a.Customer), Subject: subject, Resources: res},
		{Type: typ, Time: now, Company: names.Company.Format(a.Supplier), Subject: subject, Resources: clone(res)},
	}
}

// EmployeeDeletedEvent is `employee.deleted`, for the supplier.
func EmployeeDeletedEvent(supplier, employee string, now time.Time) feed.Event {
	return feed.Event{Type: feed.TypeEmployeeDeleted, Time: now, Company: names.Company.Format(supplier), Subject: names.Employee.Format(supplier, employee),
		Resources: map[string]string{feed.ResourceEmployee: names.Employee.Format(supplier, employee), feed.ResourceSupplier: names.Company.Format(supplier)}}
}

// AttrState is project.changed's attribute: `active` or `closed`.
const AttrState = "state"

// ProjectChangedEvent is `project.changed`, for the customer.
func ProjectChangedEvent(p Project, now time.Time) feed.Event {
	return feed.Event{Type: feed.TypeProjectChanged, Time: now, Company: names.Company.Format(p.Customer), Subject: names.Project.Format(p.Customer, p.ID),
		Resources:  map[string]string{feed.ResourceProject: names.Project.Format(p.Customer, p.ID), feed.ResourceCustomer: names.Company.Format(p.Customer)},
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
	return feed.Event{Type: feed.TypeCompanyChanged, Time: now, Company: names.Company.Format(c.ID), Subject: names.Company.Format(c.ID),
		Attributes: map[string]string{AttrTimeZone: c.TimeZone, AttrLegalName: c.LegalName, AttrLanguage: c.Language}}
}

// ImportCompletedEvent is `import.completed`, for the customer; its
// `counts` attribute reads `created=3,linked=1,already_linked=0,error=2`.
func ImportCompletedEvent(imp Import, now time.Time) feed.Event {
	c := imp.Counts
	return feed.Event{Type: feed.TypeImportCompleted, Time: now, Company: names.Company.Format(imp.Customer), Subject: names.SupplierImport.Format(imp.Customer, imp.ID),
		Resources: map[string]string{feed.ResourceImport: names.SupplierImport.Format(imp.Customer, imp.ID), feed.ResourceCustomer: names.Company.Format(imp.Customer)},
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
