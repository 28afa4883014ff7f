// Package boltstore is the directory's bbolt store: it implements
// directory.Store with proto-encoded values (the gen types, through
// protoconv) for the records that have a wire message, JSON for the few
// internal ones (import jobs and their pending rows, queued contacts), and
// secondary index buckets written in the same transaction as the records
// they index. Every list seeks in an index ordered as it is listed; nothing
// on a request path reads a whole bucket.
package boltstore

import (
	"fmt"
	"math"

	"github.com/vigil/vigil/services/runtime/storage"
)

// The buckets, declared once. Keys built from several ids join them with
// "/", which no id contains (ids match [A-Za-z0-9_-]+); a folded name in a
// key ends with "\x00", which no folded name contains.
var (
	// companies: {company} → directoryv1.Company.
	bucketCompanies = storage.Bucket("companies")
	// companies_by_registration: {country}/{registration number} → {company}.
	// The unique index of R-DIR-1.
	bucketCompaniesByRegistration = storage.Bucket("companies_by_registration")
	// company_create_requests: {request id} → {company}, so that a retried
	// CreateCompany returns the first call's company.
	bucketCreateRequests = storage.Bucket("company_create_requests")
	// companies_by_parent: {parent}/{company} → empty: a group's members.
	bucketCompaniesByParent = storage.Bucket("companies_by_parent")

	// suppliers_by_customer: {customer}/{supplier} → directoryv1.Customer,
	// the relationship (its references and creation time).
	bucketSuppliersByCustomer = storage.Bucket("suppliers_by_customer")
	// customers_by_supplier: {supplier}/{customer} → empty; the reverse index.
	bucketCustomersBySupplier = storage.Bucket("customers_by_supplier")
	// suppliers_by_name: {customer}/{folded supplier name}\x00{supplier} →
	// the supplier's list record (directoryv1.Supplier without its names:
	// legal name, country, number, address, relationship's creation time).
	bucketSuppliersByName = storage.Bucket("suppliers_by_name")
	// customers_by_name: {supplier}/{folded customer name}\x00{customer} → empty.
	bucketCustomersByName = storage.Bucket("customers_by_name")
	// suppliers_by_number: {customer}/{supplier number}\x00{supplier} → empty.
	bucketSuppliersByNumber = storage.Bucket("suppliers_by_number")
	// customers_by_number: {supplier}/{customer number}\x00{customer} → empty.
	bucketCustomersByNumber = storage.Bucket("customers_by_number")
	// contacts_pending: {20-digit sequence} → JSON pendingContact.
	bucketContactsPending = storage.Bucket("contacts_pending")

	// employees: {supplier}/{employee} → directoryv1.Employee (no projects).
	bucketEmployees = storage.Bucket("employees")
	// employees_by_name: {supplier}/{folded family}\x00{folded given}\x00{employee} → empty.
	bucketEmployeesByName = storage.Bucket("employees_by_name")
	// projects: {customer}/{project} → directoryv1.Project.
	bucketProjects = storage.Bucket("projects")
	// projects_by_time: {customer}/{newest-first time}{project} → empty.
	bucketProjectsByTime = storage.Bucket("projects_by_time")
	// projects_by_state: {customer}/{state}/{newest-first time}{project} → empty.
	bucketProjectsByState = storage.Bucket("projects_by_state")
	// assignments_by_project: {customer}/{project}/{supplier}/{employee} → directoryv1.Assignment.
	bucketAssignmentsByProject = storage.Bucket("assignments_by_project")
	// assignments_by_pair: {customer}/{supplier}/{project}/{employee} → empty.
	bucketAssignmentsByPair = storage.Bucket("assignments_by_pair")
	// assignments_by_employee: {supplier}/{employee}/{customer}/{project} → empty.
	bucketAssignmentsByEmployee = storage.Bucket("assignments_by_employee")

	// imports: {customer}/{import} → JSON importRecord.
	bucketImports = storage.Bucket("imports")
	// imports_by_time: {customer}/{newest-first time}{import} → empty.
	bucketImportsByTime = storage.Bucket("imports_by_time")
	// imports_active: {oldest-first time}{import} → {customer}/{import}:
	// the imports uploading or running, for the worker.
	bucketImportsActive = storage.Bucket("imports_active")
	// import_rows: {import}/{8-byte row} → JSON importRow: rows without a
	// result yet.
	bucketImportRows = storage.Bucket("import_rows")
	// import_results: {import}/{8-byte row} → directoryv1.SupplierImportRowResult.
	bucketImportResults = storage.Bucket("import_results")
	// import_errors: {import}/{8-byte row} → empty: rows refused or whose
	// contact was refused.
	bucketImportErrors = storage.Bucket("import_errors")

	// events: the event log (runtime/feed), storage.EventLog.
	bucketEvents = storage.Bucket("events")
	// meta: schema version.
	bucketMeta = storage.Bucket("meta")
)

var allBuckets = []storage.Bucket{
	bucketCompanies, bucketCompaniesByRegistration, bucketCreateRequests, bucketCompaniesByParent,
	bucketSuppliersByCustomer, bucketCustomersBySupplier, bucketSuppliersByName, bucketCustomersByName,
	bucketSuppliersByNumber, bucketCustomersByNumber, bucketContactsPending,
	bucketEmployees, bucketEmployeesByName, bucketProjects, bucketProjectsByTime, bucketProjectsByState,
	bucketAssignmentsByProject, bucketAssignmentsByPair, bucketAssignmentsByEmployee,
	bucketImports, bucketImportsByTime, bucketImportsActive, bucketImportRows, bucketImportResults, bucketImportErrors,
	bucketEvents, bucketMeta,
}

// schemaVersion is the layout this code writes; Open migrates older files.
const schemaVersion = 3

func pairKey(a, b string) []byte { return []byte(a + "/" + b) }

func prefixKey(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, '/')
	}
	return b
}

// nameKey is {owner}/{folded name}\x00{id}.
func nameKey(owner, folded, id string) []byte {
	return []byte(owner + "/" + folded + "\x00" + id)
}

// newestFirst orders keys by time, newest first, in 16 hex digits.
func newestFirst(nanos int64) string { return fmt.Sprintf("%016x", math.MaxUint64-uint64(nanos)) }

// oldestFirst orders keys by time, oldest first.
func oldestFirst(nanos int64) string { return fmt.Sprintf("%016x", uint64(nanos)) }

// rowKey is {import}/{8-byte row}.
func rowKey(importID string, seq uint64) []byte {
	return append([]byte(importID+"/"), storage.U64(seq)...)
}
