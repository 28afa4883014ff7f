package app_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

const (
	all       = vaultv1.RequirementScope_REQUIREMENT_SCOPE_ALL_SUPPLIERS
	named     = vaultv1.RequirementScope_REQUIREMENT_SCOPE_NAMED_SUPPLIERS
	onProject = vaultv1.RequirementScope_REQUIREMENT_SCOPE_PROJECT_EMPLOYEES

	missing  = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_MISSING
	valid    = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_VALID
	expiring = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRING_SOON
	expired  = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRED
	rejected = vaultv1.ComplianceStatus_COMPLIANCE_STATUS_REJECTED
)

// must returns v, or fails the test (by panicking: Go passes a call's
// results to a function only alone).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// pair reads the customer's view of one supplier's compliance.
func (e *env) pair(p person, supplier string) (*vaultv1.SupplierCompliance, error) {
	return e.comp.GetSupplierCompliance(p.ctx, &vaultv1.GetSupplierComplianceRequest{Name: cn(p.company) + "/suppliers/" + supplier + "/compliance"})
}

// statuses lists a pair's entries as type:status.
func statuses(sc *vaultv1.SupplierCompliance) []string {
	var out []string
	for _, e := range sc.GetEntries() {
		subj := ""
		if i := strings.Index(e.GetSubject(), "/employees/"); i > 0 {
			subj = "@" + e.GetSubject()[i+len("/employees/"):]
		}
		out = append(out, strings.TrimPrefix(e.GetDocumentType(), "documentTypes/")+subj+":"+strings.TrimPrefix(e.GetStatus().String(), "COMPLIANCE_STATUS_"))
	}
	slices.Sort(out)
	return out
}

func (e *env) wantStatuses(p person, supplier string, want ...string) *vaultv1.SupplierCompliance {
	e.t.Helper()
	sc, err := e.pair(p, supplier)
	if err != nil {
		e.t.Fatalf("compliance of %s for %s: %v", supplier, p.company, err)
	}
	slices.Sort(want)
	if got := statuses(sc); !slices.Equal(got, want) {
		e.t.Fatalf("compliance of %s for %s: %v, want %v", supplier, p.company, got, want)
	}
	return sc
}

// vaultEvents reads the vault's own feed from the start.
func (e *env) vaultEvents(t testing.TB) []*eventsv1.Event {
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	s, err := e.events.WatchEvents(ctx, &eventsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventsv1.Event
	for {
		ev, err := s.Recv()
		if err != nil {
			return out
		}
		out = append(out, ev)
	}
}

func countEvents(evs []*eventsv1.Event, typ, company, attr string) int {
	n := 0
	for _, e := range evs {
		if e.GetType() == typ && e.GetCompany() == company && (attr == "" || e.GetAttributes()["compliant"] == attr) {
			n++
		}
	}
	return n
}

// TestVisibility: issue 9 points 6 and 7 (R-VAULT-3, R-ID-3, R-DIR-10, R-VAULT-8).
func TestVisibility(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	must(e.require(w.c2Admin, "KBIS_EXTRACT", named, []string{cn(w.s1)}, ""))
	urssafBytes := pdf("urssaf", 5000)
	urssaf := must(e.upload(w.s1Admin, upload{docType: "URSSAF_VIGILANCE"}, urssafBytes))
	kbis := must(e.upload(w.s1Admin, upload{docType: "KBIS_EXTRACT"}, pdf("kbis", 5000)))
	tax := must(e.upload(w.s1Admin, upload{docType: "TAX_COMPLIANCE"}, pdf("tax", 5000)))
	list := func(p person, customer, supplier string) ([]string, error) {
		l, err := e.docs.ListSupplierDocuments(p.ctx, &vaultv1.ListSupplierDocumentsRequest{Parent: cn(customer) + "/suppliers/" + supplier})
		var out []string
		for _, d := range l.GetDocuments() {
			out = append(out, d.GetName())
		}
		return out, err
	}
	if got := must(list(w.c1Admin, w.c1, w.s1)); !slices.Equal(got, []string{urssaf.GetName()}) {
		t.Fatalf("c1 sees %v, want only the URSSAF certificate it collects", got)
	}
	if got := must(list(w.c2Admin, w.c2, w.s1)); !slices.Equal(got, []string{kbis.GetName()}) {
		t.Fatalf("c2 sees %v, want only the Kbis it collects", got)
	}
	_, _, err := e.downloadAsCustomer(w.c1Admin, w.s1, tax.GetName())
	wantCode(t, err, codes.NotFound, "a customer downloads a type it does not collect")
	_, _, err = e.downloadAsCustomer(w.c1Admin, w.s1, kbis.GetName())
	wantCode(t, err, codes.NotFound, "a customer downloads a type another customer collects")
	_, err = list(w.c2Admin, w.c1, w.s1)
	wantCode(t, err, codes.PermissionDenied, "a customer lists another customer's supplier documents")
	_, err = list(w.c1Restricted, w.c1, w.s1)
	wantCode(t, err, codes.PermissionDenied, "a Restricted user without the suppliers-area grant")
	_, err = list(w.s2Admin, w.s2, w.s1)
	wantCode(t, err, codes.PermissionDenied, "a supplier reads another supplier's documents")
	stranger := e.company(authz.KindOperator, "Stranger", "")
	strangerAdmin := e.member(stranger, authz.KindOperator, authz.RoleAdministrator, "en")
	_, err = list(strangerAdmin, stranger, w.s1)
	wantCode(t, err, codes.NotFound, "an unrelated customer (reveals nothing)")
	_, err = e.docs.ListDocuments(w.s1Restricted.ctx, &vaultv1.ListDocumentsRequest{Parent: cn(w.s1)})
	wantCode(t, err, codes.PermissionDenied, "a supplier's Restricted user lists certificates")
	e.id.setGrant("users/"+w.c1Restricted.user, cn(w.c1), authz.LevelView)
	time.Sleep(50 * time.Millisecond)
	if got := must(list(w.c1Restricted, w.c1, w.s1)); len(got) != 1 {
		t.Fatalf("with the view grant: %v", got)
	}

	t.Run("downloads by customers are logged (R-VAULT-8)", func(t *testing.T) {
		_, got, err := e.downloadAsCustomer(w.c1Restricted, w.s1, urssaf.GetName())
		if err != nil || string(got) != string(urssafBytes) {
			t.Fatalf("download: %d %v", len(got), err)
		}
		_, _, _ = e.downloadOwn(w.s1Admin, urssaf.GetName(), 0, 0) // the supplier's own: not logged
		log, err := e.docs.ListDocumentAccessLog(w.s1Admin.ctx, &vaultv1.ListDocumentAccessLogRequest{Parent: urssaf.GetName()})
		if err != nil || len(log.GetEntries()) != 1 {
			t.Fatalf("access log: %v %v", log, err)
		}
		en := log.GetEntries()[0]
		if en.GetCompany() != cn(w.c1) || en.GetUser() != cn(w.c1)+"/users/"+w.c1Restricted.user || en.GetVersion() != 1 ||
			en.GetDocument() != urssaf.GetName() || en.GetUserDisplayName() == "" || en.GetAccessTime() == nil {
			t.Fatalf("entry: %v", en)
		}
		for _, p := range []person{w.s1Power, w.c1Admin} {
			_, err := e.docs.ListDocumentAccessLog(p.ctx, &vaultv1.ListDocumentAccessLogRequest{Parent: urssaf.GetName()})
			wantCode(t, err, codes.PermissionDenied, "access log read by a non-Administrator or a customer")
		}
	})

	t.Run("employee documents: only of employees assigned to the customer's projects", func(t *testing.T) {
		prj := e.project(w.c1)
		e1, e2 := e.employee(w.s1, "Ann", "Lee"), e.employee(w.s1, "Bob", "Ray")
		must(e.require(w.c1Admin, "SAFETY_TRAINING", onProject, nil, cn(w.c1)+"/projects/"+prj))
		d1 := must(e.upload(w.s1Standard, upload{docType: "SAFETY_TRAINING", subject: cn(w.s1) + "/employees/" + e1}, pdf("t1", 900)))
		d2 := must(e.upload(w.s1Standard, upload{docType: "SAFETY_TRAINING", subject: cn(w.s1) + "/employees/" + e2}, pdf("t2", 900)))
		e.assign(w.s1, e1, w.c1, prj, true)
		got := must(list(w.c1Admin, w.c1, w.s1))
		if !slices.Contains(got, d1.GetName()) || slices.Contains(got, d2.GetName()) {
			t.Fatalf("assigned e1 only: %v", got)
		}
		_, _, err := e.downloadAsCustomer(w.c1Admin, w.s1, d2.GetName())
		wantCode(t, err, codes.NotFound, "an unassigned employee's certificate")
		e.assign(w.s1, e1, w.c1, prj, false)
		if got := must(list(w.c1Admin, w.c1, w.s1)); slices.Contains(got, d1.GetName()) {
			t.Fatalf("after unassigning: %v", got)
		}
	})

	t.Run("the relationship ends: visibility ends at once (R-VAULT-3)", func(t *testing.T) {
		e.unlink(w.c1, w.s1) // returns once the vault applied the event
		_, err := list(w.c1Admin, w.c1, w.s1)
		wantCode(t, err, codes.NotFound, "listing after unlinking")
		_, _, err = e.downloadAsCustomer(w.c1Admin, w.s1, urssaf.GetName())
		wantCode(t, err, codes.NotFound, "downloading after unlinking")
		_, err = e.pair(w.c1Admin, w.s1)
		wantCode(t, err, codes.NotFound, "compliance after unlinking")
		if got := must(list(w.c2Admin, w.c2, w.s1)); len(got) != 1 {
			t.Fatalf("the other customer still sees its document: %v", got)
		}
	})
}

// TestComplianceLifecycle: issue 10's done-when, in process: MISSING →
// VALID → EXPIRING_SOON → EXPIRED by the date (no write) and with a document
// already expired → REJECTED for one customer while the other still sees it
// valid; compliance.changed told once per crossing (R-VAULT-6, R-VAULT-7,
// R-NOTIF-6).
func TestComplianceLifecycle(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	must(e.require(w.c2Admin, "URSSAF_VIGILANCE", all, nil, ""))
	e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:MISSING")

	v1 := must(e.upload(w.s1Power, upload{docType: "URSSAF_VIGILANCE", from: "2026-03-01", until: "2026-08-31"}, pdf("v1", 800)))
	sc := e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:VALID")
	if !sc.GetCompliant() || sc.GetEntries()[0].GetDocument() != v1.GetName() || sc.GetAsOfDate() != "2026-03-10" {
		t.Fatalf("valid: %v", sc)
	}
	e.wantStatuses(w.c2Admin, w.s1, "URSSAF_VIGILANCE:VALID")

	must(e.upload(w.s1Power, upload{docType: "URSSAF_VIGILANCE", from: "2026-03-01", until: "2026-03-31"}, pdf("v2", 800)))
	sc = e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:EXPIRING_SOON")
	if !sc.GetCompliant() {
		t.Fatal("EXPIRING_SOON is compliant (R-VAULT-6)")
	}

	before := e.vaultEvents(t)
	// 2026-04-01 at 01:00 in Paris (2026-03-31 23:00 UTC): expired there,
	// still valid all of the 31st in New York (R-VAULT-6's "today").
	e.clock.Add(time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC).Sub(e.clock.Now()))
	e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:EXPIRED")
	e.wantStatuses(w.c2Admin, w.s1, "URSSAF_VIGILANCE:EXPIRING_SOON")
	if after := e.vaultEvents(t); len(after) != len(before) {
		t.Fatalf("the passing of days wrote %d events before any sweep", len(after)-len(before))
	}
	if err := e.svc.Sweep(bg); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Sweep(bg); err != nil {
		t.Fatal(err)
	}
	evs := e.vaultEvents(t)
	if n := countEvents(evs[len(before):], "compliance.changed", cn(w.c1), "false"); n != 1 {
		t.Fatalf("the expiry was told %d times to c1, want once", n)
	}
	if n := countEvents(evs[len(before):], "compliance.changed", cn(w.c2), ""); n != 0 {
		t.Fatalf("c2's supplier did not cross yet in New York, told %d times", n)
	}
	e.clock.Add(6 * time.Hour) // 2026-04-01 in New York too
	if err := e.svc.Sweep(bg); err != nil {
		t.Fatal(err)
	}
	if n := countEvents(e.vaultEvents(t)[len(evs):], "compliance.changed", cn(w.c2), "false"); n != 1 {
		t.Fatalf("c2 told %d times after the crossing in New York", n)
	}

	// A document already expired when uploaded.
	must(e.upload(w.s1Power, upload{docType: "URSSAF_VIGILANCE", from: "2025-01-01", until: "2025-12-31"}, pdf("old", 800)))
	e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:EXPIRED")

	good := must(e.upload(w.s1Power, upload{docType: "URSSAF_VIGILANCE", from: "2026-04-01", until: "2026-12-31"}, pdf("good", 800)))
	e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:VALID")
	e.wantStatuses(w.c2Admin, w.s1, "URSSAF_VIGILANCE:VALID")
	id := docID(good.GetName())
	rejectName := cn(w.c1) + "/suppliers/" + w.s1 + "/documents/" + id

	t.Run("rejection: refused calls change nothing", func(t *testing.T) {
		_, err := e.docs.RejectDocument(w.c1Restricted.ctx, &vaultv1.RejectDocumentRequest{Name: rejectName, Reason: "blurred"})
		wantCode(t, err, codes.PermissionDenied, "a Restricted user rejects")
		viewer := e.member(w.c1, authz.KindOperator, authz.RoleStandard, "en")
		e.id.setGrant("users/"+viewer.user, cn(w.c1), authz.LevelView)
		_, err = e.docs.RejectDocument(viewer.ctx, &vaultv1.RejectDocumentRequest{Name: rejectName, Reason: "blurred"})
		wantCode(t, err, codes.PermissionDenied, "a user with the view grant rejects")
		_, err = e.docs.RejectDocument(w.c2Admin.ctx, &vaultv1.RejectDocumentRequest{Name: rejectName, Reason: "blurred"})
		wantCode(t, err, codes.PermissionDenied, "another customer rejects in c1's name")
		_, err = e.docs.RejectDocument(w.s1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: rejectName, Reason: "blurred"})
		wantCode(t, err, codes.PermissionDenied, "the supplier rejects")
		_, err = e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: rejectName, Reason: "   "})
		wantCode(t, err, codes.InvalidArgument, "a blank reason")
		_, err = e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: rejectName})
		wantCode(t, err, codes.InvalidArgument, "no reason")
		tax := must(e.upload(w.s1Admin, upload{docType: "TAX_COMPLIANCE"}, pdf("tax", 800)))
		_, err = e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: cn(w.c1) + "/suppliers/" + w.s1 + "/documents/" + docID(tax.GetName()), Reason: "x"})
		wantCode(t, err, codes.NotFound, "rejecting a document the customer does not collect")
		_, err = e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: cn(w.c1) + "/suppliers/" + w.s1 + "/documents/" + docID(v1.GetName()), Reason: "x"})
		wantCode(t, err, codes.FailedPrecondition, "rejecting a superseded version")
		e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:VALID")
		d := must(e.docs.GetDocument(w.s1Admin.ctx, &vaultv1.GetDocumentRequest{Name: good.GetName()}))
		if len(d.GetRejections()) != 0 {
			t.Fatalf("refused rejections were recorded: %v", d.GetRejections())
		}
	})

	d, err := e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: rejectName, Reason: "The certificate is not signed"})
	if err != nil || len(d.GetRejections()) != 1 || d.GetRejections()[0].GetCustomer() != cn(w.c1) {
		t.Fatalf("reject: %v %v", d, err)
	}
	_, err = e.docs.RejectDocument(w.c1Admin.ctx, &vaultv1.RejectDocumentRequest{Name: rejectName, Reason: "again"})
	wantCode(t, err, codes.AlreadyExists, "rejecting twice")
	sc = e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:REJECTED")
	if sc.GetEntries()[0].GetRejectionReason() != "The certificate is not signed" || sc.GetCompliant() {
		t.Fatalf("rejected entry: %v", sc)
	}
	e.wantStatuses(w.c2Admin, w.s1, "URSSAF_VIGILANCE:VALID")
	if _, err := e.docs.RejectDocument(w.c2Admin.ctx, &vaultv1.RejectDocumentRequest{Name: cn(w.c2) + "/suppliers/" + w.s1 + "/documents/" + id, Reason: "c2's own"}); err != nil {
		t.Fatal(err)
	}
	c1view := must(e.docs.ListSupplierDocuments(w.c1Admin.ctx, &vaultv1.ListSupplierDocumentsRequest{Parent: cn(w.c1) + "/suppliers/" + w.s1}))
	if rs := c1view.GetDocuments()[0].GetRejections(); len(rs) != 1 || rs[0].GetReason() != "The certificate is not signed" {
		t.Fatalf("a customer sees its own rejection only: %v", rs)
	}
	own := must(e.docs.GetDocument(w.s1Standard.ctx, &vaultv1.GetDocumentRequest{Name: good.GetName()}))
	if len(own.GetRejections()) != 2 {
		t.Fatalf("the supplier sees every rejection: %v", own.GetRejections())
	}

	t.Run("the supplier is e-mailed (R-VAULT-7)", func(t *testing.T) {
		for {
			more, err := e.svc.RelayOnce(bg)
			if err != nil {
				t.Fatal(err)
			}
			if !more {
				break
			}
		}
		sent := e.notify.byTemplate(notifyv1.Template_TEMPLATE_DOCUMENT_REJECTED)
		var to []string
		langs := map[string]string{}
		for _, n := range sent {
			for _, r := range n.GetRecipients() {
				to = append(to, r.GetEmail())
				langs[r.GetEmail()] = n.GetData().GetFields()["document_type"].GetStringValue()
			}
			if n.GetData().GetFields()["reason"].GetStringValue() == "" || n.GetData().GetFields()["customer_name"].GetStringValue() == "" {
				t.Fatalf("data: %v", n.GetData())
			}
		}
		// Uploaders of company certificates: Power users and Administrators.
		slices.Sort(to)
		want := []string{w.s1Admin.user + "@example.test", w.s1Admin.user + "@example.test", w.s1Power.user + "@example.test", w.s1Power.user + "@example.test"}
		slices.Sort(want)
		if !slices.Equal(to, want) {
			t.Fatalf("rejection e-mails to %v, want each uploader once per rejection (%v)", to, want)
		}
		if langs[w.s1Admin.user+"@example.test"] != "Attestation de vigilance URSSAF" || langs[w.s1Power.user+"@example.test"] != "URSSAF vigilance certificate" {
			t.Fatalf("type names by language: %v", langs)
		}
		before := len(sent)
		if more, _ := e.svc.RelayOnce(bg); more || len(e.notify.byTemplate(notifyv1.Template_TEMPLATE_DOCUMENT_REJECTED)) != before {
			t.Fatal("a relayed e-mail is relayed again")
		}
	})

	must(e.upload(w.s1Power, upload{docType: "URSSAF_VIGILANCE", from: "2026-04-01", until: "2026-12-31"}, pdf("fixed", 800)))
	e.wantStatuses(w.c1Admin, w.s1, "URSSAF_VIGILANCE:VALID")

	t.Run("the supplier's view: per customer (issue 10 point 4)", func(t *testing.T) {
		l := must(e.comp.ListComplianceSummaries(w.s1Standard.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(w.s1)}))
		if len(l.GetSummaries()) != 2 || l.GetTotals() != nil {
			t.Fatalf("supplier's list: %v", l)
		}
		for _, s := range l.GetSummaries() {
			if s.GetSupplier() != cn(w.s1) || s.GetCustomerDisplayName() == "" || !s.GetCompliant() {
				t.Fatalf("summary: %v", s)
			}
		}
		sc := must(e.comp.GetSupplierCompliance(w.s1Standard.ctx, &vaultv1.GetSupplierComplianceRequest{Name: cn(w.s1) + "/customers/" + w.c2 + "/compliance"}))
		if len(sc.GetEntries()) != 1 || sc.GetCustomer() != cn(w.c2) || sc.GetEntries()[0].GetDocument() == "" {
			t.Fatalf("supplier's pair: %v", sc)
		}
		_, err := e.comp.ListComplianceSummaries(w.s1Restricted.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(w.s1)})
		wantCode(t, err, codes.PermissionDenied, "a supplier's Restricted user")
		_, err = e.comp.GetSupplierCompliance(w.s2Admin.ctx, &vaultv1.GetSupplierComplianceRequest{Name: cn(w.s1) + "/customers/" + w.c2 + "/compliance"})
		wantCode(t, err, codes.PermissionDenied, "another supplier")
		_, err = e.comp.ListComplianceSummaries(w.s1Admin.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(w.s1), StatusFilter: "expiring"})
		wantCode(t, err, codes.InvalidArgument, "a customer's filter on a supplier's list")
	})
}

// TestComplianceList: issue 10 point 3 — filters, orders, totals, paging,
// and bad parameters.
func TestComplianceList(t *testing.T) {
	e := newEnv(t)
	c := e.company(authz.KindOperator, "Customer", "")
	admin := e.member(c, authz.KindOperator, authz.RoleAdministrator, "en")
	names := []string{"Delta", "alpha", "Charlie", "bravo", "Echo"}
	var sups []string
	var people []person
	for _, n := range names {
		s := e.company(authz.KindSupplier, n+" SARL", "")
		e.link(c, s)
		sups = append(sups, s)
		people = append(people, e.member(s, authz.KindSupplier, authz.RoleAdministrator, "en"))
	}
	must(e.require(admin, "URSSAF_VIGILANCE", all, nil, ""))
	must(e.require(admin, "KBIS_EXTRACT", all, nil, ""))
	// Delta: both valid; alpha: missing both; Charlie: URSSAF expiring;
	// bravo: URSSAF expired; Echo: both valid but KBIS expires first.
	up := func(i int, typ, until string) {
		must(e.upload(people[i], upload{docType: typ, from: "2025-01-01", until: until}, pdf(typ, 600)))
	}
	up(0, "URSSAF_VIGILANCE", "2026-12-31")
	up(0, "KBIS_EXTRACT", "2026-12-31")
	up(2, "URSSAF_VIGILANCE", "2026-03-20")
	up(2, "KBIS_EXTRACT", "2026-12-31")
	up(3, "URSSAF_VIGILANCE", "2026-02-01")
	up(3, "KBIS_EXTRACT", "2026-12-31")
	up(4, "URSSAF_VIGILANCE", "2026-12-31")
	up(4, "KBIS_EXTRACT", "2026-11-30")
	ls := func(req *vaultv1.ListComplianceSummariesRequest) ([]string, *vaultv1.ListComplianceSummariesResponse) {
		req.Parent = cn(c)
		req.PageSize = 2
		var out []string
		var first *vaultv1.ListComplianceSummariesResponse
		for {
			l := must(e.comp.ListComplianceSummaries(admin.ctx, req))
			if first == nil {
				first = l
			}
			for _, s := range l.GetSummaries() {
				out = append(out, strings.TrimSuffix(s.GetSupplierDisplayName(), " SARL"))
			}
			if l.GetNextPageToken() == "" {
				return out, first
			}
			req.PageToken = l.GetNextPageToken()
		}
	}
	got, first := ls(&vaultv1.ListComplianceSummariesRequest{})
	if want := []string{"alpha", "bravo", "Charlie", "Echo", "Delta"}; !slices.Equal(got, want) {
		t.Fatalf("worst first: %v, want %v", got, want)
	}
	if tot := first.GetTotals(); tot.GetSupplierCount() != 5 || tot.GetNonCompliantCount() != 2 || tot.GetExpiringCount() != 1 || tot.GetCompliantCount() != 2 {
		t.Fatalf("totals: %v", tot)
	}
	a := first.GetSummaries()[0]
	if a.GetCompliant() || a.GetCounts().GetMissing() != 2 || len(a.GetOpenEntries()) != 2 || a.GetOpenEntries()[0].GetStatus() != missing {
		t.Fatalf("alpha's summary: %v", a)
	}
	for filter, want := range map[string][]string{
		"non_compliant": {"alpha", "bravo"}, "expiring": {"Charlie"}, "compliant": {"Echo", "Delta"},
	} {
		if got, _ := ls(&vaultv1.ListComplianceSummariesRequest{StatusFilter: filter}); !slices.Equal(got, want) {
			t.Fatalf("%s: %v, want %v", filter, got, want)
		}
	}
	if got, _ := ls(&vaultv1.ListComplianceSummariesRequest{OrderBy: "name"}); !slices.Equal(got, []string{"alpha", "bravo", "Charlie", "Delta", "Echo"}) {
		t.Fatalf("by name: %v", got)
	}
	if got, _ := ls(&vaultv1.ListComplianceSummariesRequest{OrderBy: "name", StatusFilter: "compliant"}); !slices.Equal(got, []string{"Delta", "Echo"}) {
		t.Fatalf("by name, compliant: %v", got)
	}
	if got, _ := ls(&vaultv1.ListComplianceSummariesRequest{SupplierName: "HA"}); !slices.Equal(got, []string{"alpha", "Charlie"}) {
		t.Fatalf("name contains 'ha': %v", got)
	}
	if got, _ := ls(&vaultv1.ListComplianceSummariesRequest{NonCompliantOnly: true}); !slices.Equal(got, []string{"alpha", "bravo"}) {
		t.Fatalf("non_compliant_only: %v", got)
	}
	// Days pass: Echo's KBIS expires on 2026-11-30, without a write.
	e.clock.Add(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).Sub(e.clock.Now()))
	if got, _ := ls(&vaultv1.ListComplianceSummariesRequest{StatusFilter: "non_compliant"}); !slices.Equal(got, []string{"alpha", "bravo", "Charlie", "Echo"}) {
		t.Fatalf("non-compliant in December: %v", got)
	}
	if got, _ := ls(&vaultv1.ListComplianceSummariesRequest{StatusFilter: "expiring"}); !slices.Equal(got, []string{"Delta"}) {
		t.Fatalf("expiring in December: %v", got)
	}

	for _, bad := range []struct {
		req   *vaultv1.ListComplianceSummariesRequest
		field string
	}{
		{&vaultv1.ListComplianceSummariesRequest{Parent: cn(c), StatusFilter: "bogus"}, "status_filter"},
		{&vaultv1.ListComplianceSummariesRequest{Parent: cn(c), OrderBy: "random"}, "order_by"},
		{&vaultv1.ListComplianceSummariesRequest{Parent: cn(c), PageToken: "garbage"}, "page_token"},
		{&vaultv1.ListComplianceSummariesRequest{Parent: cn(c), NonCompliantOnly: true, StatusFilter: "compliant"}, "non_compliant_only"},
	} {
		_, err := e.comp.ListComplianceSummaries(admin.ctx, bad.req)
		if code(err) != codes.InvalidArgument || !namesField(err, bad.field) {
			t.Fatalf("%v: %v, want INVALID_ARGUMENT naming %s", bad.req, err, bad.field)
		}
	}
	l := must(e.comp.ListComplianceSummaries(admin.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(c), PageSize: 1}))
	_, err := e.comp.ListComplianceSummaries(admin.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(c), PageSize: 1, PageToken: l.GetNextPageToken(), OrderBy: "name"})
	wantCode(t, err, codes.InvalidArgument, "a page token with other filters")
	_, err = e.comp.ListComplianceSummaries(people[0].ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(c)})
	wantCode(t, err, codes.PermissionDenied, "a supplier reads its customer's list")

	t.Run("CSV export rows (issue 10 point 7)", func(t *testing.T) {
		s, err := e.comp.ExportCompliance(admin.ctx, &vaultv1.ExportComplianceRequest{Parent: cn(c)})
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for {
			m, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			rows += len(m.GetRows())
		}
		if rows != 10 {
			t.Fatalf("%d rows, want one per supplier and requirement (10)", rows)
		}
		s, _ = e.comp.ExportCompliance(people[0].ctx, &vaultv1.ExportComplianceRequest{Parent: cn(c)})
		_, err = s.Recv()
		wantCode(t, err, codes.PermissionDenied, "a supplier exports its customer's compliance")
	})
}

// TestCompliancePageFollowsEveryChange: the operator's page is kept as
// built while the store shows the same revision on the same day (issue 10
// point 2: a change is visible at once); each kind of change below must
// show in the very next read of the same page.
func TestCompliancePageFollowsEveryChange(t *testing.T) {
	e := newEnv(t)
	c := e.company(authz.KindOperator, "Customer", "")
	admin := e.member(c, authz.KindOperator, authz.RoleAdministrator, "en")
	s := e.company(authz.KindSupplier, "Old Name", "")
	e.link(c, s)
	supAdmin := e.member(s, authz.KindSupplier, authz.RoleAdministrator, "en")
	page := func() *vaultv1.ComplianceSummary {
		t.Helper()
		l := must(e.comp.ListComplianceSummaries(admin.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(c)}))
		if len(l.GetSummaries()) != 1 {
			t.Fatalf("page: %v", l)
		}
		return l.GetSummaries()[0]
	}
	changed := func(company string, attrs map[string]string) {
		e.applied(e.dirSvc.emit(feed.Event{Type: feed.TypeCompanyChanged, Company: cn(company), Attributes: attrs}))
	}
	if p := page(); !p.GetCompliant() || len(p.GetOpenEntries()) != 0 {
		t.Fatalf("no requirement yet: %v", p)
	}
	must(e.require(admin, "URSSAF_VIGILANCE", all, nil, ""))
	if p := page(); p.GetCompliant() || p.GetCounts().GetMissing() != 1 {
		t.Fatalf("after a requirement: %v", p)
	}
	// Valid until today (2026-03-10) where the customer is: expiring, so compliant.
	must(e.upload(supAdmin, upload{docType: "URSSAF_VIGILANCE", from: "2026-01-01", until: "2026-03-10"}, pdf("u", 600)))
	if p := page(); !p.GetCompliant() || p.GetCounts().GetExpiringSoon() != 1 {
		t.Fatalf("after the upload: %v", p)
	}
	changed(s, map[string]string{"legal_name": "New Name"})
	if p := page(); p.GetSupplierDisplayName() != "New Name" {
		t.Fatalf("after the supplier's rename: %v", p.GetSupplierDisplayName())
	}
	// 11:00 UTC: still the 10th in Paris, already the 11th in Kiritimati.
	e.clock.Add(3 * time.Hour)
	if p := page(); !p.GetCompliant() {
		t.Fatalf("same day in Paris: %v", p)
	}
	changed(c, map[string]string{"time_zone": "Pacific/Kiritimati"})
	if p := page(); p.GetCompliant() || p.GetCounts().GetExpired() != 1 {
		t.Fatalf("the customer moved to where the document has expired: %v", p)
	}
	changed(c, map[string]string{"time_zone": "Europe/Paris"})
	if p := page(); !p.GetCompliant() {
		t.Fatalf("back in Paris: %v", p)
	}
	// The day passes in Paris too, without a write.
	e.clock.Add(14 * time.Hour)
	if p := page(); p.GetCompliant() {
		t.Fatalf("the next day: %v", p)
	}
	// The customer's own name is in the domain's page (not in this proto):
	// a company's record changing moves the page too.
	caller := auth.Principal{User: "users/" + admin.user, Company: cn(c), CompanyKind: authz.KindOperator, Role: authz.RoleAdministrator}
	customerName := func() string {
		t.Helper()
		l, err := e.svc.ListCompliance(bg, caller, c, vault.ComplianceFilter{}, vault.Page{Limit: 10})
		if err != nil || len(l.Summaries) != 1 {
			t.Fatalf("domain page: %v, %v", l, err)
		}
		return l.Summaries[0].CustomerName
	}
	if got := customerName(); got != "Customer" {
		t.Fatalf("customer name: %q", got)
	}
	changed(c, map[string]string{"legal_name": "Renamed Customer"})
	if got := customerName(); got != "Renamed Customer" {
		t.Fatalf("after the customer's rename: %q", got)
	}
}

// TestDocumentRequests: issue 10 point 6 (R-NOTIF-3).
func TestDocumentRequests(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	must(e.require(w.c1Admin, "URSSAF_VIGILANCE", all, nil, ""))
	must(e.require(w.c1Admin, "KBIS_EXTRACT", all, nil, ""))
	must(e.upload(w.s1Admin, upload{docType: "KBIS_EXTRACT", until: "2026-12-31"}, pdf("kbis", 600)))
	ref := e.member(w.s1, authz.KindSupplier, authz.RoleRestricted, "fr")
	e.dirSvc.mu.Lock()
	e.dirSvc.refs[cn(w.c1)+"/"+cn(w.s1)] = []string{cn(w.s1) + "/users/" + ref.user}
	e.dirSvc.mu.Unlock()
	req := &vaultv1.RequestDocumentsRequest{Name: cn(w.c1) + "/suppliers/" + w.s1, Message: "Before Monday, please"}

	_, err := e.docs.RequestDocuments(w.c1Restricted.ctx, req)
	wantCode(t, err, codes.PermissionDenied, "a Restricted user requests")
	_, err = e.docs.RequestDocuments(w.c2Admin.ctx, req)
	wantCode(t, err, codes.PermissionDenied, "another customer requests in c1's name")
	stranger := e.company(authz.KindSupplier, "Stranger", "")
	_, err = e.docs.RequestDocuments(w.c1Admin.ctx, &vaultv1.RequestDocumentsRequest{Name: cn(w.c1) + "/suppliers/" + stranger})
	wantCode(t, err, codes.NotFound, "a company that is not a supplier")
	_, err = e.docs.RequestDocuments(w.c1Admin.ctx, &vaultv1.RequestDocumentsRequest{Name: req.Name, DocumentTypes: []string{"documentTypes/NOPE"}})
	wantCode(t, err, codes.InvalidArgument, "an unknown type")

	resp, err := e.docs.RequestDocuments(w.c1Admin.ctx, req)
	if err != nil || resp.GetNotifiedCount() != 1 {
		t.Fatalf("request: %v %v", resp, err)
	}
	_, err = e.docs.RequestDocuments(w.c1Admin.ctx, req)
	wantCode(t, err, codes.ResourceExhausted, "a second request within the hour")
	st, _ := status.FromError(err)
	var retry time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri.GetRetryDelay().AsDuration()
		}
	}
	if retry <= 59*time.Minute || retry > time.Hour+time.Second {
		t.Fatalf("RetryInfo %v, want about an hour", retry)
	}
	for {
		more, err := e.svc.RelayOnce(bg)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	sent := e.notify.byTemplate(notifyv1.Template_TEMPLATE_DOCUMENT_UPDATE_REQUEST)
	if len(sent) != 1 || len(sent[0].GetRecipients()) != 1 || sent[0].GetRecipients()[0].GetEmail() != ref.user+"@example.test" {
		t.Fatalf("request e-mails: %v", sent)
	}
	data := sent[0].GetData().GetFields()
	types := data["document_types"].GetListValue().GetValues()
	if len(types) != 1 || types[0].GetStringValue() != "Attestation de vigilance URSSAF" || data["message"].GetStringValue() != "Before Monday, please" {
		t.Fatalf("the e-mail lists what is missing, in the reference's language: %v", data)
	}

	e.clock.Add(time.Hour + time.Second)
	e.dirSvc.mu.Lock()
	delete(e.dirSvc.refs, cn(w.c1)+"/"+cn(w.s1))
	e.dirSvc.mu.Unlock()
	resp, err = e.docs.RequestDocuments(w.c1Admin.ctx, req)
	if err != nil || resp.GetNotifiedCount() != 1 {
		t.Fatalf("without a reference, the Administrators: %v %v", resp, err)
	}
}

// TestEmployeeRequirements: per employee entries follow assignments and
// projects (issue 10 point 1).
func TestEmployeeRequirements(t *testing.T) {
	e := newEnv(t)
	w := e.world()
	p1, p2 := e.project(w.c1), e.project(w.c1)
	e1, e2 := e.employee(w.s1, "Ann", "Lee"), e.employee(w.s1, "Bob", "Ray")
	e.assign(w.s1, e1, w.c1, p1, true)
	e.assign(w.s1, e2, w.c1, p2, true)
	must(e.require(w.c1Admin, "SAFETY_TRAINING", onProject, nil, cn(w.c1)+"/projects/"+p1))
	must(e.require(w.c1Admin, "MEDICAL_FITNESS", all, nil, ""))
	e.wantStatuses(w.c1Admin, w.s1, "SAFETY_TRAINING@"+e1+":MISSING", "MEDICAL_FITNESS@"+e1+":MISSING", "MEDICAL_FITNESS@"+e2+":MISSING")
	must(e.upload(w.s1Standard, upload{docType: "MEDICAL_FITNESS", subject: cn(w.s1) + "/employees/" + e2, until: "2027-01-01"}, pdf("med", 600)))
	e.wantStatuses(w.c1Admin, w.s1, "SAFETY_TRAINING@"+e1+":MISSING", "MEDICAL_FITNESS@"+e1+":MISSING", "MEDICAL_FITNESS@"+e2+":VALID")
	e.assign(w.s1, e1, w.c1, p1, false)
	e.wantStatuses(w.c1Admin, w.s1, "MEDICAL_FITNESS@"+e2+":VALID")
	e.assign(w.s1, e1, w.c1, p1, true)
	e.applied(e.dirSvc.emit(feedEvent("project.changed", cn(w.c1), map[string]string{"project": cn(w.c1) + "/projects/" + p1}, map[string]string{"state": "STATE_CLOSED"})))
	e.wantStatuses(w.c1Admin, w.s1, "MEDICAL_FITNESS@"+e2+":VALID")
	e.applied(e.dirSvc.emit(feedEvent("employee.deleted", cn(w.s1), map[string]string{"employee": cn(w.s1) + "/employees/" + e2}, nil)))
	e.wantStatuses(w.c1Admin, w.s1)
}

// TestRequirementFanOut: adding a requirement sets every supplier's status
// in the same transaction; deleting removes them (issue 10 point 2).
func TestRequirementFanOut(t *testing.T) {
	e := newEnv(t)
	c := e.company(authz.KindOperator, "Big", "")
	admin := e.member(c, authz.KindOperator, authz.RoleAdministrator, "en")
	for range 300 {
		e.link(c, e.company(authz.KindSupplier, "S", ""))
	}
	r := must(e.require(admin, "ISO_9001", all, nil, ""))
	l := must(e.comp.ListComplianceSummaries(admin.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(c), PageSize: 1}))
	if l.GetTotals().GetNonCompliantCount() != 300 {
		t.Fatalf("after the requirement: %v", l.GetTotals())
	}
	must(e.reqs.DeleteRequirement(admin.ctx, &vaultv1.DeleteRequirementRequest{Name: r.GetName()}))
	l = must(e.comp.ListComplianceSummaries(admin.ctx, &vaultv1.ListComplianceSummariesRequest{Parent: cn(c), PageSize: 1}))
	if l.GetTotals().GetCompliantCount() != 300 {
		t.Fatalf("after deleting it: %v", l.GetTotals())
	}
}
