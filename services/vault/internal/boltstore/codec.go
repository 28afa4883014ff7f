package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vigil/vigil/services/vault/internal/vault"
)

// Entries and summaries are the records a compliance page reads by the
// hundred, so they have a compact binary encoding instead of JSON (which
// cost most of a page's time): a format byte, then fields in a fixed
// order, strings length-prefixed, numbers as varints. A new field goes at
// the end under a new format byte; older values keep decoding.

const (
	entryFormat1   = 1
	summaryFormat1 = 1
)

type enc struct{ b []byte }

func (e *enc) str(s string) { e.b = binary.AppendUvarint(e.b, uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) num(n int64)  { e.b = binary.AppendVarint(e.b, n) }
func (e *enc) flag(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

type dec struct {
	b   []byte
	err error
	// shared, when set, holds strings already decoded (ids that repeat
	// from one summary to the next of a page: requirements, types) so that
	// each is allocated once per page.
	shared map[string]string
}

var errShort = errors.New("value too short")

func (d *dec) str() string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || uint64(len(d.b)-k) < n {
		d.err = errShort
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}

// id is str for an id that may repeat (see shared).
func (d *dec) id() string {
	if d.shared == nil || d.err != nil {
		return d.str()
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || uint64(len(d.b)-k) < n {
		d.err = errShort
		return ""
	}
	raw := d.b[k : k+int(n)]
	d.b = d.b[k+int(n):]
	if s, ok := d.shared[string(raw)]; ok {
		return s
	}
	s := string(raw)
	d.shared[s] = s
	return s
}

func (d *dec) num() int64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *dec) flag() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 {
		d.err = errShort
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// appendEntry encodes an entry; in a summary (inPair), customer and
// supplier are the summary's and are not repeated.
func appendEntry(e *enc, x *vault.Entry, inPair bool) {
	if !inPair {
		e.str(x.Customer)
		e.str(x.Supplier)
	}
	e.str(x.Requirement)
	e.str(x.DocumentType)
	e.str(x.Employee)
	e.str(x.Document)
	e.num(int64(x.Version))
	e.num(int64(x.ValidUntil))
	e.flag(x.Rejected)
	e.str(x.Reason)
}

func readEntry(d *dec, customer, supplier string) vault.Entry {
	if customer == "" {
		customer, supplier = d.str(), d.str()
	}
	return vault.Entry{Customer: customer, Supplier: supplier, Requirement: d.id(), DocumentType: d.id(), Employee: d.str(),
		Document: d.str(), Version: int32(d.num()), ValidUntil: vault.Date(d.num()), Rejected: d.flag(), Reason: d.str()}
}

func encodeEntry(x *vault.Entry) []byte {
	e := &enc{b: []byte{entryFormat1}}
	appendEntry(e, x, false)
	return e.b
}

func decodeEntry(b []byte) (vault.Entry, error) {
	if len(b) == 0 || b[0] != entryFormat1 {
		return vault.Entry{}, fmt.Errorf("decode entry: unknown format")
	}
	d := &dec{b: b[1:]}
	x := readEntry(d, "", "")
	if d.err != nil {
		return vault.Entry{}, fmt.Errorf("decode entry: %w", d.err)
	}
	return x, nil
}

func encodeSummary(s *vault.Summary) []byte {
	e := &enc{b: []byte{summaryFormat1}}
	e.str(s.Customer)
	e.str(s.Supplier)
	e.str(s.SupplierName)
	e.num(int64(s.Entries))
	e.num(int64(s.Missing))
	e.num(int64(s.Rejected))
	e.num(int64(len(s.Untils)))
	for _, u := range s.Untils {
		e.num(int64(u))
	}
	e.num(int64(len(s.Worst)))
	for i := range s.Worst {
		appendEntry(e, &s.Worst[i], true)
	}
	e.flag(s.Announced)
	e.flag(s.AnnouncedSet)
	return e.b
}

// maxList bounds a decoded list's length, so that a corrupt value cannot
// make a huge allocation.
const maxList = 1 << 20

func decodeSummary(b []byte) (*vault.Summary, error) {
	s := &vault.Summary{}
	return s, decodeSummaryInto(b, s, nil)
}

// summarySlab decodes the summaries of a page: repeated ids (the customer,
// document types, requirements) are shared, and the summaries' dates and
// entries are carved from a few large arrays instead of two small ones
// each (a page of a hundred summaries made three hundred allocations).
type summarySlab struct {
	shared  map[string]string
	dates   []vault.Date
	entries []vault.Entry
}

// carve returns n elements of *slab's spare capacity (growing it by a new
// array when short), capped so that no later append reaches the next ones.
func carve[T any](slab *[]T, n int) []T {
	if cap(*slab)-len(*slab) < n {
		*slab = make([]T, 0, max(n, 2*cap(*slab), 64))
	}
	l := len(*slab)
	*slab = (*slab)[:l+n]
	return (*slab)[l : l+n : l+n]
}

// decodeSummaryInto decodes b into s; with a slab, s's lists come from it.
func decodeSummaryInto(b []byte, s *vault.Summary, slab *summarySlab) error {
	if len(b) == 0 || b[0] != summaryFormat1 {
		return fmt.Errorf("decode summary: unknown format")
	}
	d := &dec{b: b[1:]}
	if slab != nil {
		d.shared = slab.shared
	}
	*s = vault.Summary{Customer: d.str(), Supplier: d.str(), SupplierName: d.str(), Entries: int(d.num()), Missing: int(d.num()), Rejected: int(d.num())}
	if n := d.num(); n > 0 && n < maxList && n <= int64(len(d.b)) && d.err == nil {
		if slab != nil {
			s.Untils = carve(&slab.dates, int(n))
		} else {
			s.Untils = make([]vault.Date, n)
		}
		for i := range s.Untils {
			s.Untils[i] = vault.Date(d.num())
		}
	}
	if n := d.num(); n > 0 && n < maxList && n <= int64(len(d.b)) && d.err == nil {
		if slab != nil {
			s.Worst = carve(&slab.entries, int(n))
		} else {
			s.Worst = make([]vault.Entry, n)
		}
		for i := range s.Worst {
			s.Worst[i] = readEntry(d, s.Customer, s.Supplier)
		}
	}
	s.Announced, s.AnnouncedSet = d.flag(), d.flag()
	if d.err != nil {
		return fmt.Errorf("decode summary: %w", d.err)
	}
	return nil
}
