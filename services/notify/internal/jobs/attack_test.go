package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/notify/internal/upstream/upstreamtest"
)

// Holes found by attacking notify's jobs (review 2); each test failed before
// its fix.

// hostileNames are display names identity accepts (given and family name:
// at most 100 characters each, no C0 control character) that notify's outbox
// refuses in a recipient (a C1 control character, a line or paragraph
// separator, more than 200 bytes).
var hostileNames = map[string][2]string{
	"a C1 control character (NEL)": {"Eve\u0085", "Mallory"},
	"a line separator":             {"Eve\u2028Bcc: x@evil.test", "Mallory"},
	"200 two-byte characters":      {strings.Repeat("é", 100), strings.Repeat("è", 100)},
}

// TestAttackDisplayNameStopsEveryDigest: one user anywhere on the platform
// who named itself with a character identity accepts but notify's outbox
// refuses failed the whole batch of 100 companies, and so the weekly run:
// no company from that batch on received its weekly e-mail, every week
// (R-NOTIF-1: every active user of every company receives it).
func TestAttackDisplayNameStopsEveryDigest(t *testing.T) {
	for what, name := range hostileNames {
		t.Run(what, func(t *testing.T) {
			h := newHarness(t)
			evil := h.company("evil", "Evil Corp", supplierK, "", "")
			good := h.company("good", "Good SA", supplierK, "", "")
			h.world.AddMember(&identityv1.User{Name: evil + "/users/eve", Email: "eve@evil.test", GivenName: name[0], FamilyName: name[1],
				Role: admin, State: active})
			h.member(good, "gina", admin, active, "")
			counts, err := h.digest.Run(context.Background(), manual(wednesday12))
			if err != nil {
				t.Fatalf("the weekly run failed: %v", err)
			}
			if counts.Sent != 2 {
				t.Fatalf("counts %+v, want 2 sent", counts)
			}
			for _, u := range []string{"gina", "eve"} {
				if got := h.inbox(u); len(got) != 1 {
					t.Fatalf("%s has %d digests", u, len(got))
				}
			}
		})
	}
}

// TestAttackDisplayNameStopsEveryReminder: the same name in a supplier's
// uploaders failed a page of reminders, and so every reminder of the day
// (R-NOTIF-2).
func TestAttackDisplayNameStopsEveryReminder(t *testing.T) {
	for what, name := range hostileNames {
		t.Run(what, func(t *testing.T) {
			h := newHarness(t)
			sup := h.company("sup", "Acme SAS", supplierK, "", "")
			other := h.company("other", "Other SAS", supplierK, "", "")
			c1 := h.company("c1", "Big Buyer", operatorK, "", "")
			h.world.AddMember(&identityv1.User{Name: sup + "/users/eve", Email: "eve@acme.test", GivenName: name[0], FamilyName: name[1],
				Role: admin, State: active})
			h.member(other, "olly", admin, active, "")
			asOf := day(wednesday12)
			kbis := &vaultv1.DocumentType{Name: "documentTypes/kbis", DisplayName: "Kbis"}
			until := asOf.AddDate(0, 0, 7).Format(time.DateOnly)
			h.world.PutDocument(upstreamtest.Document{Name: sup + "/documents/d1", Type: kbis, Subject: sup, ValidUntil: until, Customers: []string{c1}})
			h.world.PutDocument(upstreamtest.Document{Name: other + "/documents/d2", Type: kbis, Subject: other, ValidUntil: until, Customers: []string{c1}})
			counts, err := h.reminders.Run(context.Background(), schedule.Run{Day: asOf, Now: asOf.Add(6 * time.Hour)})
			if err != nil {
				t.Fatalf("the reminders failed: %v", err)
			}
			if counts.Sent != 2 {
				t.Fatalf("counts %+v, want 2 sent", counts)
			}
			for _, u := range []string{"olly", "eve"} {
				if got := h.inbox(u); len(got) != 1 {
					t.Fatalf("%s has %d reminders", u, len(got))
				}
			}
		})
	}
}

// TestAttackDigestTellsRestrictedUsersCertificateDetails: a supplier's
// weekly e-mail tells every member what each customer misses or will soon
// lose (R-NOTIF-1), and told a Restricted user, who may view no certificate
// (R-ID-3), each certificate's validity date and the customer's reason for
// rejecting it. A Restricted user still learns what is missing, rejected or
// expiring, not the certificates' details.
func TestAttackDigestTellsRestrictedUsersCertificateDetails(t *testing.T) {
	h := newHarness(t)
	op := h.company("op", "Big Buyer", operatorK, "", "")
	sup := h.company("sup", "Acme SAS", supplierK, "", "en")
	h.member(sup, "ada", admin, active, "en")
	h.member(sup, "stan", standard, active, "en")
	h.member(sup, "rita", restricted, active, "en")
	h.world.SetDigest(&vaultv1.GetComplianceDigestResponse{Company: sup, Supplier: &vaultv1.SupplierComplianceDigest{
		CustomerCount: 1, Customers: []*vaultv1.ComplianceSummary{{Customer: op, Supplier: sup, OpenEntries: []*vaultv1.ComplianceEntry{
			{DocumentType: "documentTypes/kbis", DocumentTypeDisplayName: "Kbis", Subject: sup, Status: rejectedSt, RejectionReason: "The SIREN 123 456 789 is not yours", ValidUntil: "2025-09-01"},
			{DocumentType: "documentTypes/ins", DocumentTypeDisplayName: "Insurance", Subject: sup, Status: expiring, ValidUntil: "2025-03-30"},
			{DocumentType: "documentTypes/safety", DocumentTypeDisplayName: "Safety training", Subject: sup + "/employees/e1", Status: expired, ValidUntil: "2025-03-01"},
		}}},
	}})
	if _, err := h.digest.Run(context.Background(), manual(wednesday12)); err != nil {
		t.Fatal(err)
	}
	details := []string{"The SIREN 123 456 789 is not yours", "30 March 2025", "1 March 2025"}
	for _, u := range []string{"ada", "stan"} {
		got := strings.Join(h.inbox(u), "\n")
		for _, d := range details {
			if !strings.Contains(got, d) {
				t.Errorf("%s (may view certificates) lacks %q:\n%s", u, d, got)
			}
		}
	}
	rita := strings.Join(h.inbox("rita"), "\n")
	for _, d := range details {
		if strings.Contains(rita, d) {
			t.Errorf("rita (Restricted) is told %q:\n%s", d, rita)
		}
	}
	for _, want := range []string{"Kbis: rejected", "Insurance: expires", "Safety training (1 employee): expired"} {
		if !strings.Contains(rita, want) {
			t.Errorf("rita lacks %q:\n%s", want, rita)
		}
	}
}
