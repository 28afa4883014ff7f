// Package boltstore implements the vault's store (vault.Store) on bbolt.
// Buckets are declared once below; every secondary index is updated in the
// same transaction as its record. Values are JSON-encoded domain records:
// they carry fields (compliance dates, announcements, outbox addressees)
// that no public proto has. Keys join ids with "/", which no id contains
// (ids match [A-Za-z0-9_-]+); dates and counters are big-endian, so that
// keys sort as their values.
package boltstore

import "github.com/vigil/vigil/services/runtime/storage"

var (
	// Catalog.
	bTypes        = storage.Bucket("types")          // {type} → DocumentType
	bTypesByOwner = storage.Bucket("types_by_owner") // {owner}/{type} → ∅ (owner "" for the catalog)

	// Requirements.
	bRequirements = storage.Bucket("requirements") // {customer}/{requirement} → Requirement

	// Documents and their indexes.
	bDocuments   = storage.Bucket("documents")         // {supplier}/{document} → Document
	bDocVersions = storage.Bucket("doc_versions")      // {supplier}/{type}/{employee}/{^version} → {document}
	bDocCurrent  = storage.Bucket("doc_current")       // {supplier}/{type}/{employee} → {document}
	bDocUntilSup = storage.Bucket("doc_until_by_supp") // {supplier}/{until}/{document} → ∅ (current versions)
	bDocUntil    = storage.Bucket("doc_until")         // {until}{supplier}/{document} → ∅ (current versions)

	// Blobs.
	bBlobs        = storage.Bucket("blobs")               // {sha256} → Blob
	bBlobIntents  = storage.Bucket("blob_intents")        // {intent} → BlobIntent
	bIntentsBySHA = storage.Bucket("blob_intents_by_sha") // {sha256}/{intent} → ∅

	// Download log.
	bAccess = storage.Bucket("access_log") // {supplier}/{type}/{employee}/{^seq} → Access

	// The copy of directory.
	bCompanies  = storage.Bucket("companies")            // {company} → Company
	bRel        = storage.Bucket("relationships")        // {customer}/{supplier} → ∅
	bRelRev     = storage.Bucket("relationships_by_sup") // {supplier}/{customer} → ∅
	bAssign     = storage.Bucket("assignments")          // {customer}/{supplier}/{employee}/{project} → ∅
	bAssignProj = storage.Bucket("assignments_by_proj")  // {customer}/{project}/{supplier}/{employee} → ∅
	bAssignEmp  = storage.Bucket("assignments_by_emp")   // {supplier}/{employee}/{customer}/{project} → ∅
	bProjects   = storage.Bucket("projects")             // {customer}/{project} → Project
	bCursors    = storage.Bucket("cursors")              // {feed} → sequence

	// Compliance.
	bEntries      = storage.Bucket("entries")             // {customer}/{supplier}/{type}/{employee}/{requirement} → Entry
	bEntriesByReq = storage.Bucket("entries_by_req")      // {customer}/{requirement}/{supplier}/{type}/{employee} → ∅
	bSummaries    = storage.Bucket("summaries")           // {customer}/{supplier} → Summary
	bSumBySupp    = storage.Bucket("summaries_by_supp")   // {supplier}/{customer} → ∅
	bSumWorst     = storage.Bucket("summaries_worst")     // {customer}/\x00{^fixed}{minUntil}{supplier} or /\x01{minUntil}{supplier} → lower(name)
	bSumName      = storage.Bucket("summaries_name")      // {customer}/{lower(name)}\x00{supplier} → {fixed}{minUntil}
	bSumMinUntil  = storage.Bucket("summaries_min_until") // {minUntil}{customer}/{supplier} → ∅ (no fixed problem)
	bStats        = storage.Bucket("stats")               // {customer}/{counter} → int64
	bSumHist      = storage.Bucket("summary_min_untils")  // {customer}/{minUntil} → count (no fixed problem)
	bEntHist      = storage.Bucket("entry_untils")        // {customer}/{until} → count (dated entries)

	// Events, outbox, requests, meta.
	bEvents   = storage.Bucket("events")       // sequence → vigil.events.v1.Event
	bOutbox   = storage.Bucket("outbox")       // {outbound} → Outbound
	bRequests = storage.Bucket("doc_requests") // {customer}/{supplier} → time
	bMeta     = storage.Bucket("meta")         // key → value

	buckets = []storage.Bucket{bTypes, bTypesByOwner, bRequirements, bDocuments, bDocVersions, bDocCurrent, bDocUntilSup, bDocUntil,
		bBlobs, bBlobIntents, bIntentsBySHA, bAccess, bCompanies, bRel, bRelRev, bAssign, bAssignProj, bAssignEmp, bProjects, bCursors,
		bEntries, bEntriesByReq, bSummaries, bSumBySupp, bSumWorst, bSumName, bSumMinUntil, bStats, bSumHist, bEntHist,
		bEvents, bOutbox, bRequests, bMeta}
)

// Counters in bStats.
const (
	statSuppliers     = "suppliers"
	statFixed         = "fixed"
	statEmpty         = "empty"
	statEntryMissing  = "entry_missing"
	statEntryRejected = "entry_rejected"
	// statRevision counts the changes to a customer's entries and
	// summaries (vault.Revision.Customer).
	statRevision = "revision"
)

// metaCompaniesRevision in bMeta counts the changes to the companies'
// records (vault.Revision.Companies).
const metaCompaniesRevision = "companies_revision"
