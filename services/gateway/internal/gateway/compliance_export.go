package gateway

import (
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/zap"

	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
)

// exportPattern is the customer's compliance as CSV (issue 10 point 7).
const exportPattern = "/v1/companies/{company}/compliance:export"

// exportHeader names the CSV's columns.
var exportHeader = []string{"supplier", "supplier_name", "requirement", "document_type", "document_type_name", "subject",
	"status", "valid_until", "document", "document_version", "rejection_reason"}

// csvSafe keeps a spreadsheet from reading a value as a formula (CSV
// injection): a value starting with = + - @ or a control character gets a
// leading apostrophe.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// exportCompliance streams the vault's ExportCompliance as CSV, UTF-8 with
// a byte order mark (so that spreadsheets read accents right), one row per
// supplier, requirement and subject, written as the rows arrive.
func (f *fileRoutes) exportCompliance(w http.ResponseWriter, r *http.Request, params map[string]string) {
	ctx, err := runtime.AnnotateContext(r.Context(), f.mux, r, vaultv1.ComplianceService_ExportCompliance_FullMethodName,
		runtime.WithHTTPPathPattern(exportPattern))
	if err != nil {
		f.fail(r.Context(), w, r, err)
		return
	}
	stream, err := f.compliance.ExportCompliance(ctx, &vaultv1.ExportComplianceRequest{Parent: "companies/" + params["company"]})
	if err != nil {
		f.fail(ctx, w, r, err)
		return
	}
	first, err := stream.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		f.fail(ctx, w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", contentDisposition("compliance-"+params["company"]+"-"+first.GetAsOfDate()+".csv"))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "\ufeff")
	cw := csv.NewWriter(w)
	_ = cw.Write(exportHeader)
	rc := http.NewResponseController(w)
	for msg := first; msg != nil; {
		for _, row := range msg.GetRows() {
			e := row.GetEntry()
			version := ""
			if e.GetDocumentVersion() > 0 {
				version = strconv.Itoa(int(e.GetDocumentVersion()))
			}
			rec := []string{row.GetSupplier(), row.GetSupplierDisplayName(), e.GetRequirement(), e.GetDocumentType(), e.GetDocumentTypeDisplayName(),
				e.GetSubject(), strings.TrimPrefix(e.GetStatus().String(), "COMPLIANCE_STATUS_"), e.GetValidUntil(), e.GetDocument(), version,
				e.GetRejectionReason()}
			for i := range rec {
				rec[i] = csvSafe(rec[i])
			}
			if err := cw.Write(rec); err != nil {
				return
			}
		}
		cw.Flush()
		if cw.Error() != nil {
			return
		}
		_ = rc.Flush()
		msg, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			f.log.Warn("export interrupted", zap.Error(err))
			panic(http.ErrAbortHandler)
		}
	}
}
