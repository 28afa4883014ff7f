package vault

import (
	"cmp"
	"slices"
	"sort"
)

// Entry is the stored part of one compliance entry (R-VAULT-6): customer,
// supplier, requirement, subject, and the current document that serves it
// with what decides its status. The status itself is never stored: it is
// computed at read time against "today" in the customer's time zone, so
// that the passing of days moves entries to EXPIRING_SOON and EXPIRED
// without any write.
type Entry struct {
	Customer     string `json:"c"`
	Supplier     string `json:"s"`
	Requirement  string `json:"r"`
	DocumentType string `json:"t"`
	Employee     string `json:"e,omitempty"`
	// Document is the current document of the type and subject ("" when missing).
	Document   string `json:"d,omitempty"`
	Version    int32  `json:"v,omitempty"`
	ValidUntil Date   `json:"u,omitempty"`
	// Rejected is set when the customer rejected Document (R-VAULT-7).
	Rejected bool   `json:"x,omitempty"`
	Reason   string `json:"why,omitempty"`
}

// Status is the entry's status on day today.
func (e *Entry) Status(today Date) Status {
	switch {
	case e.Document == "":
		return StatusMissing
	case e.Rejected:
		return StatusRejected
	case e.ValidUntil < today:
		return StatusExpired
	case e.ValidUntil <= today+ExpiringWindowDays:
		return StatusExpiringSoon
	}
	return StatusValid
}

// same reports whether two entries store the same facts.
func (e *Entry) same(o *Entry) bool { return *e == *o }

// Counts are entries by status.
type Counts struct {
	Missing, Valid, ExpiringSoon, Expired, Rejected int
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Missing += o.Missing
	c.Valid += o.Valid
	c.ExpiringSoon += o.ExpiringSoon
	c.Expired += o.Expired
	c.Rejected += o.Rejected
}

// Class is a supplier's standing towards a customer on one day.
type Class int

// The classes, worst first.
const (
	ClassNonCompliant Class = iota // an entry MISSING, EXPIRED or REJECTED
	ClassExpiring                  // compliant, an entry EXPIRING_SOON
	ClassCompliant                 // every entry VALID (or none)
)

// worstKept is how many entries of each kind a summary keeps for lists.
const worstKept = 3

// Summary is one supplier's compliance towards one customer, as stored: the
// date-independent counts (missing, rejected) and the valid_until of every
// other entry, so that counts and class on any day are computed in
// O(log entries) without a write when days pass. Its index position (see
// SortKey) depends on no date, so that "worst first" stays right as days
// pass: fixed problems first, then by the earliest valid_until.
type Summary struct {
	Customer     string `json:"c"`
	Supplier     string `json:"s"`
	SupplierName string `json:"sn,omitempty"`
	Entries      int    `json:"n"`
	Missing      int    `json:"m,omitempty"`
	Rejected     int    `json:"x,omitempty"`
	// Untils are the valid_until of the entries with a document not
	// rejected, ascending.
	Untils []Date `json:"u,omitempty"`
	// Worst keeps up to worstKept fixed problems and the worstKept entries
	// with the earliest valid_until: on any day, the worst open entries are
	// among them.
	Worst []Entry `json:"w,omitempty"`
	// Announced is the compliance last told in a compliance.changed event
	// (AnnouncedSet false: never told).
	Announced    bool `json:"a,omitempty"`
	AnnouncedSet bool `json:"as,omitempty"`
}

// Fixed is the number of entries bad whatever the date.
func (s *Summary) Fixed() int { return s.Missing + s.Rejected }

// MinUntil is the earliest valid_until of a dated entry (MaxDate: none).
func (s *Summary) MinUntil() Date {
	if len(s.Untils) == 0 {
		return MaxDate
	}
	return s.Untils[0]
}

// Counts are the entries by status on day today.
func (s *Summary) Counts(today Date) Counts {
	expired := sort.Search(len(s.Untils), func(i int) bool { return s.Untils[i] >= today })
	soon := sort.Search(len(s.Untils), func(i int) bool { return s.Untils[i] > today+ExpiringWindowDays })
	return Counts{Missing: s.Missing, Rejected: s.Rejected, Expired: expired, ExpiringSoon: soon - expired, Valid: len(s.Untils) - soon}
}

// ClassOn is the supplier's class on day today.
func (s *Summary) ClassOn(today Date) Class { return classOf(s.Fixed(), s.MinUntil(), today) }

func classOf(fixed int, minUntil, today Date) Class {
	switch {
	case fixed > 0 || minUntil < today:
		return ClassNonCompliant
	case minUntil <= today+ExpiringWindowDays:
		return ClassExpiring
	}
	return ClassCompliant
}

// Compliant is R-VAULT-6's "compliant" on day today.
func (s *Summary) Compliant(today Date) bool { return s.ClassOn(today) != ClassNonCompliant }

// OpenWorst returns up to n of the worst entries that are not VALID on day today.
func (s *Summary) OpenWorst(today Date, n int) []Entry {
	return openEntries(s.Worst, today, n)
}

// openEntries keeps the entries not VALID on day today, worst first, at most n (0: all).
func openEntries(entries []Entry, today Date, n int) []Entry {
	if n > 0 {
		return worstN(entries, today, n)
	}
	// Sorted by index, copied once: a page of a hundred summaries calls
	// this a hundred times (issue 10's benchmark).
	idx := make([]int, 0, len(entries))
	for i := range entries {
		if entries[i].Status(today) != StatusValid {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return compareWorst(&entries[a], &entries[b], today) })
	if len(idx) == 0 {
		return nil
	}
	out := make([]Entry, len(idx))
	for k, i := range idx {
		out[k] = entries[i]
	}
	return out
}

// worstN is openEntries for a bound n: the n worst open entries, in the
// order of a stable sort, kept by insertion into the one slice returned
// (an operator's list asks for three of each summary's few entries).
func worstN(entries []Entry, today Date, n int) []Entry {
	var out []Entry
	for i := range entries {
		e := &entries[i]
		if e.Status(today) == StatusValid {
			continue
		}
		// After every kept entry that is as bad or worse: stable.
		at := len(out)
		for at > 0 && compareWorst(e, &out[at-1], today) < 0 {
			at--
		}
		if at >= n {
			continue
		}
		if out == nil {
			out = make([]Entry, 0, n)
		}
		if len(out) < n {
			out = append(out, Entry{})
		}
		copy(out[at+1:], out[at:len(out)-1])
		out[at] = *e
	}
	return out
}

// severity ranks statuses, worst first.
func severity(s Status) int {
	switch s {
	case StatusMissing:
		return 0
	case StatusExpired:
		return 1
	case StatusRejected:
		return 2
	case StatusExpiringSoon:
		return 3
	}
	return 4
}

func compareWorst(a, b *Entry, today Date) int {
	if c := cmp.Compare(severity(a.Status(today)), severity(b.Status(today))); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ValidUntil, b.ValidUntil); c != 0 {
		return c
	}
	return compareEntries(a, b)
}

// compareEntries orders entries by requirement, then subject.
func compareEntries(a, b *Entry) int {
	if c := cmp.Compare(a.Requirement, b.Requirement); c != 0 {
		return c
	}
	return cmp.Compare(a.Employee, b.Employee)
}

// summarize builds the summary of a pair's entries.
func summarize(customer, supplier, supplierName string, entries []Entry) *Summary {
	s := &Summary{Customer: customer, Supplier: supplier, SupplierName: supplierName, Entries: len(entries)}
	var fixed, dated []Entry
	for _, e := range entries {
		switch {
		case e.Document == "":
			s.Missing++
			fixed = append(fixed, e)
		case e.Rejected:
			s.Rejected++
			fixed = append(fixed, e)
		default:
			s.Untils = append(s.Untils, e.ValidUntil)
			dated = append(dated, e)
		}
	}
	slices.Sort(s.Untils)
	slices.SortFunc(fixed, func(a, b Entry) int { return compareEntries(&a, &b) })
	slices.SortFunc(dated, func(a, b Entry) int {
		if c := cmp.Compare(a.ValidUntil, b.ValidUntil); c != 0 {
			return c
		}
		return compareEntries(&a, &b)
	})
	s.Worst = append(s.Worst, fixed[:min(len(fixed), worstKept)]...)
	s.Worst = append(s.Worst, dated[:min(len(dated), worstKept)]...)
	return s
}

// sameFacts reports whether two summaries store the same facts (the
// announcement aside).
func (s *Summary) sameFacts(o *Summary) bool {
	if s.Customer != o.Customer || s.Supplier != o.Supplier || s.SupplierName != o.SupplierName || s.Entries != o.Entries ||
		s.Missing != o.Missing || s.Rejected != o.Rejected || !slices.Equal(s.Untils, o.Untils) || len(s.Worst) != len(o.Worst) {
		return false
	}
	for i := range s.Worst {
		if !s.Worst[i].same(&o.Worst[i]) {
			return false
		}
	}
	return true
}

// CustomerStats are a customer's counters as the store keeps them, so that
// totals on any day come without reading every summary.
type CustomerStats struct {
	// Suppliers counts summaries; Fixed those with a fixed problem.
	Suppliers, Fixed int
	// MinUntils counts the summaries without a fixed problem by their
	// MinUntil (MaxDate: no dated entry).
	MinUntils []DateCount
	// EntryMissing, EntryRejected count entries; EntryUntils counts the
	// other entries by valid_until.
	EntryMissing, EntryRejected int
	EntryUntils                 []DateCount
	// Empty counts summaries with no entry at all.
	Empty int
}

// Revision identifies what a customer's compliance view is built from:
// Customer changes with each change to the customer's entries, summaries
// and counters, Companies with each change to any company's record (names,
// time zones). The store changes them in the transaction of the change
// they count, so that two reads that find the same Revision (and the same
// day) find the same view.
type Revision struct{ Customer, Companies uint64 }

// DateCount is a number of things on one date.
type DateCount struct {
	Date  Date
	Count int
}

// Totals are a customer's suppliers by class on one day.
type Totals struct {
	Suppliers, Compliant, Expiring, NonCompliant int
	// WithRequirements counts suppliers with at least one entry.
	WithRequirements int
	// Entries counts every entry by status.
	Entries Counts
}

// TotalsOn computes the totals on day today from the counters.
func (st CustomerStats) TotalsOn(today Date) Totals {
	t := Totals{Suppliers: st.Suppliers, NonCompliant: st.Fixed, WithRequirements: st.Suppliers - st.Empty}
	for _, dc := range st.MinUntils {
		switch classOf(0, dc.Date, today) {
		case ClassNonCompliant:
			t.NonCompliant += dc.Count
		case ClassExpiring:
			t.Expiring += dc.Count
		default:
			t.Compliant += dc.Count
		}
	}
	t.Entries.Missing, t.Entries.Rejected = st.EntryMissing, st.EntryRejected
	for _, dc := range st.EntryUntils {
		e := Entry{Document: "x", ValidUntil: dc.Date}
		switch e.Status(today) {
		case StatusExpired:
			t.Entries.Expired += dc.Count
		case StatusExpiringSoon:
			t.Entries.ExpiringSoon += dc.Count
		default:
			t.Entries.Valid += dc.Count
		}
	}
	return t
}
