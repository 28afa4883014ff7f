package vault

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/logging"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/pagetoken"
	"github.com/vigil/vigil/services/vault/internal/blob"
)

// Who sees which document (R-VAULT-3, R-ID-3, R-DIR-10) is decided here,
// in one place:
//   - the supplier's own users, by their role: company certificates need
//     ViewCompanyCertificates, employee certificates ViewEmployeeCertificates
//     (the expiring view: ViewExpiring…);
//   - a customer's users with the suppliers-area view grant (R-DIR-10), for
//     the documents of a supplier it is linked to whose type and subject it
//     collects: an entry of one of its requirements exists for them, which
//     holds only while the relationship exists and, for an employee, while
//     the employee is assigned to one of its open projects.
// Anything else is NOT_FOUND (the customer learns nothing of what it does
// not collect) or PERMISSION_DENIED (from the table, before any lookup).

// viewAction is the R-ID-3 row that lets a supplier's user see documents of kind.
func viewAction(kind SubjectKind) authz.Action {
	if kind == SubjectEmployee {
		return authz.ViewEmployeeCertificates
	}
	return authz.ViewCompanyCertificates
}

// ownKinds returns the subject kinds the caller may view in its company,
// limited to want (SubjectUnspecified: any); PERMISSION_DENIED when none.
func (s *Service) ownKinds(ctx context.Context, c Caller, supplier string, want SubjectKind, company, employee authz.Action) (SubjectKind, error) {
	cErr := s.authorize(ctx, c, supplier, company)
	eErr := s.authorize(ctx, c, supplier, employee)
	switch {
	case want == SubjectCompany:
		return SubjectCompany, cErr
	case want == SubjectEmployee:
		return SubjectEmployee, eErr
	case cErr == nil && eErr == nil:
		return SubjectUnspecified, nil
	case cErr == nil:
		return SubjectCompany, nil
	case eErr == nil:
		return SubjectEmployee, nil
	}
	return 0, cErr
}

// ListDocuments lists a supplier's own documents the caller may view.
func (s *Service) ListDocuments(ctx context.Context, c Caller, supplier string, q DocQuery, p Page) ([]*Document, string, error) {
	kind, err := s.ownKinds(ctx, c, supplier, q.Kind, authz.ViewCompanyCertificates, authz.ViewEmployeeCertificates)
	if err != nil {
		return nil, "", err
	}
	if q.HasSubject {
		subjKind := SubjectCompany
		if q.Employee != "" {
			subjKind = SubjectEmployee
		}
		if kind != SubjectUnspecified && kind != subjKind {
			return nil, "", s.authorize(ctx, c, supplier, viewAction(subjKind))
		}
	}
	q.Kind = kind
	var docs []*Document
	var next string
	err = s.view(ctx, func(tx Tx) error {
		var err error
		docs, next, err = tx.Documents(supplier, q, p)
		return err
	})
	return docs, next, err
}

// GetDocument returns one of the supplier's own documents. A member who
// may view no certificate (R-ID-3: a Restricted user) is refused before
// any lookup, so that it cannot tell which documents exist.
func (s *Service) GetDocument(ctx context.Context, c Caller, supplier, id string) (*Document, error) {
	if _, err := s.ownKinds(ctx, c, supplier, SubjectUnspecified, authz.ViewCompanyCertificates, authz.ViewEmployeeCertificates); err != nil {
		return nil, err
	}
	var d *Document
	err := s.view(ctx, func(tx Tx) error {
		var err error
		d, err = tx.Document(supplier, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, notFound("document " + names.Document.Format(supplier, id))
	}
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, supplier, viewAction(d.SubjectKind())); err != nil {
		return nil, err
	}
	return d, nil
}

// collected returns a document the customer collects, with only its own
// rejection, or NOT_FOUND (R-VAULT-3).
func (s *Service) collected(ctx context.Context, c Caller, customer, supplier, id string) (*Document, error) {
	if err := s.authorize(ctx, c, customer, authz.ViewSuppliers); err != nil {
		return nil, err
	}
	var d *Document
	err := s.view(ctx, func(tx Tx) error {
		var err error
		d, err = collectedIn(tx, customer, supplier, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, notFound("document " + names.SupplierDocument.Format(customer, supplier, id))
	}
	if err != nil {
		return nil, err
	}
	onlyRejectionOf(d, customer)
	return d, nil
}

// collectedIn reads a supplier's document and checks that the customer
// collects its type and subject; ErrNotFound otherwise (R-VAULT-3).
func collectedIn(tx Tx, customer, supplier, id string) (*Document, error) {
	d, err := tx.Document(supplier, id)
	if err != nil {
		return nil, err
	}
	ok, err := tx.Collects(customer, supplier, d.DocumentType, d.Employee)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return d, nil
}

// readable is a document the caller may read: the supplier's own
// (customer "") or one the customer collects.
func (s *Service) readable(ctx context.Context, c Caller, customer, supplier, id string) (*Document, error) {
	if customer == "" {
		return s.GetDocument(ctx, c, supplier, id)
	}
	return s.collected(ctx, c, customer, supplier, id)
}

func onlyRejectionOf(d *Document, customer string) {
	r, ok := d.RejectionBy(customer)
	d.Rejections = nil
	if ok {
		d.Rejections = []Rejection{r}
	}
}

// ListSupplierDocuments lists what a customer collects from a supplier
// (R-VAULT-3), by type and subject, newest version first.
func (s *Service) ListSupplierDocuments(ctx context.Context, c Caller, customer, supplier string, q DocQuery, p Page) ([]*Document, string, error) {
	if err := s.authorize(ctx, c, customer, authz.ViewSuppliers); err != nil {
		return nil, "", err
	}
	var out []*Document
	err := s.view(ctx, func(tx Tx) error {
		linked, err := tx.HasRelationship(customer, supplier)
		if err != nil {
			return err
		}
		if !linked {
			return ErrNotFound
		}
		pairs, err := tx.CollectedTypes(customer, supplier)
		if err != nil {
			return err
		}
		for _, tp := range pairs {
			docType, employee := tp[0], tp[1]
			if q.DocumentType != "" && q.DocumentType != docType || q.HasSubject && q.Employee != employee ||
				q.Kind == SubjectCompany && employee != "" || q.Kind == SubjectEmployee && employee == "" {
				continue
			}
			if q.History {
				vs, err := tx.Versions(supplier, docType, employee)
				if err != nil {
					return err
				}
				out = append(out, vs...)
				continue
			}
			d, err := tx.CurrentDocument(supplier, docType, employee)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, "", notFound("supplier " + names.Supplier.Format(customer, supplier))
	}
	if err != nil {
		return nil, "", err
	}
	for _, d := range out {
		onlyRejectionOf(d, customer)
	}
	return pageSlice(out, p)
}

// pageSlice pages a small in-memory list with an offset cursor.
func pageSlice[T any](all []T, p Page) ([]T, string, error) {
	start := 0
	if p.After != "" {
		n, err := strconv.Atoi(p.After)
		if err != nil || n < 0 {
			return nil, "", pagetoken.Invalid()
		}
		start = min(n, len(all))
	}
	end := min(start+p.Limit, len(all))
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return all[start:end], next, nil
}

// ListVersions lists the history of a document's type and subject, newest
// first: the supplier's own (customer "") or what a customer collects.
func (s *Service) ListVersions(ctx context.Context, c Caller, customer, supplier, id string) ([]*Document, error) {
	d, err := s.readable(ctx, c, customer, supplier, id)
	if err != nil {
		return nil, err
	}
	var out []*Document
	if err := s.view(ctx, func(tx Tx) error {
		out, err = tx.Versions(supplier, d.DocumentType, d.Employee)
		return err
	}); err != nil {
		return nil, err
	}
	if customer != "" {
		for _, v := range out {
			onlyRejectionOf(v, customer)
		}
	}
	return out, nil
}

// ListExpiring lists the supplier's current documents whose valid_until is
// within the next withinDays days (R-ID-3 row 3), soonest first.
func (s *Service) ListExpiring(ctx context.Context, c Caller, supplier string, withinDays int, kind SubjectKind, includeExpired bool, p Page) ([]*Document, string, error) {
	allowed, err := s.ownKinds(ctx, c, supplier, kind, authz.ViewExpiringCompanyCertificates, authz.ViewExpiringEmployeeCertificates)
	if err != nil {
		return nil, "", err
	}
	var out []*Document
	next := p.After
	err = s.view(ctx, func(tx Tx) error {
		today, err := s.todayIn(tx, supplier)
		if err != nil {
			return err
		}
		from := today
		if includeExpired {
			from = 0
		}
		// Filtering by kind may leave a page short: read on until it is
		// full or the range ends.
		for len(out) < p.Limit {
			docs, n, err := tx.ExpiringDocuments(supplier, from, today+Date(withinDays), Page{After: next, Limit: p.Limit - len(out)})
			if err != nil {
				return err
			}
			for _, d := range docs {
				if allowed == SubjectUnspecified || d.SubjectKind() == allowed {
					out = append(out, d)
				}
			}
			next = n
			if n == "" {
				break
			}
		}
		return nil
	})
	return out, next, err
}

// Download is a document's bytes to stream.
type Download struct {
	Document    *Document
	Offset      int64
	Length      int64
	NotModified bool
	// Body reads Length bytes; nil when NotModified. The caller closes it.
	Body io.ReadCloser
}

// DownloadRequest names a document and the bytes wanted.
type DownloadRequest struct {
	Customer    string // "" for the supplier's own download
	Supplier    string
	ID          string
	Offset      int64 // negative: from the end
	Limit       int64 // 0: to the end
	IfNoneMatch string
}

// Download opens a document's bytes (R-VAULT-4) and, for a customer's
// user, records the download (R-VAULT-8): every call that serves bytes, a
// range as well as the whole file (a range that skips the first byte would
// otherwise read the rest of the file unrecorded); a 304 (the caller already
// holds these bytes) serves none and is not one.
func (s *Service) Download(ctx context.Context, c Caller, r DownloadRequest) (*Download, error) {
	d, err := s.readable(ctx, c, r.Customer, r.Supplier, r.ID)
	if err != nil {
		return nil, err
	}
	out := &Download{Document: d}
	if etagMatches(r.IfNoneMatch, d.SHA256) {
		out.NotModified = true
		return out, nil
	}
	off := r.Offset
	if off < 0 {
		off = max(d.Size+off, 0)
	}
	if off >= d.Size && d.Size > 0 || off > d.Size {
		return nil, errs.FailedPrecondition(ReasonRangeNotSatisfied, "read_offset: %d is past the end of the %d-byte file", r.Offset, d.Size)
	}
	length := d.Size - off
	if r.Limit > 0 && r.Limit < length {
		length = r.Limit
	}
	body, _, err := s.blobs.Open(ctx, d.SHA256, off)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, errs.Internal(errorf("document %s: its blob %s is missing", d.ID, d.SHA256))
	}
	if err != nil {
		return nil, errs.Internal(err)
	}
	out.Offset, out.Length, out.Body = off, length, limitedCloser{io.LimitReader(body, length), body}
	if r.Customer != "" {
		if err := s.recordAccess(ctx, c, r.Customer, d); err != nil {
			_ = body.Close()
			return nil, err
		}
	}
	s.metrics.Downloads.Inc()
	return out, nil
}

type limitedCloser struct {
	io.Reader
	io.Closer
}

// etagMatches reads an If-None-Match list against the document's hash.
func etagMatches(header, sha string) bool {
	if header == "" {
		return false
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		tag = strings.TrimPrefix(tag, "W/")
		if strings.Trim(tag, `"`) == sha {
			return true
		}
	}
	return false
}

func (s *Service) recordAccess(ctx context.Context, c Caller, customer string, d *Document) error {
	name := ""
	if people, err := s.identity.Users(ctx, []string{c.Member()}); err == nil && len(people) == 1 {
		name = people[0].Name
	} else if err != nil {
		logging.For(ctx, s.log).Warn("download recorded without the user's name", zap.Error(err))
	}
	a := &Access{Supplier: d.Supplier, DocumentType: d.DocumentType, Employee: d.Employee, Document: d.ID, Version: d.Version,
		Customer: customer, User: c.Member(), UserName: name, Time: s.now().UTC()}
	return s.store.Update(ctx, func(tx Tx) error { return tx.AppendAccess(a) })
}

// ListAccessLog lists the downloads of every version of a document's type
// and subject, newest first (R-VAULT-8): the supplier's Administrators only.
func (s *Service) ListAccessLog(ctx context.Context, c Caller, supplier, id string, p Page) ([]*Access, string, error) {
	if err := s.authorize(ctx, c, supplier, authz.ViewAccessLog); err != nil {
		return nil, "", err
	}
	var out []*Access
	var next string
	err := s.view(ctx, func(tx Tx) error {
		d, err := tx.Document(supplier, id)
		if err != nil {
			return err
		}
		out, next, err = tx.AccessLog(supplier, d.DocumentType, d.Employee, p)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, "", notFound("document " + names.Document.Format(supplier, id))
	}
	return out, next, err
}

func itoa(n int) string { return strconv.Itoa(n) }
