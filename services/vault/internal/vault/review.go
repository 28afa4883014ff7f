package vault

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// Reject records a customer's rejection of a document it collects
// (R-VAULT-7): the status turns REJECTED for that customer only, the
// supplier's users who may upload the document (and its references for the
// customer) are e-mailed, and document.rejected is told to both companies,
// all in one transaction. A newer version clears it.
func (s *Service) Reject(ctx context.Context, c Caller, customer, supplier, id, reason string) (*Document, error) {
	if err := s.authorize(ctx, c, customer, authz.ManageSuppliers); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, errs.InvalidArgument("reason", "must say why the document is rejected")
	}
	var d *Document
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if d, err = collectedIn(tx, customer, supplier, id); err != nil {
			return err
		}
		if d.State != StateCurrent {
			return errs.FailedPrecondition(ReasonSuperseded, "%s was superseded by a newer version: only the current version can be rejected",
				names.SupplierDocument.Format(customer, supplier, id))
		}
		if _, done := d.RejectionBy(customer); done {
			return errs.AlreadyExists(ReasonAlreadyRejected, "%s is already rejected", names.SupplierDocument.Format(customer, supplier, id))
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		d.Rejections = append(d.Rejections, Rejection{Customer: customer, Reason: reason, RejectedBy: c.Member(), Time: now})
		if err := tx.PutDocument(d); err != nil {
			return err
		}
		if err := s.refreshCustomer(tx, customer, supplier); err != nil {
			return err
		}
		res := map[string]string{feed.ResourceCustomer: names.Company.Format(customer), feed.ResourceSupplier: names.Company.Format(supplier),
			feed.ResourceDocument: names.Document.Format(supplier, id), feed.ResourceDocumentType: names.DocumentType.Format(d.DocumentType)}
		if d.Employee != "" {
			res[feed.ResourceEmployee] = names.Employee.Format(supplier, d.Employee)
		}
		attrs := map[string]string{feed.AttrReason: reason, feed.AttrVersion: itoa(int(d.Version))}
		if err := tx.AppendEvent(&feed.Event{Type: feed.TypeDocumentRejected, Time: now, Company: names.Company.Format(customer),
			Subject: names.SupplierDocument.Format(customer, supplier, id), Resources: res, Attributes: attrs}); err != nil {
			return err
		}
		if err := tx.AppendEvent(&feed.Event{Type: feed.TypeDocumentRejected, Time: now, Company: names.Company.Format(supplier),
			Subject: names.Document.Format(supplier, id), Resources: res, Attributes: attrs}); err != nil {
			return err
		}
		return tx.PutOutbox(&Outbound{ID: names.NewID(), Kind: OutboundRejected, Customer: customer, Supplier: supplier, Document: id,
			DocumentType: d.DocumentType, Employee: d.Employee, FileName: d.FileName, Reason: reason, Time: now})
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

// RequestDocuments asks a supplier to update documents (R-NOTIF-3): its
// references for the customer, or its Administrators when it has none, are
// e-mailed what the customer still misses, has rejected or will soon lose
// (or the types named). At most one request per customer and supplier per
// RequestInterval. It returns how many people are e-mailed.
func (s *Service) RequestDocuments(ctx context.Context, c Caller, customer, supplier string, types []string, message string) (int, error) {
	if err := s.authorize(ctx, c, customer, authz.ManageSuppliers); err != nil {
		return 0, err
	}
	var open []string
	err := s.view(ctx, func(tx Tx) error {
		ok, err := tx.HasRelationship(customer, supplier)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if len(types) > 0 {
			for _, t := range types {
				if _, err := s.customerType(tx, customer, t, "document_types"); err != nil {
					return err
				}
			}
			open = types
			return nil
		}
		today, err := s.todayIn(tx, customer)
		if err != nil {
			return err
		}
		entries, err := tx.Entries(customer, supplier)
		if err != nil {
			return err
		}
		for _, e := range openEntries(entries, today, 0) {
			open = append(open, e.DocumentType)
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return 0, notFound("supplier " + names.Supplier.Format(customer, supplier))
	}
	if err != nil {
		return 0, err
	}
	slices.Sort(open)
	open = slices.Compact(open)
	// The addressees are resolved now, so that the answer tells how many.
	people, err := s.references(ctx, customer, supplier)
	if err != nil {
		return 0, err
	}
	if len(people) == 0 {
		if people, err = s.identity.Members(ctx, supplier, authz.AddUsers); err != nil {
			return 0, err
		}
	}
	now := s.now().UTC()
	err = s.update(ctx, func(tx Tx) error {
		last, err := tx.LastRequest(customer, supplier)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if wait := last.Add(s.cfg.RequestInterval).Sub(now); err == nil && wait > 0 {
			return &errs.Error{Kind: errs.KindResourceExhausted, Reason: ReasonRequestLimited, RetryAfter: wait.Round(time.Second) + time.Second,
				Message: "documents were requested from this supplier less than an hour ago; try again later"}
		}
		if err := tx.PutLastRequest(customer, supplier, now); err != nil {
			return err
		}
		if len(people) == 0 {
			return nil
		}
		return tx.PutOutbox(&Outbound{ID: names.NewID(), Kind: OutboundRequest, Customer: customer, Supplier: supplier,
			DocumentTypes: open, Message: strings.TrimSpace(message), Recipients: people, Time: now})
	})
	if err != nil {
		return 0, err
	}
	return len(people), nil
}

// references are the supplier's references for the customer, as people.
func (s *Service) references(ctx context.Context, customer, supplier string) ([]Person, error) {
	members, err := s.directory.References(ctx, customer, supplier)
	if err != nil || len(members) == 0 {
		return nil, err
	}
	return s.identity.Users(ctx, members)
}
