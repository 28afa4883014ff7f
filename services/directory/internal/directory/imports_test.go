package directory_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// sirenN is the n-th valid SIREN of a range the tests own.
func sirenN(n int) string {
	base := fmt.Sprintf("8%07d", n)
	for d := 0; d <= 9; d++ {
		s := base + fmt.Sprint(d)
		sum, double := 0, false
		for i := len(s) - 1; i >= 0; i-- {
			x := int(s[i] - '0')
			if double {
				x *= 2
				if x > 9 {
					x -= 9
				}
			}
			sum += x
			double = !double
		}
		if sum%10 == 0 {
			return s
		}
	}
	panic("unreachable")
}

type importWorld struct {
	*env
	cust, other, sup directory.Company
	admin            auth.Principal
}

func newImportWorld(t *testing.T, opts ...directory.Option) *importWorld {
	e := setupEnv(t, opts...)
	ctx := context.Background()
	w := &importWorld{env: e}
	mk := func(name, number string, kind directory.Kind) directory.Company {
		c := directory.Company{ID: names.NewID(), LegalName: name, Kind: kind, Country: "FR", RegistrationNumber: number, Language: "fr"}
		if _, err := e.store.CreateCompany(ctx, c, ""); err != nil {
			t.Fatal(err)
		}
		return c
	}
	w.cust = mk("Customer", "552100554", directory.KindOperator)
	w.other = mk("Other customer", "356000000", directory.KindOperator)
	w.sup = mk("Supplier", "732829320", directory.KindSupplier)
	w.admin = memberOf("alice", w.cust, authz.RoleAdministrator)
	return w
}

func (w *importWorld) run(t *testing.T, svc *directory.Service) {
	t.Helper()
	if err := svc.RunImportsOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (w *importWorld) results(t *testing.T, imp directory.Import) []directory.ImportRowResult {
	t.Helper()
	rs, _, err := w.svc.ImportResults(context.Background(), w.admin, w.cust.ID, imp.ID, false, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestImportRows: R-DIR-4 — every row gets a result (created, linked,
// already linked, or an error naming the column), a bad row never stops the
// others, counts equal results, contacts become users and references
// (R-DIR-5), and the same list twice changes nothing the second time.
func TestImportRows(t *testing.T) {
	w := newImportWorld(t)
	ctx := context.Background()
	// The supplier is already the other customer's: linked, not duplicated.
	if _, err := w.store.LinkSupplier(ctx, directory.Relationship{Customer: w.other.ID, Supplier: w.sup.ID, CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	csv := "SIRET;Raison sociale;Courriel;Prénom;Nom du contact;Pays\n" +
		sirenN(1) + ";Nouvelle;new@x.test;Ann;New;\n" + // created, contact → Administrator
		"732 829 320;Supplier;sup@x.test;Sam;Sup;\n" + // linked
		"732.829.320;Again;;;;\n" + // already linked (the row above)
		"552100554;Me;;;;\n" + // the customer itself
		"356000000;Operator;;;;\n" + // an operator
		"123456789;Bad;;;;\n" + // checksum
		sirenN(2) + ";;;;;\n" + // no name
		sirenN(3) + ";Bad mail;nope;A;B;\n" + // e-mail
		sirenN(4) + ";Names only;;A;B;\n" + // registered, contact left out
		sirenN(5) + ";Refused by identity;refused@x.test;A;B;\n" + // identity refuses
		sirenN(6) + ";Belgian;;;;BEL\n" + // country
		"\"" + sirenN(7) + ";broken\n" // never closed quote
	w.id.refuse["refused@x.test"] = true
	seq := eventsSeq(t, w.store)
	imp, err := w.svc.ImportSuppliers(ctx, w.admin, w.cust.ID, directory.ImportSource{CSV: strings.NewReader(csv), FileName: "f.csv"})
	if err != nil || imp.State != directory.ImportRunning || imp.Counts.Rows != 12 || imp.FileName != "f.csv" {
		t.Fatalf("ImportSuppliers = %+v, %v", imp, err)
	}
	w.run(t, w.svc)
	got, err := w.svc.GetImport(ctx, w.admin, w.cust.ID, imp.ID)
	if err != nil || got.State != directory.ImportDone ||
		got.Counts != (directory.ImportCounts{Rows: 12, Processed: 12, Created: 3, Linked: 1, AlreadyLinked: 1, Errors: 7}) {
		t.Fatalf("import %+v %v", got, err)
	}
	rs := w.results(t, imp)
	want := []struct {
		line    int
		outcome directory.Outcome
		err     string
		contact string
	}{
		{2, directory.OutcomeCreated, "", ""}, {3, directory.OutcomeLinked, "", ""}, {4, directory.OutcomeAlreadyLinked, "", ""},
		{5, directory.OutcomeError, "own registration number", ""}, {6, directory.OutcomeError, "operator", ""},
		{7, directory.OutcomeError, "registration_number", ""}, {8, directory.OutcomeError, "legal_name", ""},
		{9, directory.OutcomeError, "contact_email", ""}, {10, directory.OutcomeCreated, "", "contact_email"},
		{11, directory.OutcomeCreated, "", "refused"}, {12, directory.OutcomeError, "country", ""}, {13, directory.OutcomeError, "never closed", ""},
	}
	if len(rs) != len(want) {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	for i, w := range want {
		r := rs[i]
		if r.Line != w.line || r.Outcome != w.outcome || !strings.Contains(r.Error, w.err) || (w.err == "") != (r.Error == "") ||
			!strings.Contains(r.ContactError, w.contact) || (w.contact == "") != (r.ContactError == "") {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
	// The contacts: users of the suppliers, references of the customer.
	rel, _ := w.store.Relationship(ctx, w.cust.ID, rs[0].Supplier)
	if len(rel.References) != 1 {
		t.Fatalf("new supplier's references %v", rel.References)
	}
	rel, _ = w.store.Relationship(ctx, w.cust.ID, w.sup.ID)
	if len(rel.References) != 1 {
		t.Fatalf("linked supplier's references %v", rel.References)
	}
	if pending, _ := w.store.PendingContacts(ctx, "", 10); len(pending) != 0 {
		t.Fatalf("contacts left pending %+v", pending)
	}
	errsOnly, _, _ := w.svc.ImportResults(ctx, w.admin, w.cust.ID, imp.ID, true, "", 100)
	if len(errsOnly) != 9 {
		t.Fatalf("errors only: %d", len(errsOnly))
	}
	evs, _ := w.store.EventsAfter(ctx, seq, 1000)
	if last := evs[len(evs)-1]; last.Type != feed.TypeImportCompleted || last.Attributes[feed.AttrCounts] != "created=3,linked=1,already_linked=1,error=7" {
		t.Fatalf("last event %+v", last)
	}

	// The same list again changes nothing.
	added := w.id.addedCount()
	seq = eventsSeq(t, w.store)
	before, _, _ := w.svc.ListSuppliers(ctx, w.admin, w.cust.ID, directory.ListFilter{}, "", 500)
	again, err := w.svc.ImportSuppliers(ctx, w.admin, w.cust.ID, directory.ImportSource{CSV: strings.NewReader(csv)})
	if err != nil {
		t.Fatal(err)
	}
	w.run(t, w.svc)
	got, _ = w.svc.GetImport(ctx, w.admin, w.cust.ID, again.ID)
	if got.Counts != (directory.ImportCounts{Rows: 12, Processed: 12, AlreadyLinked: 5, Errors: 7}) {
		t.Fatalf("second import %+v", got.Counts)
	}
	after, _, _ := w.svc.ListSuppliers(ctx, w.admin, w.cust.ID, directory.ListFilter{}, "", 500)
	if len(after) != len(before) || w.id.addedCount() != added {
		t.Fatalf("the second import changed something: %d → %d suppliers, %d → %d members", len(before), len(after), added, w.id.addedCount())
	}
	if evs, _ := w.store.EventsAfter(ctx, seq, 100); len(evs) != 1 || evs[0].Type != feed.TypeImportCompleted {
		t.Fatalf("events of the second import %+v", evs)
	}
}

func eventsSeq(t *testing.T, s directory.Store) uint64 {
	evs, err := s.EventsAfter(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Sequence
}

// TestImportResumesAfterRestart: an import half done when the process stops
// is finished by the next process, its counts equal to its results.
func TestImportResumesAfterRestart(t *testing.T) {
	small := directory.Limits{MaxImportRows: 1000, ImportBatch: 3, ContactWorkers: 2}
	w := newImportWorld(t, directory.WithLimits(small))
	ctx := context.Background()
	var sb strings.Builder
	sb.WriteString("siret,name,email,first name,last name\n")
	for i := range 10 {
		fmt.Fprintf(&sb, "%s,S%d,c%d@x.test,C,D\n", sirenN(100+i), i, i)
	}
	imp, err := w.svc.ImportSuppliers(ctx, w.admin, w.cust.ID, directory.ImportSource{CSV: strings.NewReader(sb.String())})
	if err != nil {
		t.Fatal(err)
	}
	// The first process does one batch, then "crashes": its context ends.
	cctx, cancel := context.WithCancel(ctx)
	w.svc = directory.NewService(w.store, crashAfter{Identity: w.id, cancel: cancel}, w.grants, zapNop(), directory.WithLimits(small))
	_ = w.svc.RunImportsOnce(cctx)
	mid, _ := w.store.Import(ctx, w.cust.ID, imp.ID)
	if mid.State != directory.ImportRunning || mid.Counts.Processed == 0 || mid.Counts.Processed == 10 {
		t.Fatalf("mid-way %+v", mid)
	}
	if rs := w.results(t, imp); len(rs) != mid.Counts.Processed {
		t.Fatalf("%d results for %d processed", len(rs), mid.Counts.Processed)
	}
	// The next process resumes.
	next := w.restart(directory.WithLimits(small))
	w.run(t, next)
	done, _ := w.store.Import(ctx, w.cust.ID, imp.ID)
	if done.State != directory.ImportDone || done.Counts.Created != 10 || done.Counts.Processed != 10 || len(w.results(t, imp)) != 10 {
		t.Fatalf("resumed %+v", done)
	}
	// The contacts of the batch done before the crash are still queued;
	// the worker sends them once they are old enough.
	later := time.Now().Add(time.Minute)
	if err := w.restart(directory.WithClock(func() time.Time { return later })).RetryContactsOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := w.store.PendingContacts(ctx, "", 100); len(p) != 0 {
		t.Fatalf("contacts left %+v", p)
	}
	for _, r := range w.results(t, imp) {
		if rel, _ := w.store.Relationship(ctx, w.cust.ID, r.Supplier); len(rel.References) != 1 {
			t.Fatalf("row %d's supplier has references %v", r.Line, rel.References)
		}
	}
}

// crashAfter ends its context at the first identity call: the worker stops
// between two batches, as a killed process would.
type crashAfter struct {
	directory.Identity
	cancel func()
}

func (c crashAfter) AddMember(ctx context.Context, m directory.NewMember) (directory.Member, error) {
	c.cancel()
	return directory.Member{}, errs.Unavailable("DOWN", "down")
}

func (c crashAfter) SyncCompany(context.Context, directory.Company) error {
	c.cancel()
	return errs.Unavailable("DOWN", "down")
}

// TestImportRefusals: unreadable lists, lists too long and uploads cut
// short create nothing; who may import (R-DIR-4, R-DIR-10, R-ID-11).
func TestImportRefusals(t *testing.T) {
	w := newImportWorld(t, directory.WithLimits(directory.Limits{MaxImportRows: 3, ImportBatch: 2, ContactWorkers: 1}))
	ctx := context.Background()
	nothing := func(t *testing.T) {
		t.Helper()
		if list, _, _ := w.svc.ListImports(ctx, w.admin, w.cust.ID, "", 100); len(list) != 0 {
			t.Fatalf("imports left: %+v", list)
		}
		if act, _ := w.store.ActiveImports(ctx); len(act) != 0 {
			t.Fatalf("active imports left: %+v", act)
		}
		if sup, _ := w.store.Suppliers(ctx, w.cust.ID, "", 10); len(sup) != 0 {
			t.Fatalf("suppliers registered: %v", sup)
		}
	}
	for _, tt := range []struct {
		name string
		src  io.Reader
		want error
	}{
		{"no header", strings.NewReader(""), errs.ErrInvalidArgument},
		{"no number column", strings.NewReader("name;city\na;b\n"), errs.ErrInvalidArgument},
		{"too many rows", strings.NewReader("siret,name\n1,a\n2,b\n3,c\n4,d\n5,e\n"), errs.ErrInvalidArgument},
		{"cut short", io.MultiReader(strings.NewReader("siret,name\n1,a\n2,b\n3,"), iotest.ErrReader(context.Canceled)), context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.svc.ImportSuppliers(ctx, w.admin, w.cust.ID, directory.ImportSource{CSV: tt.src})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			var de *errs.Error
			if errors.As(err, &de) && de.Field != "file" {
				t.Fatalf("error names %q, want file", de.Field)
			}
			nothing(t)
		})
	}
	csv := func() directory.ImportSource {
		return directory.ImportSource{CSV: strings.NewReader("siret,name\n" + sirenN(9) + ",X\n")}
	}
	restricted := memberOf("rita", w.cust, authz.RoleRestricted)
	for _, tt := range []struct {
		name string
		p    auth.Principal
		to   string
		want error
	}{
		{"restricted user without grant", restricted, w.cust.ID, errs.ErrPermissionDenied},
		{"another customer", memberOf("bob", w.other, authz.RoleAdministrator), w.cust.ID, errs.ErrPermissionDenied},
		{"a supplier", memberOf("sam", w.sup, authz.RoleAdministrator), w.cust.ID, errs.ErrPermissionDenied},
		{"a supplier for itself", memberOf("sam", w.sup, authz.RoleAdministrator), w.sup.ID, errs.ErrPermissionDenied},
		{"a platform administrator for a supplier", auth.Principal{User: "users/root", Company: names.Company.Format(w.other.ID), Role: authz.RoleRestricted,
			CompanyKind: authz.KindOperator, PlatformAdmin: true}, w.sup.ID, errs.ErrFailedPrecondition},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := w.svc.ImportSuppliers(ctx, tt.p, tt.to, csv()); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			nothing(t)
		})
	}
	// A manage grant on the suppliers area lets a Restricted user import.
	w.grants.grant(restricted.User, restricted.Company, authz.ScopeSuppliers, authz.LevelManage, "")
	if _, err := w.svc.ImportSuppliers(ctx, restricted, w.cust.ID, csv()); err != nil {
		t.Fatalf("with a manage grant: %v", err)
	}
	// A platform administrator runs one for the customer, on its behalf,
	// and reads it; the contact's invitation names no actor.
	root := auth.Principal{User: "users/root", Company: names.Company.Format(w.other.ID), Role: authz.RoleRestricted, CompanyKind: authz.KindOperator, PlatformAdmin: true}
	imp, err := w.svc.ImportSuppliers(ctx, root, w.cust.ID, directory.ImportSource{CSV: strings.NewReader("siret,name,email,first name,last name\n" + sirenN(10) + ",Y,y@x.test,Y,Z\n")})
	if err != nil || !imp.OnBehalf || imp.SubmittedBy != "users/root" {
		t.Fatalf("platform import %+v %v", imp, err)
	}
	w.run(t, w.svc)
	if got, err := w.svc.GetImport(ctx, root, w.cust.ID, imp.ID); err != nil || got.State != directory.ImportDone {
		t.Fatalf("platform admin reads %+v %v", got, err)
	}
	last := w.id.added[len(w.id.added)-1]
	if last.Actor != "" || last.InvitedBy != w.cust.ID || last.Language != "fr" {
		t.Fatalf("AddMember %+v", last)
	}
	// Others cannot read it.
	if _, err := w.svc.GetImport(ctx, memberOf("bob", w.other, authz.RoleAdministrator), w.cust.ID, imp.ID); !errors.Is(err, errs.ErrPermissionDenied) {
		t.Fatalf("another customer reads: %v", err)
	}
	if _, err := w.svc.GetImport(ctx, w.admin, w.cust.ID, "nope"); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("unknown import: %v", err)
	}
}

// TestContactsWaitForIdentity: a contact identity cannot take now stays
// queued with its supplier registered, and the worker adds it later.
func TestContactsWaitForIdentity(t *testing.T) {
	w := newImportWorld(t)
	ctx := context.Background()
	now := time.Now()
	w.svc = w.restart(directory.WithClock(func() time.Time { return now }))
	w.id.down = true
	sup, err := w.svc.CreateSupplier(ctx, w.admin, w.cust.ID, directory.SupplierInput{RegistrationNumber: sirenN(20), LegalName: "Later", Country: "FR",
		Contact: directory.Contact{Email: "later@x.test", GivenName: "L", FamilyName: "Ater"}})
	if err != nil || sup.Outcome != directory.OutcomeCreated {
		t.Fatalf("CreateSupplier with identity down = %+v, %v", sup, err)
	}
	if p, _ := w.store.PendingContacts(ctx, "", 10); len(p) != 1 {
		t.Fatalf("pending %+v", p)
	}
	w.id.mu.Lock()
	w.id.down = false
	w.id.mu.Unlock()
	// Too young: the worker leaves it to the call that queued it.
	if err := w.svc.RetryContactsOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := w.store.PendingContacts(ctx, "", 10); len(p) != 1 {
		t.Fatal("a young contact was retried")
	}
	now = now.Add(time.Minute)
	if err := w.svc.RetryContactsOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := w.store.PendingContacts(ctx, "", 10); len(p) != 0 {
		t.Fatalf("still pending %+v", p)
	}
	rel, _ := w.store.Relationship(ctx, w.cust.ID, sup.Company.ID)
	if len(rel.References) != 1 || len(w.id.synced) == 0 || w.id.synced[0] != sup.Company.ID {
		t.Fatalf("references %v, synced %v", rel.References, w.id.synced)
	}
}
