package jobs_test

// The jobs against fake directory, identity and vault services served over
// gRPC (bufconn, upstreamtest) through the real adapters, with notify's real
// outbox (service, templates, bbolt): what each run queues, for whom, in
// which language, and that no run queues anything twice.

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/jobs"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/notify/internal/templates"
	"github.com/vigil/vigil/services/notify/internal/upstream"
	"github.com/vigil/vigil/services/notify/internal/upstream/upstreamtest"
	"github.com/vigil/vigil/services/runtime/secrets"
	"github.com/vigil/vigil/services/runtime/server/servertest"
)

type harness struct {
	t         *testing.T
	world     *upstreamtest.World
	store     *boltstore.Store
	svc       *notify.Service
	digest    *jobs.DigestJob
	reminders *jobs.RemindersJob
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	world := upstreamtest.NewWorld()
	lis := servertest.Listen()
	world.Serve(t, lis)
	conn := servertest.Dial(t, lis)
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "notify.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	r, err := templates.Load()
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	box, _ := secrets.New(key)
	svc := notify.NewService(store, r, box, zap.NewNop(), notify.ServiceOptions{})
	dir, id, vault := upstream.NewDirectory(conn), upstream.NewIdentity(conn), upstream.NewVault(conn)
	common := jobs.Config{PublicURL: "https://vigil.example/", Concurrency: 4}
	return &harness{t: t, world: world, store: store, svc: svc,
		digest:    jobs.NewDigest(jobs.DigestConfig{Config: common, Weekday: time.Monday, Hour: 7}, dir, id, vault, svc, zap.NewNop()),
		reminders: jobs.NewReminders(jobs.RemindersConfig{Config: common, Hour: 6}, dir, id, vault, svc, zap.NewNop()),
	}
}

func (h *harness) company(id, name string, kind directoryv1.CompanyKind, tz, lang string) string {
	h.world.AddCompany(&directoryv1.Company{Name: "companies/" + id, LegalName: name, Kind: kind, TimeZone: tz, Language: lang})
	return "companies/" + id
}

func (h *harness) member(company, id string, role identityv1.Role, state identityv1.User_State, lang string) string {
	name := company + "/users/" + id
	h.world.AddMember(&identityv1.User{Name: name, Email: id + "@example.com", GivenName: strings.ToUpper(id[:1]) + id[1:],
		FamilyName: "Test", Role: role, State: state, Language: lang})
	return name
}

// inbox is what users/{id} has in its inbox: subject + body per entry.
func (h *harness) inbox(user string) []string {
	h.t.Helper()
	items, _, err := h.svc.ListInbox(context.Background(), notify.Caller{User: "users/" + user}, 100, "", false)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Subject+"\n"+it.Body)
	}
	return out
}

const (
	active      = identityv1.User_STATE_ACTIVE
	admin       = identityv1.Role_ROLE_ADMINISTRATOR
	power       = identityv1.Role_ROLE_POWER_USER
	standard    = identityv1.Role_ROLE_STANDARD_USER
	restricted  = identityv1.Role_ROLE_RESTRICTED_USER
	operatorK   = directoryv1.CompanyKind_COMPANY_KIND_OPERATOR
	supplierK   = directoryv1.CompanyKind_COMPANY_KIND_SUPPLIER
	missing     = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_MISSING
	expired     = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRED
	expiring    = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRING_SOON
	rejectedSt  = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_REJECTED
	wednesday12 = "2025-03-12"
)

func day(s string) time.Time {
	d, err := schedule.ParseDay(s)
	if err != nil {
		panic(err)
	}
	return d
}

func manual(date string) schedule.Run {
	return schedule.Run{Day: day(date), Now: day(date).Add(10 * time.Hour), Manual: true}
}

// TestDigestOneEmailPerActiveMemberPerWeek (R-NOTIF-1): every active member
// of every company gets its company's status, in its language; a second
// run of the same week queues nothing.
func TestDigestOneEmailPerActiveMemberPerWeek(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	op := h.company("op", "Big Buyer", operatorK, "Europe/Paris", "fr")
	sup := h.company("sup", "Acme SAS", supplierK, "America/New_York", "en")
	h.company("empty", "Nobody Yet", supplierK, "", "")
	h.member(op, "olga", admin, active, "")         // the company's language: French
	h.member(op, "oscar", restricted, active, "en") // a restricted user gets it too
	h.member(op, "otto", standard, identityv1.User_STATE_DEACTIVATED, "")
	h.member(op, "oona", standard, identityv1.User_STATE_INVITED, "")
	h.member(sup, "sam", power, active, "")
	h.world.SetDigest(&vaultv1.GetComplianceDigestResponse{Company: op, Operator: &vaultv1.OperatorComplianceDigest{
		SupplierCount: 3, CompliantSupplierCount: 1, Counts: &vaultv1.ComplianceCounts{ExpiringSoon: 2},
		WorstSuppliers: []*vaultv1.ComplianceSummary{{Customer: op, Supplier: sup, OpenEntries: []*vaultv1.ComplianceEntry{
			{DocumentType: "documentTypes/urssaf", DocumentTypeDisplayName: "Attestation URSSAF", Subject: sup, Status: missing},
			{DocumentType: "documentTypes/safety", DocumentTypeDisplayName: "Safety training", Subject: sup + "/employees/e1", Status: expired, ValidUntil: "2025-03-01"},
			{DocumentType: "documentTypes/safety", DocumentTypeDisplayName: "Safety training", Subject: sup + "/employees/e2", Status: expired, ValidUntil: "2025-02-01"},
		}}},
	}})
	h.world.SetDigest(&vaultv1.GetComplianceDigestResponse{Company: sup, Supplier: &vaultv1.SupplierComplianceDigest{
		CustomerCount: 1, CompliantCustomerCount: 0, Customers: []*vaultv1.ComplianceSummary{{Customer: op, Supplier: sup,
			OpenEntries: []*vaultv1.ComplianceEntry{
				{DocumentType: "documentTypes/urssaf", DocumentTypeDisplayName: "URSSAF certificate", Subject: sup, Status: missing},
				{DocumentType: "documentTypes/kbis", DocumentTypeDisplayName: "Kbis", Subject: sup, Status: rejectedSt, RejectionReason: "Unreadable", ValidUntil: "2025-09-01"},
				{DocumentType: "documentTypes/ins", DocumentTypeDisplayName: "Insurance", Subject: sup, Status: expiring, ValidUntil: "2025-03-30"},
			}}},
	}})

	counts, err := h.digest.Run(ctx, manual(wednesday12))
	if err != nil {
		t.Fatal(err)
	}
	if want := (schedule.Counts{Examined: 3, Sent: 3}); counts != want {
		t.Fatalf("counts %+v, want %+v", counts, want)
	}
	olga := h.inbox("olga")
	if len(olga) != 1 {
		t.Fatalf("olga has %d entries", len(olga))
	}
	for _, want := range []string{"État de conformité de la semaine : Big Buyer", "Bonjour Olga Test", "Fournisseurs soumis à des exigences : 3",
		"conformes : 1", "non conformes : 2", "documents qui expirent dans les 30 jours : 2", "Acme SAS",
		"Attestation URSSAF : manquant", "Safety training (2 salariés) : expiré le 1 février 2025",
		"https://vigil.example/companies/op/suppliers/sup", "au 12 mars 2025"} {
		if !strings.Contains(olga[0], want) {
			t.Errorf("olga's digest lacks %q:\n%s", want, olga[0])
		}
	}
	if oscar := h.inbox("oscar"); len(oscar) != 1 || !strings.Contains(oscar[0], "Suppliers with requirements: 3") {
		t.Errorf("oscar's digest (English) = %q", oscar)
	}
	sam := h.inbox("sam")
	if len(sam) != 1 {
		t.Fatalf("sam has %d entries", len(sam))
	}
	for _, want := range []string{"Weekly compliance status: Acme SAS", "Customers who collect your documents: 1", "you are not compliant for: 1",
		"your documents expiring within 30 days: 1", "Big Buyer", "URSSAF certificate: missing", "Kbis: rejected (Unreadable)",
		"Insurance: expires on 30 March 2025"} {
		if !strings.Contains(sam[0], want) {
			t.Errorf("sam's digest lacks %q:\n%s", want, sam[0])
		}
	}
	for _, u := range []string{"otto", "oona"} {
		if got := h.inbox(u); len(got) != 0 {
			t.Errorf("%s (not active) got %v", u, got)
		}
	}

	// Again, by hand or scheduled, the same week: nothing new.
	again, err := h.digest.Run(ctx, manual("2025-03-16"))
	if err != nil || again.Sent != 0 || again.AlreadySent != 3 {
		t.Fatalf("second run of week 11 = %+v, %v; want nothing sent, 3 already sent", again, err)
	}
	// The next week is a new e-mail.
	next, err := h.digest.Run(ctx, manual("2025-03-17"))
	if err != nil || next.Sent != 3 {
		t.Fatalf("week 12 = %+v, %v", next, err)
	}
	if got := h.inbox("sam"); len(got) != 2 {
		t.Fatalf("sam has %d digests after two weeks", len(got))
	}
}

// TestDigestComesInPages: vault is asked for at most 100 companies at a
// time, directory and identity in pages; every company is covered once.
func TestDigestComesInPages(t *testing.T) {
	h := newHarness(t)
	for i := range 250 {
		c := h.company(fmt.Sprintf("c%03d", i), fmt.Sprintf("Company %d", i), supplierK, "", "")
		h.member(c, fmt.Sprintf("u%03d", i), admin, active, "")
	}
	counts, err := h.digest.Run(context.Background(), manual(wednesday12))
	if err != nil || counts.Examined != 250 || counts.Sent != 250 {
		t.Fatalf("counts %+v, %v", counts, err)
	}
	if got := h.world.MaxDigestBatch(); got != 100 {
		t.Errorf("largest vault batch %d, want 100", got)
	}
	if got := h.world.Calls("BatchGetComplianceDigests"); got != 3 {
		t.Errorf("%d vault calls, want 3", got)
	}
}

// TestScheduledDigestWaitsForEachTimeZone: Monday 07:00 in each company's
// own time zone; each company is handled once per week.
func TestScheduledDigestWaitsForEachTimeZone(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, c := range []struct{ id, tz string }{{"akl", "Pacific/Auckland"}, {"par", "Europe/Paris"}, {"lax", "America/Los_Angeles"}, {"utc", ""}} {
		co := h.company(c.id, strings.ToUpper(c.id), supplierK, c.tz, "")
		h.member(co, "u"+c.id, admin, active, "")
	}
	monday := day("2025-03-10")
	cases := []struct {
		utcHour int
		want    []string
	}{
		{-7, nil},              // Sunday 17:00 UTC: Auckland (UTC+13) is at 06:00 Monday
		{-6, []string{"uakl"}}, // 18:00: Auckland's 07:00
		{5, nil},               // Paris is at 06:00
		{6, []string{"upar"}},  // Paris 07:00
		{7, []string{"uutc"}},  // UTC 07:00
		{13, nil},              // Los Angeles (UTC-7 since 9 March) at 06:00
		{14, []string{"ulax"}},
		{20, nil},
	}
	for _, c := range cases {
		before := map[string]int{}
		for _, u := range []string{"uakl", "upar", "ulax", "uutc"} {
			before[u] = len(h.inbox(u))
		}
		counts, err := h.digest.Run(ctx, schedule.Run{Day: monday, Now: monday.Add(time.Duration(c.utcHour) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range []string{"uakl", "upar", "uutc", "ulax"} {
			if len(h.inbox(u)) > before[u] {
				got = append(got, u)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") || counts.Sent != len(c.want) || counts.Examined != len(c.want) {
			t.Errorf("at Monday %+d:00 UTC sent to %v (counts %+v), want %v", c.utcHour, got, counts, c.want)
		}
	}
}

// TestDigestSkipsUndeliverableAddresses (R-NOTIF-1, bounces count).
func TestDigestSkipsUndeliverableAddresses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.company("c", "C", supplierK, "", "")
	marked := h.member(c, "marked", admin, active, "")
	h.member(c, "fine", admin, active, "")
	h.world.SetMemberUndeliverable(marked, "550 no such user")
	counts, err := h.digest.Run(ctx, manual(wednesday12))
	if err != nil || counts.Sent != 1 || counts.Suppressed != 1 {
		t.Fatalf("counts %+v, %v; want 1 sent, 1 suppressed", counts, err)
	}
	if len(h.inbox("marked")) != 0 {
		t.Fatal("an undeliverable member got the digest")
	}
	// The mark cleared by an Administrator: mailed again.
	h.world.SetMemberUndeliverable(marked, "")
	counts, err = h.digest.Run(ctx, manual("2025-03-19"))
	if err != nil || counts.Sent != 2 || counts.Suppressed != 0 {
		t.Fatalf("counts %+v, %v; want 2 sent", counts, err)
	}
}

// TestRemindersReachUploadersAndReferences (R-NOTIF-2): a company document
// goes to the supplier's members who may upload company certificates
// (Power, Administrator), an employee document to those who may upload
// employee certificates (Standard and up), and both to the supplier's
// references for each collecting customer; each once, per version and
// threshold.
func TestRemindersReachUploadersAndReferences(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	sup := h.company("sup", "Acme SAS", supplierK, "", "fr")
	c1 := h.company("c1", "Big Buyer", operatorK, "", "")
	c2 := h.company("c2", "Other Buyer", operatorK, "", "")
	h.member(sup, "ada", admin, active, "")
	h.member(sup, "paul", power, active, "en")
	std := h.member(sup, "stan", standard, active, "")
	ref := h.member(sup, "rita", restricted, active, "")
	h.member(sup, "dora", power, identityv1.User_STATE_DEACTIVATED, "")
	h.world.SetReferences(c1, sup, ref)
	h.world.SetReferences(c2, sup, std)
	h.world.AddEmployee(&directoryv1.Employee{Name: sup + "/employees/e1", GivenName: "Chloé", FamilyName: "Martin"})
	asOf := day(wednesday12)
	kbis := &vaultv1.DocumentType{Name: "documentTypes/kbis", DisplayName: "Extrait Kbis"}
	safety := &vaultv1.DocumentType{Name: "documentTypes/safety", DisplayName: "Formation sécurité"}
	h.world.PutDocument(upstreamtest.Document{Name: sup + "/documents/d1", Type: kbis, Subject: sup,
		ValidUntil: asOf.AddDate(0, 0, 7).Format(time.DateOnly), Customers: []string{c1}})
	h.world.PutDocument(upstreamtest.Document{Name: sup + "/documents/d2", Type: safety, Subject: sup + "/employees/e1",
		ValidUntil: asOf.AddDate(0, 0, 30).Format(time.DateOnly), Customers: []string{c1, c2}})
	h.world.PutDocument(upstreamtest.Document{Name: sup + "/documents/d3", Type: &vaultv1.DocumentType{Name: "documentTypes/ins", DisplayName: "Insurance"},
		Subject: sup, ValidUntil: asOf.AddDate(0, 0, 8).Format(time.DateOnly), Customers: []string{c1}})

	run := schedule.Run{Day: asOf, Now: asOf.Add(6 * time.Hour)}
	counts, err := h.reminders.Run(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	// d1: ada, paul (upload company certificates) and rita (reference for c1).
	// d2: ada, paul, stan (upload employee certificates), rita (c1), stan (c2, once).
	if want := (schedule.Counts{Examined: 2, Sent: 7}); counts != want {
		t.Fatalf("counts %+v, want %+v", counts, want)
	}
	want := map[string][]string{
		"ada":  {"Expire dans 7 jours : Extrait Kbis", "Expire dans 30 jours : Formation sécurité (Chloé Martin)"},
		"paul": {"Expires in 7 days: Extrait Kbis", "Expires in 30 days: Formation sécurité (Chloé Martin)"},
		"rita": {"Expire dans 7 jours : Extrait Kbis", "Expire dans 30 jours : Formation sécurité (Chloé Martin)"},
		"stan": {"Expire dans 30 jours : Formation sécurité (Chloé Martin)"},
		"dora": nil,
	}
	for user, subjects := range want {
		got := h.inbox(user)
		if len(got) != len(subjects) {
			t.Errorf("%s got %d reminders, want %d: %q", user, len(got), len(subjects), got)
			continue
		}
		all := strings.Join(got, "\n")
		for _, s := range subjects {
			if !strings.Contains(all, s) {
				t.Errorf("%s lacks %q in %q", user, s, got)
			}
		}
	}
	if ada := strings.Join(h.inbox("ada"), "\n"); !strings.Contains(ada, "Clients qui le demandent : Big Buyer, Other Buyer.") ||
		!strings.Contains(ada, "https://vigil.example/companies/sup/documents/d1") || !strings.Contains(ada, "valable jusqu'au 19 mars 2025") {
		t.Errorf("ada's reminders:\n%s", ada)
	}

	// The same day again: nothing new.
	again, err := h.reminders.Run(ctx, run)
	if err != nil || again.Sent != 0 || again.AlreadySent != 7 {
		t.Fatalf("second run = %+v, %v", again, err)
	}
	// A newer version of d1 supersedes it: on d1's expiry day nothing is
	// sent for d1, and the new version expires later.
	h.world.PutDocument(upstreamtest.Document{Name: sup + "/documents/d1v2", Type: kbis, Subject: sup,
		ValidUntil: asOf.AddDate(1, 0, 0).Format(time.DateOnly), Customers: []string{c1}})
	expiryDay := asOf.AddDate(0, 0, 7)
	late, err := h.reminders.Run(ctx, schedule.Run{Day: expiryDay, Now: expiryDay.Add(6 * time.Hour)})
	if err != nil || late.Examined != 0 || late.Sent != 0 {
		t.Fatalf("on the superseded version's expiry day: %+v, %v", late, err)
	}
}

// TestLateReminderTellsTheDaysReallyLeft: a reminder caught up after
// downtime counts from the day it is sent.
func TestLateReminderTellsTheDaysReallyLeft(t *testing.T) {
	h := newHarness(t)
	sup := h.company("sup", "Acme SAS", supplierK, "", "en")
	h.member(sup, "ada", admin, active, "")
	asOf := day(wednesday12)
	h.world.PutDocument(upstreamtest.Document{Name: sup + "/documents/d1", Type: &vaultv1.DocumentType{Name: "documentTypes/kbis", DisplayName: "Kbis"},
		Subject: sup, ValidUntil: asOf.AddDate(0, 0, 7).Format(time.DateOnly)})
	counts, err := h.reminders.Run(context.Background(), schedule.Run{Day: asOf, Now: asOf.AddDate(0, 0, 3).Add(6 * time.Hour)})
	if err != nil || counts.Sent != 1 {
		t.Fatalf("counts %+v, %v", counts, err)
	}
	if got := h.inbox("ada"); len(got) != 1 || !strings.HasPrefix(got[0], "Expires in 4 days: Kbis") {
		t.Fatalf("late reminder = %q", got)
	}
}

// TestUpstreamFailureFailsTheRun: a run that cannot read vault fails (the
// scheduler tries again) without queuing anything half-way.
func TestUpstreamFailureFailsTheRun(t *testing.T) {
	h := newHarness(t)
	c := h.company("c", "C", supplierK, "", "")
	h.member(c, "u", admin, active, "")
	h.world.FailVault(fmt.Errorf("vault is down"))
	if _, err := h.digest.Run(context.Background(), manual(wednesday12)); err == nil || !strings.Contains(err.Error(), "BatchGetComplianceDigests") {
		t.Fatalf("Run = %v, want the vault error", err)
	}
	if len(h.inbox("u")) != 0 {
		t.Fatal("something was queued")
	}
	h.world.FailVault(nil)
	if counts, err := h.digest.Run(context.Background(), manual(wednesday12)); err != nil || counts.Sent != 1 {
		t.Fatalf("after recovery: %+v, %v", counts, err)
	}
}
