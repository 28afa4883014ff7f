package vault

import (
	"errors"
	"strconv"

	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// Compliance is kept current, never rescanned per request (issue 10 point
// 2): every change that can move a (customer, supplier) pair — an upload,
// a rejection, a requirement added or deleted, a relationship or an
// assignment that starts or ends, a project closed — refreshes the pairs it
// touches in its own transaction. A refresh recomputes the pair's entries
// from what is stored (requirements, relationship, assignments, current
// documents, rejections), writes only the entries that differ, and stores
// the pair's summary, whose index position depends on no date. Statuses
// are computed at read time against today in the customer's time zone.

// custCtx is what refreshing the pairs of one customer needs, read once.
type custCtx struct {
	customer string
	reqs     []*Requirement
	today    Date
}

func (s *Service) customerCtx(tx Tx, customer string) (*custCtx, error) {
	reqs, err := tx.Requirements(customer)
	if err != nil {
		return nil, err
	}
	today, err := s.todayIn(tx, customer)
	if err != nil {
		return nil, err
	}
	return &custCtx{customer: customer, reqs: reqs, today: today}, nil
}

// refreshCustomer refreshes the pairs of customer with each of suppliers.
func (s *Service) refreshCustomer(tx Tx, customer string, suppliers ...string) error {
	cc, err := s.customerCtx(tx, customer)
	if err != nil {
		return err
	}
	for _, sup := range suppliers {
		if err := s.refreshPair(tx, cc, sup); err != nil {
			return err
		}
	}
	return nil
}

// refreshSupplier refreshes the pairs of supplier with each of customers.
func (s *Service) refreshSupplier(tx Tx, supplier string, customers []string) error {
	for _, c := range customers {
		cc, err := s.customerCtx(tx, c)
		if err != nil {
			return err
		}
		if err := s.refreshPair(tx, cc, supplier); err != nil {
			return err
		}
	}
	return nil
}

type entryKey struct{ docType, employee, req string }

func keyOf(e *Entry) entryKey { return entryKey{e.DocumentType, e.Employee, e.Requirement} }

// applicable lists the (requirement, subject) pairs the customer's
// requirements ask of the supplier (R-VAULT-2): company-subject types from
// every supplier or the named ones; employee-subject types from the
// employees assigned to the customer's open projects (one project's, for a
// project scope).
func applicable(cc *custCtx, supplier string, assigns []Assignment, closed func(project string) bool) []entryKey {
	var all []string
	byProject := map[string][]string{}
	seen := map[string]bool{}
	for _, a := range assigns {
		if closed(a.Project) {
			continue
		}
		byProject[a.Project] = append(byProject[a.Project], a.Employee)
		if !seen[a.Employee] {
			seen[a.Employee] = true
			all = append(all, a.Employee)
		}
	}
	var out []entryKey
	for _, r := range cc.reqs {
		applies := r.Scope == ScopeAllSuppliers || r.Scope == ScopeNamedSuppliers && r.names(supplier)
		switch {
		case r.Subject == SubjectCompany && applies:
			out = append(out, entryKey{r.DocumentType, "", r.ID})
		case r.Subject == SubjectEmployee && applies:
			for _, e := range all {
				out = append(out, entryKey{r.DocumentType, e, r.ID})
			}
		case r.Subject == SubjectEmployee && r.Scope == ScopeProjectEmployees:
			done := map[string]bool{}
			for _, e := range byProject[r.Project] {
				if !done[e] {
					done[e] = true
					out = append(out, entryKey{r.DocumentType, e, r.ID})
				}
			}
		}
	}
	return out
}

// refreshPair brings the entries and summary of (customer, supplier) up
// to date in tx, and tells of a change of compliance (R-NOTIF-6).
func (s *Service) refreshPair(tx Tx, cc *custCtx, supplier string) error {
	customer := cc.customer
	existing, err := tx.Entries(customer, supplier)
	if err != nil {
		return err
	}
	linked, err := tx.HasRelationship(customer, supplier)
	if err != nil {
		return err
	}
	if !linked {
		// R-VAULT-3: without the relationship the customer collects
		// nothing; its entries and summary go at once.
		for i := range existing {
			if err := tx.DeleteEntry(&existing[i]); err != nil {
				return err
			}
		}
		if err := tx.DeleteSummary(customer, supplier); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	}
	var assigns []Assignment
	needsAssigns := false
	for _, r := range cc.reqs {
		if r.Subject == SubjectEmployee {
			needsAssigns = true
			break
		}
	}
	if needsAssigns {
		if assigns, err = tx.Assignments(customer, supplier); err != nil {
			return err
		}
	}
	closedCache := map[string]bool{}
	closed := func(p string) bool {
		if c, ok := closedCache[p]; ok {
			return c
		}
		pr, err := tx.Project(customer, p)
		c := err == nil && pr.Closed
		closedCache[p] = c
		return c
	}
	keys := applicable(cc, supplier, assigns, closed)

	type docKey struct{ docType, employee string }
	docs := map[docKey]*Document{}
	desired := make([]Entry, 0, len(keys))
	for _, k := range keys {
		dk := docKey{k.docType, k.employee}
		d, ok := docs[dk]
		if !ok {
			d, err = tx.CurrentDocument(supplier, k.docType, k.employee)
			if errors.Is(err, ErrNotFound) {
				d, err = nil, nil
			}
			if err != nil {
				return err
			}
			docs[dk] = d
		}
		e := Entry{Customer: customer, Supplier: supplier, Requirement: k.req, DocumentType: k.docType, Employee: k.employee}
		if d != nil {
			e.Document, e.Version, e.ValidUntil = d.ID, d.Version, d.ValidUntil
			if r, ok := d.RejectionBy(customer); ok {
				e.Rejected, e.Reason = true, r.Reason
			}
		}
		desired = append(desired, e)
	}

	old := map[entryKey]*Entry{}
	for i := range existing {
		old[keyOf(&existing[i])] = &existing[i]
	}
	for i := range desired {
		e := &desired[i]
		k := keyOf(e)
		if prev, ok := old[k]; ok {
			delete(old, k)
			if prev.same(e) {
				continue
			}
		}
		if err := tx.PutEntry(e); err != nil {
			return err
		}
	}
	for _, e := range old {
		if err := tx.DeleteEntry(e); err != nil {
			return err
		}
	}

	sum := summarize(customer, supplier, companyName(tx, supplier), desired)
	prev, err := tx.Summary(customer, supplier)
	if errors.Is(err, ErrNotFound) {
		prev, err = nil, nil
	}
	if err != nil {
		return err
	}
	compliant := sum.Compliant(cc.today)
	if prev != nil {
		sum.Announced, sum.AnnouncedSet = prev.Announced, prev.AnnouncedSet
	}
	announce := sum.AnnouncedSet && sum.Announced != compliant || !sum.AnnouncedSet && sum.Entries > 0
	if announce {
		if err := s.appendComplianceChanged(tx, customer, supplier, compliant); err != nil {
			return err
		}
		sum.Announced, sum.AnnouncedSet = compliant, true
	}
	if prev != nil && !announce && prev.sameFacts(sum) {
		return nil
	}
	return tx.PutSummary(sum)
}

// appendComplianceChanged tells the customer (and the supplier) that the
// supplier turned compliant or not compliant for the customer.
func (s *Service) appendComplianceChanged(tx Tx, customer, supplier string, compliant bool) error {
	res := map[string]string{feed.ResourceCustomer: names.Company.Format(customer), feed.ResourceSupplier: names.Company.Format(supplier)}
	attrs := map[string]string{feed.AttrCompliant: strconv.FormatBool(compliant)}
	now := s.now().UTC()
	if err := tx.AppendEvent(&feed.Event{Type: feed.TypeComplianceChanged, Time: now, Company: names.Company.Format(customer),
		Subject: names.Supplier.Format(customer, supplier) + "/compliance", Resources: res, Attributes: attrs}); err != nil {
		return err
	}
	return tx.AppendEvent(&feed.Event{Type: feed.TypeComplianceChanged, Time: now, Company: names.Company.Format(supplier),
		Subject: names.Customer.Format(supplier, customer) + "/compliance", Resources: res, Attributes: attrs})
}
