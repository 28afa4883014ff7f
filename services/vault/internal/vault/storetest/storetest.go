// Package storetest is the conformance suite every vault.Store
// implementation runs (bbolt today, PostgreSQL next): the same tests, the
// same answers.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// Run runs every test against stores made by open (a fresh, empty store per call).
func Run(t *testing.T, open func(t *testing.T) vault.Store) {
	t.Run("catalog by owner", func(t *testing.T) { testCatalog(t, open(t)) })
	t.Run("documents, versions and validity indexes", func(t *testing.T) { testDocuments(t, open(t)) })
	t.Run("relationships and assignments", func(t *testing.T) { testDirectoryCopy(t, open(t)) })
	t.Run("entries and their counters", func(t *testing.T) { testEntries(t, open(t)) })
	t.Run("summaries in order, paged, with counters", func(t *testing.T) { testSummaries(t, open(t)) })
	t.Run("rollback writes nothing", func(t *testing.T) { testRollback(t, open(t)) })
	t.Run("outbox, access log, events, meta", func(t *testing.T) { testMisc(t, open(t)) })
	t.Run("forged page tokens", func(t *testing.T) { testForgedCursor(t, open(t)) })
	t.Run("blob intents by sha", func(t *testing.T) { testBlobIntents(t, open(t)) })
	t.Run("compliance revisions", func(t *testing.T) { testRevisions(t, open(t)) })
}

// testRevisions: every change to a customer's entries or summaries moves
// its Revision.Customer and no other customer's; every company record
// moves Revision.Companies; nothing else moves either (a page built at
// one revision is served while the revision holds).
func testRevisions(t *testing.T, s vault.Store) {
	rev := func(customer string) vault.Revision {
		t.Helper()
		var r vault.Revision
		view(t, s, func(tx vault.Tx) error {
			var err error
			r, err = tx.ComplianceRevision(customer)
			return err
		})
		return r
	}
	entry := vault.Entry{Customer: "c", Supplier: "s", Requirement: "r", DocumentType: "T"}
	sum := &vault.Summary{Customer: "c", Supplier: "s", SupplierName: "S", Entries: 1, Missing: 1}
	steps := []struct {
		name                string
		change              func(tx vault.Tx) error
		customer, companies bool
	}{
		{"put an entry", func(tx vault.Tx) error { return tx.PutEntry(&entry) }, true, false},
		{"put the same entry again", func(tx vault.Tx) error { return tx.PutEntry(&entry) }, true, false},
		{"put a summary", func(tx vault.Tx) error { return tx.PutSummary(sum) }, true, false},
		{"another customer's summary", func(tx vault.Tx) error {
			return tx.PutSummary(&vault.Summary{Customer: "other", Supplier: "s", SupplierName: "S"})
		}, false, false},
		{"a company record", func(tx vault.Tx) error { return tx.PutCompany(&vault.Company{ID: "s", Name: "S2"}) }, false, true},
		{"a relationship, a meta value", func(tx vault.Tx) error {
			if err := tx.PutRelationship("c", "s"); err != nil {
				return err
			}
			return tx.PutMeta("k", []byte("v"))
		}, false, false},
		{"delete the summary", func(tx vault.Tx) error { return tx.DeleteSummary("c", "s") }, true, false},
		{"delete the entry", func(tx vault.Tx) error { return tx.DeleteEntry(&entry) }, true, false},
	}
	before := rev("c")
	for _, st := range steps {
		update(t, s, st.change)
		after := rev("c")
		if (after.Customer != before.Customer) != st.customer || (after.Companies != before.Companies) != st.companies {
			t.Fatalf("%s: revision %+v → %+v, want customer moved %v, companies moved %v", st.name, before, after, st.customer, st.companies)
		}
		before = after
	}
	// A rolled back change moves nothing.
	_ = s.Update(ctx, func(tx vault.Tx) error {
		if err := tx.PutEntry(&entry); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if after := rev("c"); after != before {
		t.Fatalf("a rolled back change moved the revision: %+v → %+v", before, after)
	}
}

var ctx = context.Background()

func update(t *testing.T, s vault.Store, fn func(tx vault.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s vault.Store, fn func(tx vault.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func testCatalog(t *testing.T, s vault.Store) {
	update(t, s, func(tx vault.Tx) error {
		for _, dt := range []*vault.DocumentType{
			{ID: "B", Texts: map[string]vault.Text{"en": {Name: "b"}}, Subject: vault.SubjectCompany},
			{ID: "A", Texts: map[string]vault.Text{"en": {Name: "a"}}, Subject: vault.SubjectCompany},
			{ID: "OWN", Owner: "cust", Texts: map[string]vault.Text{"en": {Name: "own"}}, Subject: vault.SubjectEmployee, Category: vault.CategorySpecific},
		} {
			if err := tx.PutDocumentType(dt); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx vault.Tx) error {
		cat, err := tx.DocumentTypesOf("")
		if err != nil || len(cat) != 2 || cat[0].ID != "A" || cat[1].ID != "B" {
			t.Fatalf("catalog: %v %v", cat, err)
		}
		own, _ := tx.DocumentTypesOf("cust")
		if len(own) != 1 || own[0].ID != "OWN" || own[0].Texts["en"].Name != "own" {
			t.Fatalf("own types: %v", own)
		}
		if other, _ := tx.DocumentTypesOf("cus"); len(other) != 0 {
			t.Fatalf("a prefix of an owner's id sees its types: %v", other)
		}
		if _, err := tx.DocumentType("NOPE"); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("missing type: %v", err)
		}
		return nil
	})
}

func doc(sup, typ, emp, id string, version int32, until vault.Date) *vault.Document {
	return &vault.Document{ID: id, Supplier: sup, DocumentType: typ, Employee: emp, Version: version, State: vault.StateCurrent,
		ValidFrom: until - 100, ValidUntil: until, SHA256: "x", CreateTime: time.Unix(int64(version), 0).UTC()}
}

func testDocuments(t *testing.T, s vault.Store) {
	const day = vault.Date(20000)
	update(t, s, func(tx vault.Tx) error {
		v1 := doc("s", "T", "", "d1", 1, day+10)
		if err := tx.PutDocument(v1); err != nil {
			return err
		}
		// v2 supersedes v1.
		v1.State, v1.SupersededBy = vault.StateSuperseded, "d2"
		if err := tx.PutDocument(v1); err != nil {
			return err
		}
		if err := tx.PutDocument(doc("s", "T", "", "d2", 2, day+20)); err != nil {
			return err
		}
		if err := tx.PutDocument(doc("s", "T", "e1", "d3", 1, day+5)); err != nil {
			return err
		}
		if err := tx.PutDocument(doc("s", "U", "", "d4", 1, day+20)); err != nil {
			return err
		}
		return tx.PutDocument(doc("other", "T", "", "d5", 1, day+20))
	})
	view(t, s, func(tx vault.Tx) error {
		cur, err := tx.CurrentDocument("s", "T", "")
		if err != nil || cur.ID != "d2" {
			t.Fatalf("current: %v %v", cur, err)
		}
		vs, _ := tx.Versions("s", "T", "")
		if len(vs) != 2 || vs[0].ID != "d2" || vs[1].ID != "d1" {
			t.Fatalf("versions newest first: %v", ids(vs))
		}
		all, next, _ := tx.Documents("s", vault.DocQuery{}, vault.Page{Limit: 10})
		if got := ids(all); !slices.Equal(got, []string{"d2", "d3", "d4"}) || next != "" {
			t.Fatalf("current documents: %v next %q", got, next)
		}
		hist, _, _ := tx.Documents("s", vault.DocQuery{History: true}, vault.Page{Limit: 10})
		if got := ids(hist); !slices.Equal(got, []string{"d2", "d1", "d3", "d4"}) {
			t.Fatalf("history: %v", got)
		}
		emp, _, _ := tx.Documents("s", vault.DocQuery{Kind: vault.SubjectEmployee}, vault.Page{Limit: 10})
		if got := ids(emp); !slices.Equal(got, []string{"d3"}) {
			t.Fatalf("employee documents: %v", got)
		}
		one, _, _ := tx.Documents("s", vault.DocQuery{DocumentType: "T", HasSubject: true}, vault.Page{Limit: 10})
		if got := ids(one); !slices.Equal(got, []string{"d2"}) {
			t.Fatalf("one type and subject: %v", got)
		}
		// Paging: one at a time, every current document once.
		var paged []string
		p := vault.Page{Limit: 1}
		for {
			page, next, err := tx.Documents("s", vault.DocQuery{}, p)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, ids(page)...)
			if next == "" {
				break
			}
			p.After = next
		}
		if !slices.Equal(paged, []string{"d2", "d3", "d4"}) {
			t.Fatalf("paged: %v", paged)
		}
		exp, _, _ := tx.ExpiringDocuments("s", day, day+15, vault.Page{Limit: 10})
		if got := ids(exp); !slices.Equal(got, []string{"d3"}) {
			t.Fatalf("expiring within 15 days (superseded versions excluded): %v", got)
		}
		exp, _, _ = tx.ExpiringDocuments("s", day, day+30, vault.Page{Limit: 10})
		if got := ids(exp); len(got) != 3 || got[0] != "d3" {
			t.Fatalf("expiring within 30 days, soonest first: %v", got)
		}
		on, _, _ := tx.DocumentsUntil(day+20, vault.Page{Limit: 10})
		if got := ids(on); !slices.Equal(got, []string{"d5", "d2", "d4"}) {
			t.Fatalf("every supplier's documents valid until a day, by supplier: %v", got)
		}
		if on, _, _ := tx.DocumentsUntil(day+10, vault.Page{Limit: 10}); len(on) != 0 {
			t.Fatalf("a superseded version stays in the validity index: %v", ids(on))
		}
		return nil
	})
}

func ids(ds []*vault.Document) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func testDirectoryCopy(t *testing.T, s vault.Store) {
	update(t, s, func(tx vault.Tx) error {
		for _, p := range [][2]string{{"c1", "s1"}, {"c1", "s2"}, {"c2", "s1"}} {
			if err := tx.PutRelationship(p[0], p[1]); err != nil {
				return err
			}
		}
		for _, a := range []vault.Assignment{asg("c1", "s1", "e1", "p1"), asg("c1", "s1", "e2", "p1"), asg("c1", "s1", "e1", "p2"), asg("c2", "s1", "e1", "p9")} {
			if err := tx.PutAssignment(a); err != nil {
				return err
			}
		}
		return tx.DeleteRelationship("c1", "s2")
	})
	view(t, s, func(tx vault.Tx) error {
		if ok, _ := tx.HasRelationship("c1", "s2"); ok {
			t.Fatal("deleted relationship still there")
		}
		sup, _, _ := tx.Suppliers("c1", vault.Page{Limit: 10})
		cus, _ := tx.Customers("s1")
		if !slices.Equal(sup, []string{"s1"}) || !slices.Equal(cus, []string{"c1", "c2"}) {
			t.Fatalf("suppliers %v customers %v", sup, cus)
		}
		as, _ := tx.Assignments("c1", "s1")
		proj, _ := tx.ProjectAssignments("c1", "p1")
		emp, _ := tx.EmployeeAssignments("s1", "e1")
		all, _ := tx.CustomerAssignments("c1")
		if len(as) != 3 || len(proj) != 2 || len(emp) != 3 || len(all) != 3 {
			t.Fatalf("assignments %v / project %v / employee %v / customer %v", as, proj, emp, all)
		}
		rels, _, _ := tx.Relationships(vault.Page{Limit: 10})
		if len(rels) != 2 {
			t.Fatalf("relationships %v", rels)
		}
		return nil
	})
	update(t, s, func(tx vault.Tx) error { return tx.DeleteAssignment(asg("c1", "s1", "e1", "p1")) })
	view(t, s, func(tx vault.Tx) error {
		as, _ := tx.Assignments("c1", "s1")
		proj, _ := tx.ProjectAssignments("c1", "p1")
		emp, _ := tx.EmployeeAssignments("s1", "e1")
		if len(as) != 2 || len(proj) != 1 || len(emp) != 2 {
			t.Fatalf("after delete: %v / %v / %v", as, proj, emp)
		}
		return nil
	})
}

func testEntries(t *testing.T, s vault.Store) {
	const day = vault.Date(20000)
	e := func(sup, typ, emp, req, d string, until vault.Date, rejected bool) vault.Entry {
		return vault.Entry{Customer: "c", Supplier: sup, Requirement: req, DocumentType: typ, Employee: emp, Document: d, ValidUntil: until, Rejected: rejected}
	}
	entries := []vault.Entry{
		e("s1", "T", "", "r1", "", 0, false),
		e("s1", "U", "", "r2", "d1", day+10, false),
		e("s1", "E", "emp", "r3", "d2", day+40, true),
		e("s2", "T", "", "r1", "d3", day+10, false),
	}
	update(t, s, func(tx vault.Tx) error {
		for i := range entries {
			if err := tx.PutEntry(&entries[i]); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx vault.Tx) error {
		got, _ := tx.Entries("c", "s1")
		if len(got) != 3 {
			t.Fatalf("entries of s1: %v", got)
		}
		st, _ := tx.CustomerStats("c")
		if st.EntryMissing != 1 || st.EntryRejected != 1 || len(st.EntryUntils) != 1 || st.EntryUntils[0] != (vault.DateCount{Date: day + 10, Count: 2}) {
			t.Fatalf("entry counters: %+v", st)
		}
		if ok, _ := tx.Collects("c", "s1", "E", "emp"); !ok {
			t.Fatal("collects an employee's type")
		}
		if ok, _ := tx.Collects("c", "s1", "E", ""); ok {
			t.Fatal("collecting an employee's document is not collecting the company's")
		}
		if ok, _ := tx.Collects("c", "s1", "E", "em"); ok {
			t.Fatal("an id's prefix collects")
		}
		types, _ := tx.CollectedTypes("c", "s1")
		if !slices.Equal(types, [][2]string{{"E", "emp"}, {"T", ""}, {"U", ""}}) {
			t.Fatalf("collected types: %v", types)
		}
		sups, _ := tx.RequirementSuppliers("c", "r1")
		if !slices.Equal(sups, []string{"s1", "s2"}) {
			t.Fatalf("requirement suppliers: %v", sups)
		}
		var all []vault.Entry
		p := vault.Page{Limit: 3}
		for {
			page, next, err := tx.CustomerEntries("c", p)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == "" {
				break
			}
			p.After = next
		}
		if len(all) != 4 || all[3].Supplier != "s2" {
			t.Fatalf("customer entries paged: %v", all)
		}
		return nil
	})
	// Replacing an entry moves its counters; deleting removes them.
	update(t, s, func(tx vault.Tx) error {
		fixed := e("s1", "T", "", "r1", "d9", day+10, false)
		if err := tx.PutEntry(&fixed); err != nil {
			return err
		}
		if err := tx.DeleteEntry(&entries[2]); err != nil {
			return err
		}
		return tx.DeleteEntry(&entries[2]) // twice: nothing more
	})
	view(t, s, func(tx vault.Tx) error {
		st, _ := tx.CustomerStats("c")
		if st.EntryMissing != 0 || st.EntryRejected != 0 || st.EntryUntils[0].Count != 3 {
			t.Fatalf("counters after replace and delete: %+v", st)
		}
		if sups, _ := tx.RequirementSuppliers("c", "r3"); len(sups) != 0 {
			t.Fatalf("deleted entry still indexed by requirement: %v", sups)
		}
		return nil
	})
}

func summary(sup, name string, missing int, untils ...vault.Date) *vault.Summary {
	slices.Sort(untils)
	return &vault.Summary{Customer: "c", Supplier: sup, SupplierName: name, Entries: missing + len(untils), Missing: missing, Untils: untils}
}

func testSummaries(t *testing.T, s vault.Store) {
	const day = vault.Date(20000)
	update(t, s, func(tx vault.Tx) error {
		for _, sum := range []*vault.Summary{
			summary("a", "Alpha", 2, day+100),
			summary("b", "Bravo", 0, day-5, day+100), // expired
			summary("c1", "Charlie", 0, day+10),      // expiring
			summary("d", "Delta", 0, day+100),        // compliant
			summary("e", "Echo", 1),                  // one missing
			summary("f", "Foxtrot", 0),               // nothing required
		} {
			if err := tx.PutSummary(sum); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(q vault.SummaryQuery) []string {
		var out []string
		q.Customer = "c"
		q.Limit = 2
		for {
			var sums []*vault.Summary
			var next string
			view(t, s, func(tx vault.Tx) error {
				var err error
				sums, next, err = tx.ListSummaries(q)
				return err
			})
			for _, x := range sums {
				out = append(out, x.Supplier)
			}
			if next == "" {
				return out
			}
			q.After = next
		}
	}
	if got := list(vault.SummaryQuery{Fixed: true, From: 0, To: vault.MaxDate}); !slices.Equal(got, []string{"a", "e", "b", "c1", "d", "f"}) {
		t.Fatalf("worst first: %v", got)
	}
	if got := list(vault.SummaryQuery{Fixed: true, From: 0, To: day - 1}); !slices.Equal(got, []string{"a", "e", "b"}) {
		t.Fatalf("non-compliant on day: %v", got)
	}
	if got := list(vault.SummaryQuery{From: day, To: day + 30}); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("expiring on day: %v", got)
	}
	if got := list(vault.SummaryQuery{Order: vault.OrderName}); !slices.Equal(got, []string{"a", "b", "c1", "d", "e", "f"}) {
		t.Fatalf("by name: %v", got)
	}
	if got := list(vault.SummaryQuery{Order: vault.OrderName, NameContains: "ha"}); !slices.Equal(got, []string{"a", "c1"}) {
		t.Fatalf("by name containing 'ha': %v", got)
	}
	if got := list(vault.SummaryQuery{Fixed: true, To: vault.MaxDate, NameContains: "o"}); !slices.Equal(got, []string{"e", "b", "f"}) {
		t.Fatalf("worst first containing 'o': %v", got)
	}
	keepFixed := func(fixed int, _ vault.Date) bool { return fixed > 0 }
	if got := list(vault.SummaryQuery{Order: vault.OrderName, Keep: keepFixed}); !slices.Equal(got, []string{"a", "e"}) {
		t.Fatalf("by name, kept: %v", got)
	}
	view(t, s, func(tx vault.Tx) error {
		st, _ := tx.CustomerStats("c")
		tot := st.TotalsOn(day)
		if st.Suppliers != 6 || st.Fixed != 2 || st.Empty != 1 || tot.NonCompliant != 3 || tot.Expiring != 1 || tot.Compliant != 2 || tot.WithRequirements != 5 {
			t.Fatalf("stats %+v totals %+v", st, tot)
		}
		// Days pass: no write, other totals.
		if later := st.TotalsOn(day + 101); later.NonCompliant != 5 || later.Compliant != 1 {
			t.Fatalf("totals 101 days later: %+v", later)
		}
		swept, _, _ := tx.SummariesByMinUntil(day-10, day+10, vault.Page{Limit: 10})
		if len(swept) != 2 || swept[0].Supplier != "b" || swept[1].Supplier != "c1" {
			t.Fatalf("by min until: %v", swept)
		}
		return nil
	})
	// Moving a summary moves it in every index and counter; deleting removes it.
	update(t, s, func(tx vault.Tx) error {
		if err := tx.PutSummary(summary("a", "Zulu", 0, day+200)); err != nil {
			return err
		}
		return tx.DeleteSummary("c", "e")
	})
	if got := list(vault.SummaryQuery{Fixed: true, To: vault.MaxDate}); !slices.Equal(got, []string{"b", "c1", "d", "a", "f"}) {
		t.Fatalf("worst first after changes: %v", got)
	}
	if got := list(vault.SummaryQuery{Order: vault.OrderName}); got[len(got)-1] != "a" {
		t.Fatalf("renamed supplier not last by name: %v", got)
	}
	view(t, s, func(tx vault.Tx) error {
		st, _ := tx.CustomerStats("c")
		if st.Suppliers != 5 || st.Fixed != 0 {
			t.Fatalf("stats after changes: %+v", st)
		}
		sums, _ := tx.SupplierSummaries("a")
		if len(sums) != 1 || sums[0].SupplierName != "Zulu" {
			t.Fatalf("supplier summaries: %v", sums)
		}
		if _, err := tx.Summary("c", "e"); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("deleted summary: %v", err)
		}
		return nil
	})
}

func testRollback(t *testing.T, s vault.Store) {
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx vault.Tx) error {
		if err := tx.PutRelationship("c", "s"); err != nil {
			return err
		}
		if err := tx.AppendEvent(&feed.Event{Type: feed.TypeComplianceChanged, Time: time.Now(), Company: "companies/c"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	view(t, s, func(tx vault.Tx) error {
		if ok, _ := tx.HasRelationship("c", "s"); ok {
			t.Fatal("a failed transaction wrote a relationship")
		}
		return nil
	})
}

func testMisc(t *testing.T, s vault.Store) {
	update(t, s, func(tx vault.Tx) error {
		for i := range 3 {
			if err := tx.PutOutbox(&vault.Outbound{ID: fmt.Sprintf("o%d", i), Kind: vault.OutboundRejected}); err != nil {
				return err
			}
			if err := tx.AppendAccess(&vault.Access{Supplier: "s", DocumentType: "T", Document: fmt.Sprintf("d%d", i), Time: time.Now()}); err != nil {
				return err
			}
		}
		if err := tx.PutLastRequest("c", "s", time.Unix(100, 5).UTC()); err != nil {
			return err
		}
		if err := tx.PutCursor("directory", 42); err != nil {
			return err
		}
		if err := tx.PutMeta("k", []byte("v")); err != nil {
			return err
		}
		if err := tx.PutBlobIntent(&vault.BlobIntent{ID: "i1", SHA256: "abc"}); err != nil {
			return err
		}
		return tx.DeleteOutbox("o1")
	})
	view(t, s, func(tx vault.Tx) error {
		out, _ := tx.Outbox(10)
		if len(out) != 2 || out[0].ID != "o0" || out[1].ID != "o2" {
			t.Fatalf("outbox: %v", out)
		}
		log, next, _ := tx.AccessLog("s", "T", "", vault.Page{Limit: 2})
		if len(log) != 2 || log[0].Document != "d2" || next == "" {
			t.Fatalf("access log newest first: %v next %q", log, next)
		}
		rest, next2, _ := tx.AccessLog("s", "T", "", vault.Page{After: next, Limit: 2})
		if len(rest) != 1 || rest[0].Document != "d0" || next2 != "" {
			t.Fatalf("access log second page: %v", rest)
		}
		at, err := tx.LastRequest("c", "s")
		if err != nil || !at.Equal(time.Unix(100, 5)) {
			t.Fatalf("last request: %v %v", at, err)
		}
		if _, err := tx.LastRequest("c", "other"); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("no request yet: %v", err)
		}
		if n, _ := tx.Cursor("directory"); n != 42 {
			t.Fatalf("cursor %d", n)
		}
		if v, _ := tx.Meta("k"); string(v) != "v" {
			t.Fatalf("meta %q", v)
		}
		if is, _ := tx.BlobIntents(10); len(is) != 1 || is[0].SHA256 != "abc" {
			t.Fatalf("intents %v", is)
		}
		return nil
	})
}

func testForgedCursor(t *testing.T, s vault.Store) {
	update(t, s, func(tx vault.Tx) error {
		if err := tx.PutSummary(summary("x", "X", 1)); err != nil {
			return err
		}
		s2 := summary("y", "Y", 1)
		s2.Customer = "other"
		return tx.PutSummary(s2)
	})
	view(t, s, func(tx vault.Tx) error {
		for _, bad := range []string{"%%%", "b3RoZXIv"} { // not base64; "other/" (another customer's key)
			if _, _, err := tx.ListSummaries(vault.SummaryQuery{Customer: "c", Fixed: true, To: vault.MaxDate, Page: vault.Page{After: bad, Limit: 5}}); err == nil {
				t.Fatalf("cursor %q accepted", bad)
			}
		}
		return nil
	})
}

func asg(c, s, e, p string) vault.Assignment {
	return vault.Assignment{Customer: c, Supplier: s, Employee: e, Project: p}
}

// testBlobIntents: OtherBlobIntent sees the other uploads of the same bytes
// in flight, not this one, not other bytes, and not a deleted intent.
func testBlobIntents(t *testing.T, s vault.Store) {
	update(t, s, func(tx vault.Tx) error {
		for _, i := range []*vault.BlobIntent{{ID: "a", SHA256: "s1"}, {ID: "b", SHA256: "s1"}, {ID: "c", SHA256: "s10"}} {
			if err := tx.PutBlobIntent(i); err != nil {
				return err
			}
		}
		return nil
	})
	other := func(sha, except string) bool {
		var got bool
		view(t, s, func(tx vault.Tx) error {
			var err error
			got, err = tx.OtherBlobIntent(sha, except)
			return err
		})
		return got
	}
	if !other("s1", "a") || !other("s1", "b") {
		t.Fatal("a and b upload the same bytes: each sees the other")
	}
	if other("s10", "c") || other("s2", "") {
		t.Fatal("s10's only intent (or none, for s2) counts as another")
	}
	update(t, s, func(tx vault.Tx) error { return tx.DeleteBlobIntent("b") })
	if other("s1", "a") {
		t.Fatal("b's intent was deleted and still counts")
	}
	update(t, s, func(tx vault.Tx) error { return tx.DeleteBlobIntent("missing") })
	view(t, s, func(tx vault.Tx) error {
		if is, _ := tx.BlobIntents(10); len(is) != 2 {
			t.Fatalf("intents left: %v", is)
		}
		return nil
	})
}
