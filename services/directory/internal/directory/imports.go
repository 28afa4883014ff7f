package directory

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/directory/internal/csvimport"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// Mass registration (R-DIR-4) is a job: the list is read as it arrives
// (CSV or structured rows), stored row by row, and then registered in the
// background by the worker (worker.go), batch by batch, each batch one
// transaction that records its rows' results and counts with the
// registrations themselves, so that the counts always equal the results
// and a restart resumes where the job stood.

// ImportSource is the list of an import: exactly one of CSV and Rows.
type ImportSource struct {
	FileName string
	// CSV is the file's bytes (see csvimport for what it accepts).
	CSV io.Reader
	// Rows returns the next batch of structured rows, io.EOF after the last.
	Rows func() ([]ImportRow, error)
}

// uploadBatch is how many rows are stored per transaction while a list is
// received.
const uploadBatch = 1000

// ImportSuppliers reads a list for customer, stores it and starts the job;
// it answers once the whole list is stored. A list that cannot be read at
// all is INVALID_ARGUMENT naming `file` and creates nothing; an upload cut
// short leaves nothing either.
func (s *Service) ImportSuppliers(ctx context.Context, p auth.Principal, customer string, src ImportSource) (Import, error) {
	cust, err := s.checkImport(ctx, p, customer)
	if err != nil {
		return Import{}, err
	}
	next, err := s.importRows(src)
	if err != nil {
		return Import{}, err
	}
	now := s.now().UTC()
	imp := Import{ID: names.NewID(), Customer: customer, State: ImportUploading, FileName: src.FileName, SubmittedBy: p.User,
		OnBehalf: p.PlatformAdmin && p.Company != names.Company.Format(customer), Language: cust.Language, CreateTime: now, UpdateTime: now}
	if err := s.store.CreateImport(ctx, imp); err != nil {
		return Import{}, errs.Internal(err)
	}
	discard := func(cause error) (Import, error) {
		// A fresh context: the caller's may be what ended the upload.
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.store.DiscardImport(dctx, customer, imp.ID); err != nil {
			s.log.Warn("discard an interrupted import", zap.String("import", names.SupplierImport.Format(customer, imp.ID)), zap.Error(err))
		}
		return Import{}, cause
	}
	var seq uint64
	for {
		rows, err := next()
		if len(rows) > 0 {
			if int(seq)+len(rows) > s.limits.MaxImportRows {
				return discard(errs.InvalidArgument("file", "more than %d rows; split the list", s.limits.MaxImportRows))
			}
			for i := range rows {
				seq++
				rows[i].Seq = seq
				if rows[i].Line == 0 {
					rows[i].Line = int(seq)
				}
			}
			if imp, err = s.store.AppendImportRows(ctx, customer, imp.ID, rows, s.now().UTC()); err != nil {
				return discard(storeOrCtx(ctx, err))
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return discard(err)
		}
	}
	imp, err = s.store.StartImport(ctx, customer, imp.ID, s.now().UTC())
	if err != nil {
		return discard(storeOrCtx(ctx, err))
	}
	s.wake()
	return imp, nil
}

// CheckImport says whether p may run an import for customer, before the
// list is read: the customer's users with the suppliers area's manage
// right, or a platform administrator (R-DIR-4, R-ID-11); only an operator
// imports suppliers.
func (s *Service) CheckImport(ctx context.Context, p auth.Principal, customer string) error {
	_, err := s.checkImport(ctx, p, customer)
	return err
}

func (s *Service) checkImport(ctx context.Context, p auth.Principal, customer string) (Company, error) {
	if err := s.authorize(ctx, p, customer, authz.ImportSuppliers, ""); err != nil {
		return Company{}, err
	}
	cust, err := s.company(ctx, customer)
	if err != nil {
		return Company{}, err
	}
	if cust.Kind != KindOperator {
		return Company{}, errs.FailedPrecondition("NOT_AN_OPERATOR", "parent: only operators (customers) register suppliers")
	}
	return cust, nil
}

func storeOrCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errs.Internal(err)
}

// importRows returns the batch reader of src.
func (s *Service) importRows(src ImportSource) (func() ([]ImportRow, error), error) {
	if src.Rows != nil {
		return src.Rows, nil
	}
	if src.CSV == nil {
		return nil, errs.InvalidArgument("file", "is missing")
	}
	r, err := csvimport.NewReader(src.CSV)
	var he *csvimport.HeaderError
	if errors.As(err, &he) {
		return nil, errs.InvalidArgument("file", "%s", trimField(he.Msg, "file"))
	}
	if err != nil {
		return nil, err
	}
	return func() ([]ImportRow, error) {
		var out []ImportRow
		for len(out) < uploadBatch {
			row, err := r.Next()
			if err != nil {
				return out, err
			}
			out = append(out, fromCSV(row))
		}
		return out, nil
	}, nil
}

func trimField(msg, field string) string {
	if len(msg) > len(field)+2 && msg[:len(field)+2] == field+": " {
		return msg[len(field)+2:]
	}
	return msg
}

func fromCSV(r csvimport.Row) ImportRow {
	row := ImportRow{
		Line: r.Line, ReadError: r.Err,
		RegistrationNumber: r.Get(csvimport.RegistrationNumber), LegalName: r.Get(csvimport.LegalName), Country: r.Get(csvimport.Country),
		Address: Address{PostalCode: r.Get(csvimport.PostalCode), City: r.Get(csvimport.City)},
		Contact: Contact{Email: r.Get(csvimport.ContactEmail), GivenName: r.Get(csvimport.ContactGivenName),
			FamilyName: r.Get(csvimport.ContactFamilyName), Function: r.Get(csvimport.ContactFunction),
			Phone: r.Get(csvimport.ContactPhone), Mobile: r.Get(csvimport.ContactMobile)},
	}
	for _, l := range []string{r.Get(csvimport.AddressLine), r.Get(csvimport.AddressLine2)} {
		if l != "" {
			row.Address.Lines = append(row.Address.Lines, l)
		}
	}
	return row
}

// authorizeImportRead: reading an import needs the suppliers area's view
// right, or for a platform administrator the right to run one (R-ID-11).
func (s *Service) authorizeImportRead(ctx context.Context, p auth.Principal, customer string) error {
	if p.PlatformAdmin && p.Company != names.Company.Format(customer) {
		return s.authorize(ctx, p, customer, authz.ImportSuppliers, "")
	}
	return s.authorize(ctx, p, customer, authz.ViewSuppliers, "")
}

// GetImport returns an import's state and counts.
func (s *Service) GetImport(ctx context.Context, p auth.Principal, customer, id string) (Import, error) {
	if err := s.authorizeImportRead(ctx, p, customer); err != nil {
		return Import{}, err
	}
	return s.visibleImport(ctx, customer, id)
}

func (s *Service) visibleImport(ctx context.Context, customer, id string) (Import, error) {
	imp, err := s.store.Import(ctx, customer, id)
	if errors.Is(err, ErrNotFound) || err == nil && imp.State == ImportUploading {
		return Import{}, errs.NotFound("IMPORT_NOT_FOUND", "supplier import not found")
	}
	if err != nil {
		return Import{}, errs.Internal(err)
	}
	return imp, nil
}

// ListImports pages through a customer's imports, newest first.
func (s *Service) ListImports(ctx context.Context, p auth.Principal, customer, pageToken string, pageSize int) ([]Import, string, error) {
	if err := s.authorizeImportRead(ctx, p, customer); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := cursorToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	imps, cursors, err := s.store.ListImports(ctx, customer, after, size+1)
	if err != nil {
		return nil, "", errs.Internal(err)
	}
	imps, next := pageOf(imps, size, func(i int) string { return cursors[i] })
	return imps, next, nil
}

// ImportResults pages through an import's row results in row order.
func (s *Service) ImportResults(ctx context.Context, p auth.Principal, customer, id string, errorsOnly bool, pageToken string, pageSize int) ([]ImportRowResult, string, error) {
	if err := s.authorizeImportRead(ctx, p, customer); err != nil {
		return nil, "", err
	}
	if _, err := s.visibleImport(ctx, customer, id); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize, 100, 1000)
	if err != nil {
		return nil, "", err
	}
	var after uint64
	if pageToken != "" {
		c, err := cursorToken(pageToken)
		if err == nil {
			after, err = strconv.ParseUint(c, 10, 64)
		}
		if err != nil {
			return nil, "", errs.InvalidArgument("page_token", "is not a token returned by this list")
		}
	}
	rs, err := s.store.ImportResults(ctx, id, after, size+1, errorsOnly)
	if err != nil {
		return nil, "", errs.Internal(err)
	}
	rs, next := pageOf(rs, size, func(i int) string { return strconv.FormatUint(rs[i].Seq, 10) })
	return rs, next, nil
}

// ExportImportResults writes every row result of an import as CSV to w
// (UTF-8 with a byte order mark), page by page.
func (s *Service) ExportImportResults(ctx context.Context, p auth.Principal, customer, id string, w io.Writer) error {
	if err := s.authorizeImportRead(ctx, p, customer); err != nil {
		return err
	}
	if _, err := s.visibleImport(ctx, customer, id); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"row", "registration_number", "legal_name", "outcome", "supplier", "error", "contact_error"}); err != nil {
		return err
	}
	var after uint64
	for {
		rs, err := s.store.ImportResults(ctx, id, after, 1000, false)
		if err != nil {
			return errs.Internal(err)
		}
		for _, r := range rs {
			sup := ""
			if r.Supplier != "" {
				sup = names.Supplier.Format(customer, r.Supplier)
			}
			if err := cw.Write([]string{strconv.Itoa(r.Line), safeCell(r.RegistrationNumber), safeCell(r.LegalName), r.Outcome.String(),
				sup, safeCell(r.Error), safeCell(r.ContactError)}); err != nil {
				return err
			}
			after = r.Seq
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if len(rs) < 1000 {
			return nil
		}
	}
}

// prepareRows checks a batch of rows of an import for customer cust and
// makes each a registration or a refusal.
func (s *Service) prepareRows(cust Company, imp Import, rows []ImportRow) []ImportWork {
	actor := imp.SubmittedBy
	if imp.OnBehalf {
		actor = ""
	}
	work := make([]ImportWork, len(rows))
	for i, row := range rows {
		work[i].Row = row
		if row.ReadError != "" {
			work[i].Error = row.ReadError
			continue
		}
		in := supplierInput{Number: row.RegistrationNumber, LegalName: row.LegalName, Country: row.Country, Address: row.Address}
		switch {
		case strings.TrimSpace(row.Contact.Email) != "":
			c := row.Contact
			in.Contact = &c
		case row.Contact != (Contact{}):
			// Names without an e-mail: the supplier is registered, the
			// contact cannot be invited.
			work[i].ContactError = "contact_email: missing, so the contact was not added"
		}
		checked, err := checkSupplier(rowFields, in, cust.Country)
		if err != nil {
			work[i].Error = errMessage(err)
			continue
		}
		reg := s.registration(cust, checked, rowFields, actor, imp.ID, row.Seq)
		if reg.Contact != nil {
			reg.Contact.Language = imp.Language
		}
		work[i].Registration = &reg
	}
	return work
}

// errMessage is what a row's result says of err.
func errMessage(err error) string {
	var de *errs.Error
	if errors.As(err, &de) && de.Kind != errs.KindInternal {
		return de.Message
	}
	if errors.Is(err, ErrSelfLink) {
		return "registration_number: this is the customer's own registration number"
	}
	return "internal error"
}

// runImport registers the pending rows of a running import, batch by
// batch, until none is left or ctx ends.
func (s *Service) runImport(ctx context.Context, imp Import) error {
	cust, err := s.store.Company(ctx, imp.Customer)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		rows, err := s.store.PendingImportRows(ctx, imp.Customer, imp.ID, s.limits.ImportBatch)
		if err != nil {
			return err
		}
		work := s.prepareRows(cust, imp, rows)
		var results []ImportRowResult
		var contacts []string
		imp, results, contacts, err = s.store.ApplyImportRows(ctx, imp.Customer, imp.ID, work, s.now().UTC())
		if errors.Is(err, ErrImportState) {
			return nil // finished by another worker
		}
		if err != nil {
			return err
		}
		counts := map[Outcome]int{}
		var pending []PendingContact
		for i, r := range results {
			counts[r.Outcome]++
			if contacts[i] == "" {
				continue
			}
			for _, w := range work {
				if w.Row.Seq == r.Seq && w.Registration != nil && w.Registration.Contact != nil {
					pc := *w.Registration.Contact
					pc.ID, pc.Supplier, pc.SyncFirst = contacts[i], r.Supplier, r.Outcome == OutcomeCreated
					pending = append(pending, pc)
				}
			}
		}
		for o, n := range counts {
			s.metrics.ImportRows(o, n)
		}
		s.sendContacts(ctx, pending)
		if imp.State != ImportRunning || len(rows) == 0 {
			return nil
		}
	}
	return ctx.Err()
}
