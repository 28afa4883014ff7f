package vault

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/pagetoken"
)

// EntryView is an entry with its status on the reference day and its
// type's name.
type EntryView struct {
	Entry
	Status   Status
	TypeName string
}

// SummaryView is one supplier's compliance towards one customer on a day.
type SummaryView struct {
	Customer, Supplier         string
	CustomerName, SupplierName string
	Compliant, Expiring        bool
	Counts                     Counts
	Open                       []EntryView
	AsOf                       Date
	// fixed and minUntil order supplier views worst first.
	fixed    int
	minUntil Date
}

// PairView is a SummaryView with every entry.
type PairView struct {
	SummaryView
	Entries []EntryView
}

// ComplianceFilter selects and orders a customer's summaries.
type ComplianceFilter struct {
	Status string // "", "non_compliant", "expiring", "compliant"
	Name   string
	Order  string // "", "worst", "name"
}

// ComplianceList is one page of a company's compliance.
type ComplianceList struct {
	Summaries []SummaryView
	Next      string
	// Totals is set for an operator.
	Totals *Totals
}

// operatorOpenEntries is how many open entries an operator's list shows per supplier.
const operatorOpenEntries = 3

func (s *Service) entryViews(tx Tx, entries []Entry, today Date) []EntryView {
	out := make([]EntryView, len(entries))
	for i, e := range entries {
		var name string
		if t, err := s.documentType(tx, e.DocumentType); err == nil {
			name = t.Text("en").Name
		} else {
			name = names.DocumentType.Format(e.DocumentType)
		}
		out[i] = EntryView{Entry: e, Status: e.Status(today), TypeName: name}
	}
	return out
}

// companyNames reads companies' names once per call.
type companyNames struct {
	tx Tx
	m  map[string]string
}

func newNames(tx Tx) *companyNames { return &companyNames{tx: tx, m: map[string]string{}} }

func (n *companyNames) of(id string) string {
	if v, ok := n.m[id]; ok {
		return v
	}
	v := companyName(n.tx, id)
	n.m[id] = v
	return v
}

func (s *Service) summaryView(tx Tx, sum *Summary, today Date, open []Entry) SummaryView {
	return s.summaryViewNamed(tx, newNames(tx), sum, today, open)
}

func (s *Service) summaryViewNamed(tx Tx, nm *companyNames, sum *Summary, today Date, open []Entry) SummaryView {
	class := sum.ClassOn(today)
	supplierName := sum.SupplierName
	if supplierName == "" {
		supplierName = nm.of(sum.Supplier)
	}
	return SummaryView{Customer: sum.Customer, Supplier: sum.Supplier, CustomerName: nm.of(sum.Customer), SupplierName: supplierName,
		Compliant: class != ClassNonCompliant, Expiring: class == ClassExpiring, Counts: sum.Counts(today), Open: s.entryViews(tx, open, today),
		AsOf: today, fixed: sum.Fixed(), minUntil: sum.MinUntil()}
}

// ListCompliance lists a company's compliance (issue 10 points 3 and 4):
// for an operator, one summary per supplier, filtered and ordered as asked,
// with totals; for a supplier, one summary per customer with every open
// entry, worst first. Served from stored summaries: a page reads its own
// summaries and the customer's counters, whatever the number of suppliers;
// an operator's page, once built, is kept while the store shows the same
// Revision on the same day (pageCache).
func (s *Service) ListCompliance(ctx context.Context, c Caller, company string, f ComplianceFilter, p Page) (*ComplianceList, error) {
	if err := s.authorize(ctx, c, company, authz.ReadMasterData); err != nil {
		return nil, err
	}
	if c.CompanyKind == authz.KindSupplier {
		if f.Status != "" || f.Name != "" || f.Order != "" {
			field := "status_filter"
			if f.Name != "" {
				field = "supplier_name"
			} else if f.Order != "" {
				field = "order_by"
			}
			return nil, errs.InvalidArgument(field, "filters and orders apply to an operator's list of suppliers")
		}
		return s.supplierCompliance(ctx, c, company, p)
	}
	if err := s.authorize(ctx, c, company, authz.ViewSuppliers); err != nil {
		return nil, err
	}
	fingerprint := "c|" + f.Status + "|" + strings.ToLower(f.Name) + "|" + f.Order
	// The token wraps the store's cursor and is bound to the query, so
	// that it is only ever used with the query that returned it.
	after, err := pagetoken.Cursor(p.After, fingerprint)
	if err != nil {
		return nil, err
	}
	var out *ComplianceList
	err = s.view(ctx, func(tx Tx) error {
		today, err := s.todayIn(tx, company)
		if err != nil {
			return err
		}
		rev, err := tx.ComplianceRevision(company)
		if err != nil {
			return err
		}
		cacheKey := company + "\x00" + fingerprint + "\x00" + p.After + "\x00" + strconv.Itoa(p.Limit)
		if list, ok := s.pages.get(cacheKey, rev, today); ok {
			out = list
			return nil
		}
		out = &ComplianceList{}
		q := SummaryQuery{Customer: company, NameContains: strings.ToLower(f.Name), Page: Page{After: after, Limit: p.Limit}}
		if f.Order == "name" {
			q.Order = OrderName
			if f.Status != "" {
				want := map[string]Class{"non_compliant": ClassNonCompliant, "expiring": ClassExpiring, "compliant": ClassCompliant}[f.Status]
				q.Keep = func(fixed int, minUntil Date) bool { return classOf(fixed, minUntil, today) == want }
			}
		} else {
			switch f.Status {
			case "":
				q.Fixed, q.From, q.To = true, 0, MaxDate
			case "non_compliant":
				q.Fixed, q.From, q.To = true, 0, today-1
			case "expiring":
				q.From, q.To = today, today+ExpiringWindowDays
			case "compliant":
				q.From, q.To = today+ExpiringWindowDays+1, MaxDate
			}
		}
		sums, next, err := tx.ListSummaries(q)
		if err != nil {
			return err
		}
		nm := newNames(tx)
		out.Summaries = make([]SummaryView, 0, len(sums))
		for _, sum := range sums {
			out.Summaries = append(out.Summaries, s.summaryViewNamed(tx, nm, sum, today, sum.OpenWorst(today, operatorOpenEntries)))
		}
		out.Next = pagetoken.Encode(fingerprint, next)
		st, err := tx.CustomerStats(company)
		if err != nil {
			return err
		}
		t := st.TotalsOn(today)
		out.Totals = &t
		s.pages.put(cacheKey, rev, today, out)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// supplierCompliance is a supplier's view: its standing towards each
// customer, with what each still misses or will soon lose.
func (s *Service) supplierCompliance(ctx context.Context, c Caller, supplier string, p Page) (*ComplianceList, error) {
	if err := s.authorize(ctx, c, supplier, authz.ViewOwnCompliance); err != nil {
		return nil, err
	}
	var all []SummaryView
	err := s.view(ctx, func(tx Tx) error {
		var err error
		all, err = s.supplierViews(tx, supplier, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	page, next, err := pageSlice(all, p)
	if err != nil {
		return nil, err
	}
	return &ComplianceList{Summaries: page, Next: next}, nil
}

// supplierViews lists a supplier's summaries with every open entry, worst
// first, each on asOf (0: today in each customer's time zone).
func (s *Service) supplierViews(tx Tx, supplier string, asOf Date) ([]SummaryView, error) {
	sums, err := tx.SupplierSummaries(supplier)
	if err != nil {
		return nil, err
	}
	out := make([]SummaryView, 0, len(sums))
	for _, sum := range sums {
		today := asOf
		if today == 0 {
			if today, err = s.todayIn(tx, sum.Customer); err != nil {
				return nil, err
			}
		}
		entries, err := tx.Entries(sum.Customer, supplier)
		if err != nil {
			return nil, err
		}
		out = append(out, s.summaryView(tx, sum, today, openEntries(entries, today, 0)))
	}
	sortWorst(out)
	return out, nil
}

// sortWorst orders views worst first: class, fixed problems, first expiry, name.
func sortWorst(vs []SummaryView) {
	slices.SortStableFunc(vs, func(a, b SummaryView) int {
		ca, cb := classOf(a.fixed, a.minUntil, a.AsOf), classOf(b.fixed, b.minUntil, b.AsOf)
		if c := cmp.Compare(ca, cb); c != 0 {
			return c
		}
		if c := cmp.Compare(b.fixed, a.fixed); c != 0 {
			return c
		}
		if c := cmp.Compare(a.minUntil, b.minUntil); c != 0 {
			return c
		}
		return cmp.Compare(a.CustomerName+a.SupplierName, b.CustomerName+b.SupplierName)
	})
}

// GetPairCompliance returns every entry of (customer, supplier): the
// customer's view (supplierView false) or the supplier's.
func (s *Service) GetPairCompliance(ctx context.Context, c Caller, customer, supplier string, supplierView bool) (*PairView, error) {
	if supplierView {
		if err := s.authorize(ctx, c, supplier, authz.ViewOwnCompliance); err != nil {
			return nil, err
		}
	} else if err := s.authorize(ctx, c, customer, authz.ViewSuppliers); err != nil {
		return nil, err
	}
	var out *PairView
	err := s.view(ctx, func(tx Tx) error {
		sum, err := tx.Summary(customer, supplier)
		if err != nil {
			return err
		}
		today, err := s.todayIn(tx, customer)
		if err != nil {
			return err
		}
		entries, err := tx.Entries(customer, supplier)
		if err != nil {
			return err
		}
		slices.SortFunc(entries, func(a, b Entry) int { return compareEntries(&a, &b) })
		out = &PairView{SummaryView: s.summaryView(tx, sum, today, openEntries(entries, today, 0)), Entries: s.entryViews(tx, entries, today)}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		if supplierView {
			return nil, notFound("customer " + names.Customer.Format(supplier, customer))
		}
		return nil, notFound("supplier " + names.Supplier.Format(customer, supplier))
	}
	return out, err
}

// ExportRow is one line of a compliance export.
type ExportRow struct {
	SupplierName string
	Entry        EntryView
}

// exportBatch is how many rows one read transaction of an export reads.
const exportBatch = 500

// ExportCompliance streams a customer's compliance, one row per supplier,
// requirement and subject (issue 10 point 7), in batches read each in its
// own short transaction (a long read would hold bbolt's remapping back).
func (s *Service) ExportCompliance(ctx context.Context, c Caller, customer string, send func(asOf Date, rows []ExportRow) error) error {
	if err := s.authorize(ctx, c, customer, authz.ViewSuppliers); err != nil {
		return err
	}
	var today Date
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		today, err = s.todayIn(tx, customer)
		return err
	}); err != nil {
		return err
	}
	nm := newNames(nil) // each batch reads with its own transaction
	p := Page{Limit: exportBatch}
	first := true
	for {
		var rows []ExportRow
		var next string
		err := s.view(ctx, func(tx Tx) error {
			entries, n, err := tx.CustomerEntries(customer, p)
			if err != nil {
				return err
			}
			next = n
			nm.tx = tx
			for _, v := range s.entryViews(tx, entries, today) {
				rows = append(rows, ExportRow{SupplierName: nm.of(v.Supplier), Entry: v})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(rows) > 0 || first {
			if err := send(today, rows); err != nil {
				return err
			}
			first = false
		}
		if next == "" {
			return nil
		}
		p.After = next
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
