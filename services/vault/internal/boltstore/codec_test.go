package boltstore

import (
	"reflect"
	"testing"

	"github.com/vigil/vigil/services/vault/internal/vault"
)

func TestCodecRoundTrip(t *testing.T) {
	e := vault.Entry{Customer: "c", Supplier: "s", Requirement: "r", DocumentType: "T", Employee: "é", Document: "d", Version: 3, ValidUntil: 20000, Rejected: true, Reason: "blurred"}
	got, err := decodeEntry(encodeEntry(&e))
	if err != nil || got != e {
		t.Fatalf("entry: %+v %v", got, err)
	}
	s := &vault.Summary{Customer: "c", Supplier: "s", SupplierName: "Société", Entries: 3, Missing: 1, Rejected: 1, Untils: []vault.Date{1, 20000},
		Worst: []vault.Entry{e, {Customer: "c", Supplier: "s", Requirement: "r2"}}, Announced: true, AnnouncedSet: true}
	gs, err := decodeSummary(encodeSummary(s))
	if err != nil || !reflect.DeepEqual(gs, s) {
		t.Fatalf("summary: %+v %v", gs, err)
	}
}

// FuzzDecode: a corrupt stored value is an error, never a panic or a huge
// allocation (STYLE: return an error for a value that fails to decode).
func FuzzDecode(f *testing.F) {
	f.Add(encodeSummary(&vault.Summary{Customer: "c", Untils: []vault.Date{1}, Worst: []vault.Entry{{Customer: "x"}}}))
	f.Add(encodeEntry(&vault.Entry{Customer: "c", Document: "d"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeSummary(b)
		_, _ = decodeEntry(b)
	})
}
