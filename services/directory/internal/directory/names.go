package directory

import "github.com/vigil/vigil/services/runtime/names"

// Resource names are runtime/names'. These forwarders keep the handlers
// (api) and protoconv compiling unchanged while the list handlers are
// being reworked elsewhere; new code calls runtime/names directly.

// Name is companies/{company}.
//
// Deprecated: use names.Company.Format.
func Name(id string) string { return names.Company.Format(id) }

// ParseName reads companies/{company}.
//
// Deprecated: use names.Company.Parse.
func ParseName(field, name string) (string, error) { return names.Company.Parse(field, name) }

// ParseProjectName reads companies/{customer}/projects/{project}.
//
// Deprecated: use names.Project.Parse.
func ParseProjectName(field, name string) (string, string, error) {
	return names.Project.Parse(field, name)
}

// ParseEmployeeName reads companies/{supplier}/employees/{employee}.
//
// Deprecated: use names.Employee.Parse.
func ParseEmployeeName(field, name string) (string, string, error) {
	return names.Employee.Parse(field, name)
}

// childNames are the names ParseChildName reads, by collection.
var childNames = map[string]names.Name2{
	"suppliers": names.Supplier, "customers": names.Customer, "supplierImports": names.SupplierImport,
}

// ParseChildName reads companies/{company}/{collection}/{id}.
//
// Deprecated: use the runtime/names name of the collection.
func ParseChildName(field, name, collection string) (string, string, error) {
	return childNames[collection].Parse(field, name)
}

// SupplierName is companies/{customer}/suppliers/{supplier}.
//
// Deprecated: use names.Supplier.Format.
func SupplierName(customer, supplier string) string { return names.Supplier.Format(customer, supplier) }

// CustomerName is companies/{supplier}/customers/{customer}.
//
// Deprecated: use names.Customer.Format.
func CustomerName(supplier, customer string) string { return names.Customer.Format(supplier, customer) }

// ProjectName is companies/{customer}/projects/{project}.
//
// Deprecated: use names.Project.Format.
func ProjectName(customer, project string) string { return names.Project.Format(customer, project) }

// EmployeeName is companies/{supplier}/employees/{employee}.
//
// Deprecated: use names.Employee.Format.
func EmployeeName(supplier, employee string) string { return names.Employee.Format(supplier, employee) }

// ImportName is companies/{customer}/supplierImports/{import}.
//
// Deprecated: use names.SupplierImport.Format.
func ImportName(customer, id string) string { return names.SupplierImport.Format(customer, id) }

// MemberName is companies/{company}/users/{user}.
//
// Deprecated: use names.Member.Format.
func MemberName(company, user string) string { return names.Member.Format(company, user) }
