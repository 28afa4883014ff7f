package vault

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Error reasons (ErrorInfo.reason) the vault returns.
const (
	reasonNotFound           = "NOT_FOUND"
	ReasonTypeExists         = "DOCUMENT_TYPE_EXISTS"
	ReasonRequirementExists  = "REQUIREMENT_EXISTS"
	ReasonNotSupplier        = "NOT_A_SUPPLIER"
	ReasonProjectNotFound    = "PROJECT_NOT_FOUND"
	ReasonTypeNotVisible     = "DOCUMENT_TYPE_NOT_VISIBLE"
	ReasonTooLarge           = "DOCUMENT_TOO_LARGE"
	ReasonContentType        = "CONTENT_TYPE_NOT_ACCEPTED"
	ReasonContentMismatch    = "CONTENT_TYPE_MISMATCH"
	ReasonTruncated          = "FILE_TRUNCATED"
	ReasonEmpty              = "FILE_EMPTY"
	ReasonChecksum           = "CHECKSUM_MISMATCH"
	ReasonNoValidity         = "NO_DEFAULT_VALIDITY"
	ReasonEmployeeNotFound   = "EMPLOYEE_NOT_FOUND"
	ReasonAlreadyRejected    = "ALREADY_REJECTED"
	ReasonSuperseded         = "DOCUMENT_SUPERSEDED"
	ReasonRequestLimited     = "DOCUMENT_REQUEST_LIMITED"
	ReasonNothingToRequest   = "NOTHING_TO_REQUEST"
	ReasonRangeNotSatisfied  = "RANGE_NOT_SATISFIABLE"
	ReasonUploadsInFlight    = "TOO_MANY_UPLOADS"
	ReasonDirectoryDown      = "DIRECTORY_UNAVAILABLE"
	ReasonCustomerOnly       = "OPERATORS_ONLY"
	ReasonWrongKindOfCompany = "COMPANY_KIND_NOT_PERMITTED"
)

// Metrics are the vault's product metrics (registered on the service's
// registry): bytes and uploads by result, downloads.
type Metrics struct {
	UploadBytes prometheus.Counter
	Uploads     *prometheus.CounterVec
	Downloads   prometheus.Counter
}

// Upload results (label values of vigil_vault_uploads_total).
const (
	UploadOK       = "ok"
	UploadTooLarge = "too_large"
	UploadRefused  = "refused" // bad type, truncated, empty, checksum, dates, …
	UploadDenied   = "denied"  // permission or visibility
	UploadAborted  = "aborted" // the client went away
	UploadFailed   = "failed"  // an internal error
)

// NewMetrics creates the metrics and registers them on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		UploadBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_vault_upload_bytes_total", Help: "Bytes of documents stored by successful uploads."}),
		Uploads:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_vault_uploads_total", Help: "Uploads by result."}, []string{"result"}),
		Downloads:   prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_vault_downloads_total", Help: "Document downloads that served bytes."}),
	}
	for _, r := range []string{UploadOK, UploadTooLarge, UploadRefused, UploadDenied, UploadAborted, UploadFailed} {
		m.Uploads.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.UploadBytes, m.Uploads, m.Downloads)
	}
	return m
}
