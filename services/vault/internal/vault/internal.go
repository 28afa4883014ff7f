package vault

import (
	"context"
	"strconv"
	"strings"

	"github.com/vigil/vigil/services/runtime/pagetoken"
)

// What notify asks of the vault (VaultInternalService): the documents due
// for an expiry reminder (R-NOTIF-2) and the weekly digest of a company
// (R-NOTIF-1). Both are served from indexes: reminders from the current
// documents by valid_until (one range read per window), digests from the
// stored summaries and the customer's counters.

// DefaultReminderWindows are R-NOTIF-2's 30 days, 7 days and the day itself.
var DefaultReminderWindows = []int{30, 7, 0}

// Expiring is a document due for a reminder.
type Expiring struct {
	Document  *Document
	Type      *DocumentType
	Window    int
	Customers []string // company ids that collect it
}

// ListExpiringForReminders lists the current documents whose valid_until
// is exactly asOf + w for each window w (asOf 0: today in UTC). The page
// token walks the windows in order.
func (s *Service) ListExpiringForReminders(ctx context.Context, asOf Date, windows []int, p Page) ([]Expiring, string, error) {
	if asOf == 0 {
		asOf = DateOf(s.now().UTC())
	}
	if len(windows) == 0 {
		windows = DefaultReminderWindows
	}
	wi, after := 0, ""
	if p.After != "" {
		i, rest, ok := strings.Cut(p.After, ":")
		n, err := strconv.Atoi(i)
		if !ok || err != nil || n < 0 || n >= len(windows) {
			return nil, "", pagetoken.Invalid()
		}
		wi, after = n, rest
	}
	var out []Expiring
	next := ""
	err := s.view(ctx, func(tx Tx) error {
		for ; wi < len(windows) && len(out) < p.Limit; wi, after = wi+1, "" {
			docs, n, err := tx.DocumentsUntil(asOf+Date(windows[wi]), Page{After: after, Limit: p.Limit - len(out)})
			if err != nil {
				return err
			}
			for _, d := range docs {
				t, err := s.documentType(tx, d.DocumentType)
				if err != nil {
					return err
				}
				customers, err := tx.Customers(d.Supplier)
				if err != nil {
					return err
				}
				var collecting []string
				for _, c := range customers {
					ok, err := tx.Collects(c, d.Supplier, d.DocumentType, d.Employee)
					if err != nil {
						return err
					}
					if ok {
						collecting = append(collecting, c)
					}
				}
				out = append(out, Expiring{Document: d, Type: t, Window: windows[wi], Customers: collecting})
			}
			if n != "" {
				next = strconv.Itoa(wi) + ":" + n
				return nil
			}
		}
		if wi < len(windows) {
			next = strconv.Itoa(wi) + ":"
		}
		return nil
	})
	return out, next, err
}

// Digest is what one company's weekly e-mail needs (R-NOTIF-1).
type Digest struct {
	Company  string
	AsOf     Date
	Operator *OperatorDigest
	Supplier *SupplierDigest
}

// OperatorDigest is an operator's suppliers' compliance.
type OperatorDigest struct {
	Suppliers, Compliant int
	Counts               Counts
	Worst                []SummaryView
}

// SupplierDigest is a supplier's standing towards each customer.
type SupplierDigest struct {
	Customers, Compliant int
	Summaries            []SummaryView
}

// Digest builds a company's digest on asOf (0: today in each customer's
// time zone), with at most maxWorst worst suppliers (default 10).
func (s *Service) Digest(ctx context.Context, company string, asOf Date, maxWorst int) (*Digest, error) {
	if maxWorst <= 0 {
		maxWorst = 10
	}
	d := &Digest{Company: company, AsOf: asOf}
	err := s.view(ctx, func(tx Tx) error {
		today := asOf
		if today == 0 {
			var err error
			if today, err = s.todayIn(tx, company); err != nil {
				return err
			}
		}
		if d.AsOf == 0 {
			d.AsOf = today
		}
		st, err := tx.CustomerStats(company)
		if err != nil {
			return err
		}
		if st.Suppliers > 0 {
			t := st.TotalsOn(today)
			od := &OperatorDigest{Suppliers: t.WithRequirements, Compliant: t.Compliant + t.Expiring - st.Empty, Counts: t.Entries}
			sums, _, err := tx.ListSummaries(SummaryQuery{Customer: company, Order: OrderWorst, Fixed: true, From: 0, To: today + ExpiringWindowDays,
				Page: Page{Limit: maxWorst}})
			if err != nil {
				return err
			}
			for _, sum := range sums {
				entries, err := tx.Entries(company, sum.Supplier)
				if err != nil {
					return err
				}
				od.Worst = append(od.Worst, s.summaryView(tx, sum, today, openEntries(entries, today, 0)))
			}
			d.Operator = od
		}
		views, err := s.supplierViews(tx, company, asOf)
		if err != nil {
			return err
		}
		sd := &SupplierDigest{}
		for _, v := range views {
			if v.Counts.Missing+v.Counts.Valid+v.Counts.ExpiringSoon+v.Counts.Expired+v.Counts.Rejected == 0 {
				continue
			}
			sd.Customers++
			if v.Compliant {
				sd.Compliant++
			}
			sd.Summaries = append(sd.Summaries, v)
		}
		if sd.Customers > 0 {
			d.Supplier = sd
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}
