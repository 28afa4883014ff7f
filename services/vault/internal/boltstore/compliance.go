package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/vigil/vigil/services/runtime/storage"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// Compliance is stored as entries and summaries (see the vault package)
// plus what lets a read avoid rescanning: the summaries in worst-first and
// name order per customer, by earliest valid_until platform-wide (the
// expiry sweep), and per-customer counters — summaries with a fixed
// problem, the others by earliest valid_until, entries by status or
// valid_until — all moved in the transaction that changes the summary or
// entry.

func entryKey(e *vault.Entry) []byte {
	return key(e.Customer, e.Supplier, e.DocumentType, e.Employee, e.Requirement)
}

func entryReqKey(e *vault.Entry) []byte {
	return key(e.Customer, e.Requirement, e.Supplier, e.DocumentType, e.Employee)
}

// add adds delta to an int64 counter, deleting it at zero.
func add(t *txn, b storage.Bucket, k []byte, delta int) error {
	if delta == 0 {
		return nil
	}
	n := int64(u64At(t, b, k)) + int64(delta)
	if n == 0 {
		return t.b(b).Delete(k)
	}
	return putU64(t, b, k, uint64(n))
}

func counter(t *txn, b storage.Bucket, k []byte) int { return int(int64(u64At(t, b, k))) }

// u64At reads the 8-byte big-endian number at k (0 when absent).
func u64At(t *txn, b storage.Bucket, k []byte) uint64 {
	if v := t.b(b).Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putU64(t *txn, b storage.Bucket, k []byte, n uint64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], n)
	return t.b(b).Put(k, buf[:])
}

// bump moves the revision counter at k, once per transaction however many
// changes the transaction makes (a requirement added for 10,000 suppliers
// writes it once, not four times a supplier); it never comes back to 0.
func (t *txn) bump(b storage.Bucket, k []byte) error {
	id := string(b) + "\x00" + string(k)
	if t.bumped[id] {
		return nil
	}
	n := u64At(t, b, k) + 1
	if n == 0 {
		n = 1
	}
	if err := putU64(t, b, k, n); err != nil {
		return err
	}
	if t.bumped == nil {
		t.bumped = map[string]bool{}
	}
	t.bumped[id] = true
	return nil
}

func dateKey(customer string, d vault.Date) []byte { return append(prefix(customer), d.Key()...) }

// countEntry adds (sign +1) or removes (-1) an entry from its customer's counters.
func (t *txn) countEntry(e *vault.Entry, sign int) error {
	if err := t.bump(bStats, key(e.Customer, statRevision)); err != nil {
		return err
	}
	switch {
	case e.Document == "":
		return add(t, bStats, key(e.Customer, statEntryMissing), sign)
	case e.Rejected:
		return add(t, bStats, key(e.Customer, statEntryRejected), sign)
	}
	return add(t, bEntHist, dateKey(e.Customer, e.ValidUntil), sign)
}

func (t *txn) Entries(customer, supplier string) ([]vault.Entry, error) {
	var out []vault.Entry
	var err error
	scan(t.b(bEntries).Cursor(), prefix(customer, supplier), nil, func(_, v []byte) bool {
		var e vault.Entry
		if e, err = decodeEntry(v); err != nil {
			return true
		}
		out = append(out, e)
		return false
	})
	return out, err
}

func (t *txn) entry(k []byte) (*vault.Entry, error) {
	v := t.b(bEntries).Get(k)
	if v == nil {
		return nil, vault.ErrNotFound
	}
	e, err := decodeEntry(v)
	return &e, err
}

func (t *txn) PutEntry(e *vault.Entry) error {
	k := entryKey(e)
	if prev, err := t.entry(k); err == nil {
		if err := t.countEntry(prev, -1); err != nil {
			return err
		}
	} else if !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	if err := t.b(bEntries).Put(k, encodeEntry(e)); err != nil {
		return err
	}
	if err := mark(t, bEntriesByReq, entryReqKey(e)); err != nil {
		return err
	}
	return t.countEntry(e, +1)
}

func (t *txn) DeleteEntry(e *vault.Entry) error {
	k := entryKey(e)
	prev, err := t.entry(k)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := t.countEntry(prev, -1); err != nil {
		return err
	}
	if err := t.b(bEntries).Delete(k); err != nil {
		return err
	}
	return t.b(bEntriesByReq).Delete(entryReqKey(prev))
}

func (t *txn) Collects(customer, supplier, docType, employee string) (bool, error) {
	pfx := prefix(customer, supplier, docType, employee)
	k, _ := t.b(bEntries).Cursor().Seek(pfx)
	return k != nil && bytes.HasPrefix(k, pfx), nil
}

func (t *txn) CollectedTypes(customer, supplier string) ([][2]string, error) {
	var out [][2]string
	pfx := prefix(customer, supplier)
	scan(t.b(bEntries).Cursor(), pfx, nil, func(k, _ []byte) bool {
		parts := strings.Split(string(k[len(pfx):]), "/")
		if len(parts) != 3 {
			return false
		}
		tp := [2]string{parts[0], parts[1]}
		if len(out) == 0 || out[len(out)-1] != tp {
			out = append(out, tp)
		}
		return false
	})
	return out, nil
}

func (t *txn) RequirementSuppliers(customer, requirement string) ([]string, error) {
	var out []string
	pfx := prefix(customer, requirement)
	scan(t.b(bEntriesByReq).Cursor(), pfx, nil, func(k, _ []byte) bool {
		sup, _, _ := strings.Cut(string(k[len(pfx):]), "/")
		if len(out) == 0 || out[len(out)-1] != sup {
			out = append(out, sup)
		}
		return false
	})
	return out, nil
}

func (t *txn) CustomerEntries(customer string, p vault.Page) ([]vault.Entry, string, error) {
	return scanPage(t.b(bEntries).Cursor(), prefix(customer), p, func(_, v []byte) (vault.Entry, step, error) {
		e, err := decodeEntry(v)
		return e, take, err
	})
}

// ---- summaries

func (t *txn) Summary(customer, supplier string) (*vault.Summary, error) {
	v := t.b(bSummaries).Get(key(customer, supplier))
	if v == nil {
		return nil, vault.ErrNotFound
	}
	return decodeSummary(v)
}

func worstKey(s *vault.Summary) []byte {
	k := prefix(s.Customer)
	if s.Fixed() > 0 {
		k = append(append(append(k, 0), inv32(s.Fixed())...), s.MinUntil().Key()...)
	} else {
		k = append(append(k, 1), s.MinUntil().Key()...)
	}
	return append(k, s.Supplier...)
}

func nameKey(s *vault.Summary) []byte {
	return append(prefix(s.Customer), strings.ToLower(s.SupplierName)+"\x00"+s.Supplier...)
}

func minUntilKey(s *vault.Summary) []byte {
	return append(s.MinUntil().Key(), s.Customer+"/"+s.Supplier...)
}

// indexSummary adds (sign +1) or removes (-1) a summary from the indexes
// and counters.
func (t *txn) indexSummary(s *vault.Summary, sign int) error {
	if err := t.bump(bStats, key(s.Customer, statRevision)); err != nil {
		return err
	}
	fixedMin := append(u32(uint32(min(s.Fixed(), 1<<31))), s.MinUntil().Key()...)
	steps := []struct {
		b storage.Bucket
		k []byte
		v []byte
	}{
		{bSumBySupp, key(s.Supplier, s.Customer), nil},
		{bSumWorst, worstKey(s), []byte(strings.ToLower(s.SupplierName))},
		{bSumName, nameKey(s), fixedMin},
	}
	if s.Fixed() == 0 {
		steps = append(steps, struct {
			b storage.Bucket
			k []byte
			v []byte
		}{bSumMinUntil, minUntilKey(s), nil})
	}
	for _, st := range steps {
		var err error
		if sign > 0 {
			if st.v == nil {
				st.v = []byte{}
			}
			err = t.b(st.b).Put(st.k, st.v)
		} else {
			err = t.b(st.b).Delete(st.k)
		}
		if err != nil {
			return err
		}
	}
	if err := add(t, bStats, key(s.Customer, statSuppliers), sign); err != nil {
		return err
	}
	if s.Entries == 0 {
		if err := add(t, bStats, key(s.Customer, statEmpty), sign); err != nil {
			return err
		}
	}
	if s.Fixed() > 0 {
		return add(t, bStats, key(s.Customer, statFixed), sign)
	}
	return add(t, bSumHist, dateKey(s.Customer, s.MinUntil()), sign)
}

func (t *txn) PutSummary(s *vault.Summary) error {
	k := key(s.Customer, s.Supplier)
	if prev, err := t.Summary(s.Customer, s.Supplier); err == nil {
		if err := t.indexSummary(prev, -1); err != nil {
			return err
		}
	} else if !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	if err := t.b(bSummaries).Put(k, encodeSummary(s)); err != nil {
		return err
	}
	return t.indexSummary(s, +1)
}

func (t *txn) DeleteSummary(customer, supplier string) error {
	k := key(customer, supplier)
	prev, err := t.Summary(customer, supplier)
	if err != nil {
		return err
	}
	if err := t.indexSummary(prev, -1); err != nil {
		return err
	}
	return t.b(bSummaries).Delete(k)
}

func (t *txn) SupplierSummaries(supplier string) ([]*vault.Summary, error) {
	customers, _, err := idsAfter(t, bSumBySupp, prefix(supplier), vault.Page{})
	if err != nil {
		return nil, err
	}
	out := make([]*vault.Summary, 0, len(customers))
	for _, c := range customers {
		s, err := t.Summary(c, supplier)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (t *txn) ListSummaries(q vault.SummaryQuery) ([]*vault.Summary, string, error) {
	pfx := prefix(q.Customer)
	after, err := cursorIn(q.After, pfx)
	if err != nil {
		return nil, "", err
	}
	var last []byte // index key of the page's last summary
	suppliers := make([]string, 0, max(0, min(q.Limit, 1000)))
	more := false
	accept := func(k []byte, supplier string) bool {
		if len(suppliers) == q.Limit {
			more = true
			return true
		}
		last = append(last[:0], k...)
		suppliers = append(suppliers, supplier)
		return false
	}
	nameOK := func(name []byte) bool {
		return q.NameContains == "" || bytes.Contains(name, []byte(q.NameContains))
	}
	if q.Order == vault.OrderName {
		scan(t.b(bSumName).Cursor(), pfx, after, func(k, v []byte) bool {
			name, sup, _ := bytes.Cut(k[len(pfx):], []byte{0})
			if len(v) != 8 || !nameOK(name) || q.Keep != nil && !q.Keep(int(binary.BigEndian.Uint32(v)), vault.DateFromKey(v[4:])) {
				return false
			}
			return accept(k, string(sup))
		})
	} else {
		fixedPfx := append(append([]byte{}, pfx...), 0)
		datedPfx := append(append([]byte{}, pfx...), 1)
		c := t.b(bSumWorst).Cursor()
		stop := false
		if q.Fixed && (after == nil || bytes.HasPrefix(after, fixedPfx)) {
			scan(c, fixedPfx, after, func(k, v []byte) bool {
				if !nameOK(v) {
					return false
				}
				stop = accept(k, string(k[len(fixedPfx)+8:]))
				return stop
			})
			after = nil
		}
		if !stop && q.To >= q.From && q.To > 0 {
			start := append(append([]byte{}, datedPfx...), q.From.Key()...)
			if after != nil && bytes.HasPrefix(after, datedPfx) && bytes.Compare(after, start) >= 0 {
				start = after
			}
			k, v := c.Seek(start)
			if after != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, datedPfx); k, v = c.Next() {
				if vault.DateFromKey(k[len(datedPfx):]) > q.To {
					break
				}
				if !nameOK(v) {
					continue
				}
				if accept(k, string(k[len(datedPfx)+4:])) {
					break
				}
			}
		}
	}
	out := make([]*vault.Summary, 0, len(suppliers))
	slab := &summarySlab{shared: map[string]string{}}
	page := make([]vault.Summary, len(suppliers))
	sums := t.b(bSummaries)
	for i, sup := range suppliers {
		v := sums.Get(key(q.Customer, sup))
		if v == nil {
			return nil, "", vault.ErrNotFound
		}
		if err := decodeSummaryInto(v, &page[i], slab); err != nil {
			return nil, "", err
		}
		out = append(out, &page[i])
	}
	if more {
		return out, cursorOut(last), nil
	}
	return out, "", nil
}

func (t *txn) CustomerStats(customer string) (vault.CustomerStats, error) {
	st := vault.CustomerStats{
		Suppliers:     counter(t, bStats, key(customer, statSuppliers)),
		Fixed:         counter(t, bStats, key(customer, statFixed)),
		Empty:         counter(t, bStats, key(customer, statEmpty)),
		EntryMissing:  counter(t, bStats, key(customer, statEntryMissing)),
		EntryRejected: counter(t, bStats, key(customer, statEntryRejected)),
	}
	pfx := prefix(customer)
	hist := func(b storage.Bucket) []vault.DateCount {
		out := make([]vault.DateCount, 0, 1024) // a customer's dates span a few years
		scan(t.b(b).Cursor(), pfx, nil, func(k, v []byte) bool {
			if len(v) == 8 {
				out = append(out, vault.DateCount{Date: vault.DateFromKey(k[len(pfx):]), Count: int(int64(binary.BigEndian.Uint64(v)))})
			}
			return false
		})
		return out
	}
	st.MinUntils, st.EntryUntils = hist(bSumHist), hist(bEntHist)
	return st, nil
}

func (t *txn) ComplianceRevision(customer string) (vault.Revision, error) {
	return vault.Revision{Customer: u64At(t, bStats, key(customer, statRevision)),
		Companies: u64At(t, bMeta, []byte(metaCompaniesRevision))}, nil
}

func (t *txn) SummariesByMinUntil(from, to vault.Date, p vault.Page) ([]*vault.Summary, string, error) {
	return scanPageFrom(t.b(bSumMinUntil).Cursor(), nil, from.Key(), p, func(k, _ []byte) (*vault.Summary, step, error) {
		if vault.DateFromKey(k) > to {
			return nil, stop, nil
		}
		cust, sup, _ := strings.Cut(string(k[4:]), "/")
		s, err := t.Summary(cust, sup)
		return s, take, err
	})
}
