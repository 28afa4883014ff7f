package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/logging"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/vault/internal/sniff"
)

// DefaultContentTypes are the types accepted unless configured (R-VAULT-4).
var DefaultContentTypes = []string{sniff.PDF, sniff.PNG, sniff.JPEG}

// UploadMeta describes an upload (R-VAULT-4).
type UploadMeta struct {
	Supplier string
	// SubjectCompany is the company of the subject named: it must be Supplier.
	SubjectCompany string
	DocumentType   string
	Employee       string // "" for a company document
	FileName       string
	DeclaredType   string // the uploader's Content-Type, "" when not given
	ValidFrom      Date
	ValidUntil     Date // 0: the type's default validity after ValidFrom
	SHA256         string
}

// copyBuffer is the size of the buffer an upload is copied through.
const copyBuffer = 256 << 10

// Upload stores a document whose bytes body streams (R-VAULT-4, R-VAULT-5):
// the caller's rights and the metadata are checked before any byte is
// read; the bytes go to a staging blob while their SHA-256 is computed and
// their type sniffed; the blob is published under its hash (identical
// bytes are stored once), then the document, the version it supersedes,
// the compliance it moves and the events it causes commit together. A
// refusal at any point leaves nothing behind; a crash between publishing
// and committing leaves an intent that the next start resolves.
func (s *Service) Upload(ctx context.Context, c Caller, m UploadMeta, body io.Reader) (doc *Document, err error) {
	result := UploadFailed
	var stored int64
	defer func() {
		switch {
		case err == nil:
			result = UploadOK
			s.metrics.UploadBytes.Add(float64(stored))
		case errors.Is(err, errs.ErrPermissionDenied), errors.Is(err, errs.ErrNotFound), errors.Is(err, errs.ErrUnauthenticated):
			result = UploadDenied
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			result = UploadAborted
		case errorReason(err) == ReasonTooLarge:
			result = UploadTooLarge
		case errors.Is(err, errs.ErrInvalidArgument), errors.Is(err, errs.ErrFailedPrecondition), errors.Is(err, errs.ErrResourceExhausted):
			result = UploadRefused
		}
		s.metrics.Uploads.WithLabelValues(result).Inc()
	}()
	t, err := s.checkUpload(ctx, c, &m)
	if err != nil {
		return nil, err
	}
	release, err := s.uploadSlot(m.Supplier)
	if err != nil {
		return nil, err
	}
	defer release()

	w, err := s.blobs.Create(ctx)
	if err != nil {
		return nil, errs.Internal(err)
	}
	published := false
	defer func() {
		if !published {
			_ = w.Abort()
		}
	}()
	sink := &uploadSink{s: s, m: &m, h: sha256.New(), sn: &sniff.Sniffer{}, w: w}
	if wt, ok := body.(io.WriterTo); ok {
		// The gRPC stream's reader hands each chunk over as it arrives,
		// without a copy through a buffer (issue 9).
		_, err = wt.WriteTo(sink)
	} else {
		_, err = io.CopyBuffer(sink, body, make([]byte, copyBuffer))
	}
	if err != nil {
		return nil, err
	}
	h, sn, size, detected := sink.h, sink.sn, sink.size, sink.detected
	if size == 0 {
		return nil, &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonEmpty, Field: "file", Message: "file: the file is empty"}
	}
	if detected == "" {
		if detected, err = s.detect(sn, &m); err != nil {
			return nil, err
		}
	}
	if !sn.Complete(detected) {
		return nil, &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonTruncated, Field: "file",
			Message: "file: the " + detected + " file is truncated (its end marker is missing)"}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if m.SHA256 != "" && m.SHA256 != sum {
		return nil, &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonChecksum, Field: "sha256",
			Message: "sha256: the bytes received do not match the declared SHA-256"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Publish, recording the intent first so that a crash before the
	// commit leaves no orphan after the next start.
	intent := &BlobIntent{ID: names.NewID(), SHA256: sum, Time: s.now().UTC()}
	if err := s.store.Update(ctx, func(tx Tx) error { return tx.PutBlobIntent(intent) }); err != nil {
		return nil, err
	}
	if err := w.Publish(ctx, sum); err != nil {
		_ = s.store.Update(context.WithoutCancel(ctx), func(tx Tx) error { return tx.DeleteBlobIntent(intent.ID) })
		return nil, errs.Internal(err)
	}
	published = true
	now := s.now().UTC()
	d := &Document{ID: names.NewID(), Supplier: m.Supplier, DocumentType: m.DocumentType, Employee: m.Employee, FileName: sniff.WithExtension(m.FileName, detected),
		ContentType: detected, Size: size, SHA256: sum, ValidFrom: m.ValidFrom, ValidUntil: m.ValidUntil,
		State: StateCurrent, UploadedBy: c.Member(), CreateTime: now}
	err = s.update(context.WithoutCancel(ctx), func(tx Tx) error {
		if _, err := tx.Blob(sum); errors.Is(err, ErrNotFound) {
			if err := tx.PutBlob(&Blob{SHA256: sum, Size: size, ContentType: detected, CreateTime: now}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		d.Version = 1
		prev, err := tx.CurrentDocument(d.Supplier, d.DocumentType, d.Employee)
		switch {
		case err == nil:
			prev.State, prev.SupersededBy = StateSuperseded, d.ID
			if err := tx.PutDocument(prev); err != nil {
				return err
			}
			d.Version, d.Supersedes = prev.Version+1, prev.ID
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if err := tx.PutDocument(d); err != nil {
			return err
		}
		customers, err := tx.Customers(d.Supplier)
		if err != nil {
			return err
		}
		if err := s.refreshSupplier(tx, d.Supplier, customers); err != nil {
			return err
		}
		if err := s.appendUploaded(tx, t, d, customers); err != nil {
			return err
		}
		return tx.DeleteBlobIntent(intent.ID)
	})
	if err != nil {
		s.dropIfOrphan(context.WithoutCancel(ctx), intent)
		return nil, err
	}
	stored = size
	return d, nil
}

// uploadSlot takes one of the slots of uploads in flight (Config.MaxUploads
// in all, Config.MaxCompanyUploads per company), or refuses the upload
// (RESOURCE_EXHAUSTED, 429 with Retry-After) before any byte is read;
// release gives it back.
func (s *Service) uploadSlot(company string) (release func(), err error) {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	if s.uploading >= s.cfg.MaxUploads || s.uploads[company] >= s.cfg.MaxCompanyUploads {
		return nil, &errs.Error{Kind: errs.KindResourceExhausted, Reason: ReasonUploadsInFlight, RetryAfter: 5 * time.Second,
			Message: "too many uploads in progress; try again when one has finished"}
	}
	s.uploading++
	s.uploads[company]++
	return func() {
		s.uploadsMu.Lock()
		defer s.uploadsMu.Unlock()
		s.uploading--
		if s.uploads[company]--; s.uploads[company] == 0 {
			delete(s.uploads, company)
		}
	}, nil
}

// uploadSink takes an upload's bytes in order: it bounds their size,
// hashes them, sniffs their type as soon as the head is complete, and
// writes them to the staging blob. Its errors are the upload's.
type uploadSink struct {
	s        *Service
	m        *UploadMeta
	h        hash.Hash
	sn       *sniff.Sniffer
	w        io.Writer
	size     int64
	detected string
}

func (u *uploadSink) Write(p []byte) (int, error) {
	u.size += int64(len(p))
	if u.size > u.s.cfg.MaxUploadBytes {
		return 0, &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonTooLarge, Field: "file",
			Message: "file: larger than the " + formatBytes(u.s.cfg.MaxUploadBytes) + " a document may have"}
	}
	_, _ = u.h.Write(p)
	_, _ = u.sn.Write(p)
	if u.detected == "" && u.sn.HeadComplete() {
		var err error
		if u.detected, err = u.s.detect(u.sn, u.m); err != nil {
			return 0, err
		}
	}
	if _, err := u.w.Write(p); err != nil {
		return 0, errs.Internal(err)
	}
	return len(p), nil
}

// detect decides the type from the head and checks the uploader's claims.
func (s *Service) detect(sn *sniff.Sniffer, m *UploadMeta) (string, error) {
	detected, problem := sn.Detect()
	switch problem {
	case sniff.Empty:
		return "", &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonEmpty, Field: "file", Message: "file: the file is empty"}
	case sniff.Executable:
		return "", &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonContentType, Field: "file",
			Message: "file: the bytes are a program or an archive, not a document; accepted: " + strings.Join(s.cfg.ContentTypes, ", ")}
	case sniff.Unknown:
		return "", &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonContentType, Field: "file",
			Message: "file: the content type could not be recognised from the bytes; accepted: " + strings.Join(s.cfg.ContentTypes, ", ")}
	}
	accepted := false
	for _, t := range s.cfg.ContentTypes {
		accepted = accepted || t == detected
	}
	if !accepted {
		return "", &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonContentType, Field: "file",
			Message: "file: " + detected + " is not accepted; accepted: " + strings.Join(s.cfg.ContentTypes, ", ")}
	}
	if m.DeclaredType != "" && !strings.EqualFold(m.DeclaredType, "application/octet-stream") && !sniff.SameType(m.DeclaredType, detected) {
		return "", &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonContentMismatch, Field: "content_type",
			Message: "content_type: declared " + m.DeclaredType + " but the bytes are " + detected}
	}
	if ext := sniff.ExtensionType(m.FileName); ext != "" && ext != detected {
		return "", &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonContentMismatch, Field: "file_name",
			Message: "file_name: the extension claims " + ext + " but the bytes are " + detected}
	}
	return detected, nil
}

// checkUpload decides whether the caller may upload this document and
// completes the metadata, before any byte is read.
func (s *Service) checkUpload(ctx context.Context, c Caller, m *UploadMeta) (*DocumentType, error) {
	// Members only, before anything about the company is looked up.
	if err := s.authorize(ctx, c, m.Supplier, authz.ReadMasterData); err != nil {
		return nil, err
	}
	if m.SubjectCompany != "" && m.SubjectCompany != m.Supplier {
		return nil, errs.InvalidArgument("subject", "must be %s or %s/employees/{employee}", names.Company.Format(m.Supplier), names.Company.Format(m.Supplier))
	}
	if err := validFileName(m.FileName); err != nil {
		return nil, err
	}
	if m.ValidFrom == 0 {
		return nil, errs.InvalidArgument("valid_from", "must be a date YYYY-MM-DD")
	}
	var t *DocumentType
	err := s.view(ctx, func(tx Tx) error {
		var err error
		t, err = s.documentType(tx, m.DocumentType)
		if errors.Is(err, ErrNotFound) {
			return errs.InvalidArgument("document_type", "unknown document type %s", names.DocumentType.Format(m.DocumentType))
		}
		if err != nil {
			return err
		}
		ok, err := typeVisible(tx, t, m.Supplier)
		if err != nil {
			return err
		}
		if !ok {
			return errs.InvalidArgument("document_type", "unknown document type %s", names.DocumentType.Format(m.DocumentType))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	action := authz.UploadCompanyCertificates
	if t.Subject == SubjectEmployee {
		action = authz.UploadEmployeeCertificates
	}
	if err := s.authorize(ctx, c, m.Supplier, action); err != nil {
		return nil, err
	}
	switch {
	case t.Subject == SubjectCompany && m.Employee != "":
		return nil, errs.InvalidArgument("subject", "%s is about the company: the subject must be %s", names.DocumentType.Format(t.ID), names.Company.Format(m.Supplier))
	case t.Subject == SubjectEmployee && m.Employee == "":
		return nil, errs.InvalidArgument("subject", "%s is about an employee: the subject must be companies/{company}/employees/{employee}", names.DocumentType.Format(t.ID))
	case t.Subject == SubjectEmployee:
		if _, err := s.directory.Employee(ctx, m.Supplier, m.Employee); errors.Is(err, ErrNotFound) {
			return nil, errs.InvalidArgument("subject", "%s is not an employee of the company", names.Employee.Format(m.Supplier, m.Employee))
		} else if err != nil {
			return nil, err
		}
	}
	if m.ValidUntil == 0 {
		if t.DefaultValidityDays == 0 {
			return nil, &errs.Error{Kind: errs.KindInvalidArgument, Reason: ReasonNoValidity, Field: "valid_until",
				Message: "valid_until: required, " + names.DocumentType.Format(t.ID) + " has no default validity"}
		}
		m.ValidUntil = m.ValidFrom + Date(t.DefaultValidityDays) - 1
	}
	if m.ValidUntil < m.ValidFrom {
		return nil, errs.InvalidArgument("valid_until", "must not be before valid_from")
	}
	return t, nil
}

// validFileName keeps file names metadata only (R-VAULT-4): no path, no
// control character (bidirectional formatting included: a right-to-left
// override shows "invoice\u202Efdp.scr" as "invoicercs.pdf"), valid UTF-8.
func validFileName(name string) error {
	if name == "" || len(name) > 255 || !utf8.ValidString(name) || name == "." || name == ".." {
		return errs.InvalidArgument("file_name", "must be a file name of 1 to 255 bytes")
	}
	for _, r := range name {
		if r == '/' || r == '\\' || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return errs.InvalidArgument("file_name", "must be a file name, without a path or control characters")
		}
	}
	return nil
}

// appendUploaded tells the supplier and every customer that collects the
// document that it was uploaded (R-NOTIF-6, R-VAULT-3).
func (s *Service) appendUploaded(tx Tx, t *DocumentType, d *Document, customers []string) error {
	res := map[string]string{feed.ResourceDocument: names.Document.Format(d.Supplier, d.ID), feed.ResourceDocumentType: names.DocumentType.Format(t.ID),
		feed.ResourceSupplier: names.Company.Format(d.Supplier)}
	if d.Employee != "" {
		res[feed.ResourceEmployee] = names.Employee.Format(d.Supplier, d.Employee)
	}
	attrs := map[string]string{feed.AttrVersion: itoa(int(d.Version)), feed.AttrValidUntil: d.ValidUntil.String()}
	if err := tx.AppendEvent(&feed.Event{Type: feed.TypeDocumentUploaded, Time: d.CreateTime, Company: names.Company.Format(d.Supplier),
		Subject: names.Document.Format(d.Supplier, d.ID), Resources: res, Attributes: attrs}); err != nil {
		return err
	}
	for _, c := range customers {
		ok, err := tx.Collects(c, d.Supplier, d.DocumentType, d.Employee)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		r := map[string]string{feed.ResourceCustomer: names.Company.Format(c)}
		for k, v := range res {
			r[k] = v
		}
		if err := tx.AppendEvent(&feed.Event{Type: feed.TypeDocumentUploaded, Time: d.CreateTime, Company: names.Company.Format(c),
			Subject: names.SupplierDocument.Format(c, d.Supplier, d.ID), Resources: r, Attributes: attrs}); err != nil {
			return err
		}
	}
	return nil
}

// dropIfOrphan deletes a published blob no committed document uses, and
// its intent (the commit after publishing failed).
func (s *Service) dropIfOrphan(ctx context.Context, i *BlobIntent) {
	if err := s.store.Update(ctx, func(tx Tx) error { return s.resolveIntent(ctx, tx, i) }); err != nil {
		logging.For(ctx, s.log).Warn("orphan blob left for the next start", zap.String("sha256", i.SHA256), zap.Error(err))
	}
}

// resolveIntent ends the intent of an upload that will not commit: its
// blob is deleted unless a committed document uses the same bytes or
// another upload of them is in flight (its intent recorded: it may have
// published the blob, found it there, and be about to commit a document
// that uses it); the last of them deletes it (R-VAULT-4).
func (s *Service) resolveIntent(ctx context.Context, tx Tx, i *BlobIntent) error {
	_, err := tx.Blob(i.SHA256)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if errors.Is(err, ErrNotFound) {
		other, err := tx.OtherBlobIntent(i.SHA256, i.ID)
		if err != nil {
			return err
		}
		if !other {
			s.log.Info("removing the blob of an upload that did not commit", zap.String("sha256", i.SHA256))
			if err := s.blobs.Delete(ctx, i.SHA256); err != nil {
				return err
			}
		}
	}
	return tx.DeleteBlobIntent(i.ID)
}

// recoverUploads runs at start, before serving: staging objects are left
// from uploads that died; an intent still recorded means an upload died
// between publishing its blob and committing its document (resolveIntent).
func (s *Service) recoverUploads(ctx context.Context) error {
	if err := s.blobs.CleanStaging(ctx); err != nil {
		return err
	}
	for {
		var intents []*BlobIntent
		if err := s.store.View(ctx, func(tx Tx) error {
			var err error
			intents, err = tx.BlobIntents(100)
			return err
		}); err != nil {
			return err
		}
		if len(intents) == 0 {
			return nil
		}
		for _, i := range intents {
			if err := s.store.Update(ctx, func(tx Tx) error { return s.resolveIntent(ctx, tx, i) }); err != nil {
				return err
			}
		}
	}
}

func formatBytes(n int64) string {
	if n%(1<<20) == 0 {
		return itoa(int(n>>20)) + " MiB"
	}
	return itoa(int(n)) + " bytes"
}

func errorReason(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
