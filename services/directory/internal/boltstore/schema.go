// Package boltstore is the directory's bbolt store: it implements
// directory.Store with proto-encoded values (the gen types) and secondary
// index buckets written in the same transaction as the records they index.
package boltstore

import "github.com/vigil/vigil/services/runtime/storage"

// The buckets, declared once. Keys built from several ids join them with
// "/", which no id contains (ids match [A-Za-z0-9_-]+).
var (
	// companies: {company} → directoryv1.Company.
	bucketCompanies = storage.Bucket("companies")
	// companies_by_registration: {country}/{registration number} → {company}.
	// The unique index of R-DIR-1.
	bucketCompaniesByRegistration = storage.Bucket("companies_by_registration")
	// company_create_requests: {request id} → {company}, so that a retried
	// CreateCompany returns the first call's company.
	bucketCreateRequests = storage.Bucket("company_create_requests")
	// suppliers_by_customer: {customer}/{supplier} → directoryv1.Customer,
	// the relationship (its references and creation time).
	bucketSuppliersByCustomer = storage.Bucket("suppliers_by_customer")
	// customers_by_supplier: {supplier}/{customer} → empty; the reverse index.
	bucketCustomersBySupplier = storage.Bucket("customers_by_supplier")
	// employees: {supplier}/{employee} → directoryv1.Employee (written by a
	// later issue; read here so that DeleteCompany refuses a company with
	// employees).
	bucketEmployees = storage.Bucket("employees")
	// projects: {customer}/{project} → directoryv1.Project (idem).
	bucketProjects = storage.Bucket("projects")
)

var allBuckets = []storage.Bucket{
	bucketCompanies, bucketCompaniesByRegistration, bucketCreateRequests,
	bucketSuppliersByCustomer, bucketCustomersBySupplier, bucketEmployees, bucketProjects,
}

func pairKey(a, b string) []byte { return []byte(a + "/" + b) }

func prefixKey(a string) []byte { return []byte(a + "/") }
