package vault

import "github.com/vigil/vigil/services/runtime/names"

// Ids and resource names are runtime/names'. These forwarders keep the
// handlers (api) and the upload and list paths compiling unchanged while
// they are being reworked elsewhere; new code calls runtime/names directly.

// NewID is names.NewID.
//
// Deprecated: use names.NewID.
func NewID() string { return names.NewID() }

// CompanyName is companies/{id}.
//
// Deprecated: use names.Company.Format.
func CompanyName(id string) string { return names.Company.Format(id) }

// TypeName is documentTypes/{id}.
//
// Deprecated: use names.DocumentType.Format.
func TypeName(id string) string { return names.DocumentType.Format(id) }

// DocumentName is companies/{supplier}/documents/{id}.
//
// Deprecated: use names.Document.Format.
func DocumentName(supplier, id string) string { return names.Document.Format(supplier, id) }

// SupplierDocumentName is companies/{customer}/suppliers/{supplier}/documents/{id}.
//
// Deprecated: use names.SupplierDocument.Format.
func SupplierDocumentName(customer, supplier, id string) string {
	return names.SupplierDocument.Format(customer, supplier, id)
}

// EmployeeName is companies/{supplier}/employees/{id}.
//
// Deprecated: use names.Employee.Format.
func EmployeeName(supplier, id string) string { return names.Employee.Format(supplier, id) }

// RequirementName is companies/{customer}/requirements/{id}.
//
// Deprecated: use names.Requirement.Format.
func RequirementName(customer, id string) string { return names.Requirement.Format(customer, id) }

// ProjectName is companies/{customer}/projects/{id}.
//
// Deprecated: use names.Project.Format.
func ProjectName(customer, id string) string { return names.Project.Format(customer, id) }

// ParseName splits a resource name into its ids by its collections.
//
// Deprecated: use the runtime/names name, or names.Match.
func ParseName(name string, collections ...string) ([]string, bool) {
	return names.Match(name, collections...)
}
