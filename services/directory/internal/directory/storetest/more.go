package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// named returns a valid company with the given legal name and number.
func named(name, number string, kind directory.Kind) directory.Company {
	c := NewCompany(number)
	c.LegalName, c.Kind = name, kind
	if !strings.HasPrefix(number, "FR") && len(number) != 9 && len(number) != 14 {
		c.Country = "GB"
	}
	return c
}

// events returns every event after seq.
func events(t *testing.T, s directory.Store, after uint64) []feed.Event {
	t.Helper()
	evs, err := s.EventsAfter(ctx, after, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func lastSeq(t *testing.T, s directory.Store) uint64 {
	t.Helper()
	evs := events(t, s, 0)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Sequence
}

// kinds summarises events as "type@company".
func kinds(evs []feed.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+"@"+e.Company)
	}
	return out
}

func registration(customer string, sup directory.Company, contact *directory.PendingContact) directory.Registration {
	return directory.Registration{Customer: customer, NewCompany: sup, Contact: contact, Time: t0}
}

func testListCompanies(t *testing.T, s directory.Store) {
	var ids []string
	for i := range 5 {
		ids = append(ids, mustCreate(t, s, named("C", fmt.Sprintf("L%d", i), directory.KindSupplier)).ID)
	}
	slices.Sort(ids)
	var got []string
	after := ""
	for {
		page, err := s.ListCompanies(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("ListCompanies %v, want %v", got, ids)
	}
	batch, err := s.Companies(ctx, []string{ids[3], "missing", ids[0]})
	if err != nil || len(batch) != 2 || batch[0].ID != ids[3] || batch[1].ID != ids[0] {
		t.Fatalf("Companies = %v, %v", batch, err)
	}
}

func testRegisterSupplier(t *testing.T, s directory.Store) {
	cust := mustCreate(t, s, named("Customer", "552100554", directory.KindOperator))
	seq := lastSeq(t, s)

	// CREATED: a new company, linked, contact queued, two events.
	fresh := named("Fresh", "732829320", directory.KindSupplier)
	pc := &directory.PendingContact{Customer: cust.ID, Contact: directory.Contact{Email: "a@x.test", GivenName: "A", FamilyName: "B"}, CreateTime: t0}
	res, err := s.RegisterSupplier(ctx, registration(cust.ID, fresh, pc))
	if err != nil || res.Outcome != directory.OutcomeCreated || res.Supplier.ID != fresh.ID || res.PendingContact == "" {
		t.Fatalf("CREATED = %+v, %v", res, err)
	}
	if got, _ := s.CompanyByRegistration(ctx, "FR", "732829320"); got.ID != fresh.ID {
		t.Fatal("created company not indexed")
	}
	evs := events(t, s, seq)
	if want := []string{feed.TypeSupplierLinked + "@" + names.Company.Format(cust.ID), feed.TypeSupplierLinked + "@" + names.Company.Format(fresh.ID)}; !slices.Equal(kinds(evs), want) {
		t.Fatalf("events %v, want %v", kinds(evs), want)
	}
	if evs[0].Subject != names.Supplier.Format(cust.ID, fresh.ID) || evs[1].Subject != names.Customer.Format(fresh.ID, cust.ID) ||
		evs[0].Resources[feed.ResourceSupplier] != names.Company.Format(fresh.ID) || evs[1].Resources[feed.ResourceCustomer] != names.Company.Format(cust.ID) {
		t.Fatalf("event shape %+v", evs)
	}
	pending, _ := s.PendingContacts(ctx, "", 10)
	if len(pending) != 1 || pending[0].Supplier != fresh.ID || pending[0].Contact.Email != "a@x.test" || !pending[0].SyncFirst {
		t.Fatalf("pending %+v", pending)
	}

	// ALREADY_LINKED: nothing written, not even the contact.
	seq = lastSeq(t, s)
	again := named("Other name", "732829320", directory.KindSupplier)
	res, err = s.RegisterSupplier(ctx, registration(cust.ID, again, pc))
	if err != nil || res.Outcome != directory.OutcomeAlreadyLinked || res.Supplier.ID != fresh.ID || res.PendingContact != "" {
		t.Fatalf("ALREADY_LINKED = %+v, %v", res, err)
	}
	if len(events(t, s, seq)) != 0 {
		t.Fatal("an already linked registration appended events")
	}
	if _, err := s.Company(ctx, again.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal("an already linked registration created a company")
	}
	if p, _ := s.PendingContacts(ctx, "", 10); len(p) != 1 {
		t.Fatalf("an already linked registration queued a contact: %+v", p)
	}

	// LINKED: another customer finds the same company (R-DIR-1).
	other := mustCreate(t, s, named("Other customer", "356000000", directory.KindOperator))
	res, err = s.RegisterSupplier(ctx, registration(other.ID, named("X", "732829320", directory.KindSupplier), nil))
	if err != nil || res.Outcome != directory.OutcomeLinked || res.Supplier.ID != fresh.ID {
		t.Fatalf("LINKED = %+v, %v", res, err)
	}
	if ids, _ := s.Customers(ctx, fresh.ID, "", 10); len(ids) != 2 {
		t.Fatalf("customers %v", ids)
	}

	// Accept refuses an existing company: nothing written.
	seq = lastSeq(t, s)
	third := mustCreate(t, s, named("Third", "73282932000074", directory.KindOperator))
	refused := registration(cust.ID, named("T", "73282932000074", directory.KindSupplier), pc)
	refused.Accept = func(c directory.Company) error {
		return errs.FailedPrecondition("REGISTERED_AS_OPERATOR", "registration_number: an operator")
	}
	if _, err := s.RegisterSupplier(ctx, refused); !errors.Is(err, errs.ErrFailedPrecondition) {
		t.Fatalf("refused: %v", err)
	}
	if _, err := s.Relationship(ctx, cust.ID, third.ID); !errors.Is(err, directory.ErrNotFound) || len(events(t, s, seq)) != 0 {
		t.Fatal("a refused registration wrote")
	}

	// The customer's own number.
	if _, err := s.RegisterSupplier(ctx, registration(cust.ID, named("Me", "552100554", directory.KindSupplier), nil)); !errors.Is(err, directory.ErrSelfLink) {
		t.Fatalf("self: %v", err)
	}
	if _, err := s.RegisterSupplier(ctx, registration("missing", named("Y", "44306184100047", directory.KindSupplier), nil)); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("missing customer: %v", err)
	}
	if _, err := s.CompanyByRegistration(ctx, "FR", "44306184100047"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal("a registration for a missing customer created a company")
	}
}

func testConcurrentRegister(t *testing.T, s directory.Store) {
	cust := mustCreate(t, s, named("Customer", "552100554", directory.KindOperator))
	const n = 8
	var wg sync.WaitGroup
	outcomes := make([]directory.Outcome, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.RegisterSupplier(ctx, registration(cust.ID, named("Same", "732829320", directory.KindSupplier), nil))
			outcomes[i], errs[i] = r.Outcome, err
		}()
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if outcomes[i] == directory.OutcomeCreated {
			created++
		} else if outcomes[i] != directory.OutcomeAlreadyLinked {
			t.Fatalf("outcome %v", outcomes[i])
		}
	}
	ids, _ := s.Suppliers(ctx, cust.ID, "", 100)
	if created != 1 || len(ids) != 1 {
		t.Fatalf("%d created, %d suppliers; want one of each", created, len(ids))
	}
}

// listAll pages through a name-ordered list by pages of 2.
func listAll(t *testing.T, list func(q directory.ListQuery) ([]directory.Related, error), q directory.ListQuery) []string {
	t.Helper()
	var out []string
	q.Limit = 2
	for {
		page, err := list(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			out = append(out, r.Company.LegalName)
		}
		if len(page) < 2 {
			return out
		}
		q.After = page[len(page)-1].Cursor
	}
}

func testNameOrderedLists(t *testing.T, s directory.Store) {
	cust := mustCreate(t, s, named("Zeta customer", "552100554", directory.KindOperator))
	names := []string{"Écologie SA", "alpha", "Bravo", "ecole Martin", "Delta", "Eco"}
	ids := map[string]string{}
	for i, n := range names {
		c := named(n, fmt.Sprintf("N%d", i), directory.KindSupplier)
		if _, err := s.RegisterSupplier(ctx, registration(cust.ID, c, nil)); err != nil {
			t.Fatal(err)
		}
		ids[n] = c.ID
	}
	list := func(q directory.ListQuery) ([]directory.Related, error) { return s.ListSuppliers(ctx, cust.ID, q) }
	if got, want := listAll(t, list, directory.ListQuery{}), []string{"alpha", "Bravo", "Delta", "Eco", "ecole Martin", "Écologie SA"}; !slices.Equal(got, want) {
		t.Fatalf("by name %v, want %v", got, want)
	}
	if got, want := listAll(t, list, directory.ListQuery{NamePrefix: directory.FoldName("ÉCO")}), []string{"Eco", "ecole Martin", "Écologie SA"}; !slices.Equal(got, want) {
		t.Fatalf("prefix %v, want %v", got, want)
	}
	if got := listAll(t, list, directory.ListQuery{Number: "N3"}); !slices.Equal(got, []string{"ecole Martin"}) {
		t.Fatalf("number %v", got)
	}
	if got := listAll(t, list, directory.ListQuery{Number: "N3", NamePrefix: "z"}); len(got) != 0 {
		t.Fatalf("number and another prefix %v", got)
	}
	// A rename moves the company in every list it is in.
	if _, err := s.UpdateCompany(ctx, ids["alpha"], func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
		c.LegalName = "Zulu"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, list, directory.ListQuery{}); got[len(got)-1] != "Zulu" || len(got) != 6 {
		t.Fatalf("after rename %v", got)
	}
	// A list shows what it holds of each supplier as it is now: its
	// address after a change, the relationship's creation time.
	if _, err := s.UpdateCompany(ctx, ids["Bravo"], func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
		c.Address = directory.Address{Lines: []string{"1 rue de la Paix"}, PostalCode: "75002", City: "Paris", Country: "FR"}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateCompany(ctx, ids["Delta"], func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
		c.LegalName = "DELTA" // folds as before: same place, new name
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListSuppliers(ctx, cust.ID, directory.ListQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, r := range page {
		want, err := s.Company(ctx, r.Company.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Company.LegalName != want.LegalName || r.Company.Country != want.Country || r.Company.RegistrationNumber != want.RegistrationNumber ||
			!slices.Equal(r.Company.Address.Lines, want.Address.Lines) || r.Company.Address.City != want.Address.City ||
			r.Company.Address.PostalCode != want.Address.PostalCode || r.Company.Address.Country != want.Address.Country ||
			r.Relationship.Customer != cust.ID || r.Relationship.Supplier != want.ID || !r.Relationship.CreateTime.Equal(t0) {
			t.Fatalf("listed %+v, the company is %+v", r, want)
		}
		seen = append(seen, r.Company.LegalName)
	}
	if want := []string{"Bravo", "DELTA", "Eco", "ecole Martin", "Écologie SA", "Zulu"}; !slices.Equal(seen, want) {
		t.Fatalf("listed %v, want %v", seen, want)
	}
	if page[0].Company.Address.City != "Paris" {
		t.Fatalf("Bravo's new address not listed: %+v", page[0].Company.Address)
	}
	// The supplier's side: its customers by name.
	other := mustCreate(t, s, named("Acme customer", "356000000", directory.KindOperator))
	if _, err := s.RegisterSupplier(ctx, registration(other.ID, named("x", "N2", directory.KindSupplier), nil)); err != nil {
		t.Fatal(err)
	}
	clist := func(q directory.ListQuery) ([]directory.Related, error) { return s.ListCustomers(ctx, ids["Bravo"], q) }
	if got := listAll(t, clist, directory.ListQuery{}); !slices.Equal(got, []string{"Acme customer", "Zeta customer"}) {
		t.Fatalf("customers %v", got)
	}
	if got := listAll(t, clist, directory.ListQuery{Number: "356000000"}); !slices.Equal(got, []string{"Acme customer"}) {
		t.Fatalf("customers by number %v", got)
	}
	// Renaming the customer moves it in its suppliers' lists.
	if _, err := s.UpdateCompany(ctx, cust.ID, func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
		c.LegalName = "Aardvark"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, clist, directory.ListQuery{}); !slices.Equal(got, []string{"Aardvark", "Acme customer"}) {
		t.Fatalf("customers after rename %v", got)
	}
}

// world is a customer, a supplier linked to it, an employee of the
// supplier and an active project of the customer.
type world struct {
	cust, sup directory.Company
	emp       directory.Employee
	proj      directory.Project
}

func newWorld(t *testing.T, s directory.Store, n int) world {
	t.Helper()
	w := world{cust: named("Customer", fmt.Sprintf("WC%d", n), directory.KindOperator), sup: named("Supplier", fmt.Sprintf("WS%d", n), directory.KindSupplier)}
	mustCreate(t, s, w.cust)
	if _, err := s.RegisterSupplier(ctx, registration(w.cust.ID, w.sup, nil)); err != nil {
		t.Fatal(err)
	}
	w.emp = directory.Employee{ID: names.NewID(), Supplier: w.sup.ID, GivenName: "Émile", FamilyName: "Zola", CreateTime: t0, UpdateTime: t0}
	if err := s.CreateEmployee(ctx, w.emp); err != nil {
		t.Fatal(err)
	}
	w.proj = directory.Project{ID: names.NewID(), Customer: w.cust.ID, DisplayName: "Site", State: directory.ProjectActive, CreateTime: t0, UpdateTime: t0}
	if err := s.CreateProject(ctx, w.proj); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w world) assignment() directory.Assignment {
	return directory.Assignment{Customer: w.cust.ID, Project: w.proj.ID, Supplier: w.sup.ID, Employee: w.emp.ID, CreateTime: t0}
}

func testUnlink(t *testing.T, s directory.Store) {
	w := newWorld(t, s, 1)
	if _, err := s.Assign(ctx, w.assignment()); err != nil {
		t.Fatal(err)
	}
	seq := lastSeq(t, s)
	if err := s.Unlink(ctx, w.cust.ID, w.sup.ID, t0); err != nil {
		t.Fatal(err)
	}
	want := []string{
		feed.TypeEmployeeUnassigned + "@" + names.Company.Format(w.cust.ID), feed.TypeEmployeeUnassigned + "@" + names.Company.Format(w.sup.ID),
		feed.TypeSupplierUnlinked + "@" + names.Company.Format(w.cust.ID), feed.TypeSupplierUnlinked + "@" + names.Company.Format(w.sup.ID),
	}
	if got := kinds(events(t, s, seq)); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if _, err := s.Relationship(ctx, w.cust.ID, w.sup.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal("relationship left")
	}
	if l, _ := s.ListSuppliers(ctx, w.cust.ID, directory.ListQuery{Limit: 10}); len(l) != 0 {
		t.Fatalf("still listed %v", l)
	}
	if l, _ := s.ListCustomers(ctx, w.sup.ID, directory.ListQuery{Limit: 10, Number: w.cust.RegistrationNumber}); len(l) != 0 {
		t.Fatalf("still listed by number %v", l)
	}
	if e, _ := s.Employee(ctx, w.sup.ID, w.emp.ID); len(e.Projects) != 0 {
		t.Fatalf("assignment left %v", e.Projects)
	}
	if err := s.Unlink(ctx, w.cust.ID, w.sup.ID, t0); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("second unlink: %v", err)
	}
	// Linked again, it is listed again.
	if r, err := s.RegisterSupplier(ctx, registration(w.cust.ID, named("again", w.sup.RegistrationNumber, directory.KindSupplier), nil)); err != nil || r.Outcome != directory.OutcomeLinked {
		t.Fatalf("relink %+v %v", r, err)
	}
}

func testReferences(t *testing.T, s directory.Store) {
	w := newWorld(t, s, 2)
	rel, added, err := s.AddReference(ctx, w.cust.ID, w.sup.ID, "u1")
	if err != nil || !added || !slices.Equal(rel.References, []string{"u1"}) {
		t.Fatalf("AddReference = %+v %v %v", rel, added, err)
	}
	if _, added, _ := s.AddReference(ctx, w.cust.ID, w.sup.ID, "u1"); added {
		t.Fatal("added twice")
	}
	if _, _, err := s.AddReference(ctx, w.cust.ID, "missing", "u1"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("no relationship: %v", err)
	}
	many := make([]string, directory.MaxReferences)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	if rel, err := s.SetReferences(ctx, w.cust.ID, w.sup.ID, many); err != nil || len(rel.References) != directory.MaxReferences {
		t.Fatalf("SetReferences = %v", err)
	}
	if _, _, err := s.AddReference(ctx, w.cust.ID, w.sup.ID, "one-more"); !errors.Is(err, directory.ErrTooManyReferences) {
		t.Fatalf("past the bound: %v", err)
	}
	if _, err := s.SetReferences(ctx, w.cust.ID, w.sup.ID, append(many, "x")); !errors.Is(err, directory.ErrTooManyReferences) {
		t.Fatalf("set past the bound: %v", err)
	}
	if rel, _ := s.Relationship(ctx, w.cust.ID, w.sup.ID); len(rel.References) != directory.MaxReferences || rel.References[0] != "u0" {
		t.Fatalf("refs %v", rel.References)
	}
}

func testPendingContacts(t *testing.T, s directory.Store) {
	cust := mustCreate(t, s, named("Customer", "552100554", directory.KindOperator))
	var ids []string
	for i := range 3 {
		pc := &directory.PendingContact{Customer: cust.ID, Contact: directory.Contact{Email: fmt.Sprintf("c%d@x.test", i)}, CreateTime: t0}
		r, err := s.RegisterSupplier(ctx, registration(cust.ID, named("S", fmt.Sprintf("P%d", i), directory.KindSupplier), pc))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.PendingContact)
	}
	page, _ := s.PendingContacts(ctx, "", 2)
	page2, _ := s.PendingContacts(ctx, page[1].ID, 2)
	if len(page) != 2 || len(page2) != 1 || page[0].ID != ids[0] || page2[0].ID != ids[2] {
		t.Fatalf("pages %+v %+v", page, page2)
	}
	if err := s.CompleteContacts(ctx, []directory.ContactDone{{ID: ids[0], User: "alice"}, {ID: ids[1], Error: "refused"}, {ID: "unknown"}}); err != nil {
		t.Fatal(err)
	}
	if rel, _ := s.Relationship(ctx, cust.ID, page[0].Supplier); !slices.Equal(rel.References, []string{"alice"}) {
		t.Fatalf("reference %v", rel.References)
	}
	if rest, _ := s.PendingContacts(ctx, "", 10); len(rest) != 1 || rest[0].ID != ids[2] {
		t.Fatalf("left %+v", rest)
	}
	// Completing again is harmless.
	if err := s.CompleteContacts(ctx, []directory.ContactDone{{ID: ids[0], User: "bob"}}); err != nil {
		t.Fatal(err)
	}
	if rel, _ := s.Relationship(ctx, cust.ID, page[0].Supplier); !slices.Equal(rel.References, []string{"alice"}) {
		t.Fatalf("reference after a second completion %v", rel.References)
	}
}

func testEmployees(t *testing.T, s directory.Store) {
	sup := mustCreate(t, s, named("Supplier", "732829320", directory.KindSupplier))
	for i, n := range [][2]string{{"Zoé", "Martin"}, {"Adam", "Élie"}, {"Bob", "martin"}, {"Ève", "Durand"}} {
		e := directory.Employee{ID: fmt.Sprintf("e%d", i), Supplier: sup.ID, GivenName: n[0], FamilyName: n[1], CreateTime: t0, UpdateTime: t0}
		if err := s.CreateEmployee(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateEmployee(ctx, directory.Employee{ID: "x", Supplier: "missing", GivenName: "a", FamilyName: "b"}); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("employee of a missing company: %v", err)
	}
	order := func() []string {
		var out []string
		after := ""
		for {
			es, cursors, err := s.ListEmployees(ctx, sup.ID, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				out = append(out, e.GivenName)
			}
			if len(es) < 3 {
				return out
			}
			after = cursors[len(cursors)-1]
		}
	}
	if got, want := order(), []string{"Ève", "Adam", "Bob", "Zoé"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	e, err := s.UpdateEmployee(ctx, sup.ID, "e0", func(e *directory.Employee) error { e.FamilyName = "Abel"; return nil })
	if err != nil || e.FamilyName != "Abel" || e.ID != "e0" {
		t.Fatalf("update %+v %v", e, err)
	}
	if got := order(); got[0] != "Zoé" || len(got) != 4 {
		t.Fatalf("after rename %v", got)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateEmployee(ctx, sup.ID, "e1", func(e *directory.Employee) error { e.FamilyName = "half"; return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if e, _ := s.Employee(ctx, sup.ID, "e1"); e.FamilyName != "Élie" {
		t.Fatal("a failed update wrote")
	}
	seq := lastSeq(t, s)
	if err := s.DeleteEmployee(ctx, sup.ID, "e1", t0); err != nil {
		t.Fatal(err)
	}
	if got := kinds(events(t, s, seq)); !slices.Equal(got, []string{feed.TypeEmployeeDeleted + "@" + names.Company.Format(sup.ID)}) {
		t.Fatalf("events %v", got)
	}
	if _, err := s.Employee(ctx, sup.ID, "e1"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal("deleted employee readable")
	}
	if err := s.DeleteEmployee(ctx, sup.ID, "e1", t0); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal(err)
	}
	if len(order()) != 3 {
		t.Fatal("deleted employee listed")
	}
}

func testAssignments(t *testing.T, s directory.Store) {
	w := newWorld(t, s, 3)
	a := w.assignment()
	seq := lastSeq(t, s)
	if changed, err := s.Assign(ctx, a); err != nil || !changed {
		t.Fatalf("assign %v %v", changed, err)
	}
	evs := events(t, s, seq)
	if got := kinds(evs); !slices.Equal(got, []string{feed.TypeEmployeeAssigned + "@" + names.Company.Format(w.cust.ID), feed.TypeEmployeeAssigned + "@" + names.Company.Format(w.sup.ID)}) {
		t.Fatalf("events %v", got)
	}
	if evs[0].Resources[feed.ResourceProject] != names.Project.Format(w.cust.ID, w.proj.ID) || evs[0].Resources[feed.ResourceEmployee] != names.Employee.Format(w.sup.ID, w.emp.ID) {
		t.Fatalf("event resources %v", evs[0].Resources)
	}
	if changed, err := s.Assign(ctx, a); err != nil || changed {
		t.Fatalf("assign again %v %v", changed, err)
	}
	if e, _ := s.Employee(ctx, w.sup.ID, w.emp.ID); len(e.Projects) != 1 || e.Projects[0] != (directory.ProjectRef{Customer: w.cust.ID, Project: w.proj.ID}) {
		t.Fatalf("projects %v", e.Projects)
	}
	// Refusals.
	other := newWorld(t, s, 4)
	bad := a
	bad.Employee = "missing"
	if _, err := s.Assign(ctx, bad); !errors.Is(err, directory.ErrEmployeeNotFound) {
		t.Fatalf("missing employee: %v", err)
	}
	bad = a
	bad.Customer, bad.Project = other.cust.ID, other.proj.ID // not a customer of w.sup
	if _, err := s.Assign(ctx, bad); !errors.Is(err, directory.ErrNotRelated) {
		t.Fatalf("unrelated: %v", err)
	}
	bad.Project = "missing" // not related is said before the project is looked at
	if _, err := s.Assign(ctx, bad); !errors.Is(err, directory.ErrNotRelated) {
		t.Fatalf("unrelated, missing project: %v", err)
	}
	bad = a
	bad.Project = "missing"
	if _, err := s.Assign(ctx, bad); !errors.Is(err, directory.ErrProjectNotFound) {
		t.Fatalf("missing project: %v", err)
	}
	closed := directory.Project{ID: "closed", Customer: w.cust.ID, DisplayName: "Old", State: directory.ProjectClosed, CreateTime: t0, UpdateTime: t0}
	if err := s.CreateProject(ctx, closed); err != nil {
		t.Fatal(err)
	}
	bad.Project = "closed"
	if _, err := s.Assign(ctx, bad); !errors.Is(err, directory.ErrProjectClosed) {
		t.Fatalf("closed: %v", err)
	}
	// Lists: a second employee, a second project.
	e2 := directory.Employee{ID: "e2", Supplier: w.sup.ID, GivenName: "A", FamilyName: "B", CreateTime: t0, UpdateTime: t0}
	if err := s.CreateEmployee(ctx, e2); err != nil {
		t.Fatal(err)
	}
	p2 := directory.Project{ID: "p2", Customer: w.cust.ID, DisplayName: "Two", State: directory.ProjectActive, CreateTime: t0.Add(time.Hour), UpdateTime: t0}
	if err := s.CreateProject(ctx, p2); err != nil {
		t.Fatal(err)
	}
	for _, x := range []directory.Assignment{{Customer: w.cust.ID, Project: "p2", Supplier: w.sup.ID, Employee: "e2"}, {Customer: w.cust.ID, Project: w.proj.ID, Supplier: w.sup.ID, Employee: "e2"}} {
		if _, err := s.Assign(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	count := func(q directory.AssignmentQuery) int {
		n := 0
		q.Limit = 1
		for {
			as, cursors, err := s.ListAssignments(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			n += len(as)
			if len(as) == 0 {
				return n
			}
			q.After = cursors[0]
		}
	}
	for _, tt := range []struct {
		q    directory.AssignmentQuery
		want int
	}{
		{directory.AssignmentQuery{Customer: w.cust.ID}, 3},
		{directory.AssignmentQuery{Customer: w.cust.ID, Project: w.proj.ID}, 2},
		{directory.AssignmentQuery{Customer: w.cust.ID, Project: "p2"}, 1},
		{directory.AssignmentQuery{Customer: w.cust.ID, Supplier: w.sup.ID}, 3},
		{directory.AssignmentQuery{Customer: w.cust.ID, Project: w.proj.ID, Supplier: w.sup.ID}, 2},
		{directory.AssignmentQuery{Customer: w.cust.ID, Supplier: w.sup.ID, Employee: "e2"}, 2},
		{directory.AssignmentQuery{Customer: w.cust.ID, Supplier: w.sup.ID, Employee: "e2", Project: "p2"}, 1},
		{directory.AssignmentQuery{Customer: other.cust.ID}, 0},
	} {
		if got := count(tt.q); got != tt.want {
			t.Errorf("ListAssignments(%+v) = %d, want %d", tt.q, got, tt.want)
		}
	}
	// Deleting an employee ends its assignments, each told.
	seq = lastSeq(t, s)
	if err := s.DeleteEmployee(ctx, w.sup.ID, "e2", t0); err != nil {
		t.Fatal(err)
	}
	if got := kinds(events(t, s, seq)); len(got) != 5 || got[4] != feed.TypeEmployeeDeleted+"@"+names.Company.Format(w.sup.ID) {
		t.Fatalf("events %v", got)
	}
	if got := count(directory.AssignmentQuery{Customer: w.cust.ID}); got != 1 {
		t.Fatalf("assignments left %d", got)
	}
	// Unassign.
	seq = lastSeq(t, s)
	if changed, err := s.Unassign(ctx, a); err != nil || !changed {
		t.Fatalf("unassign %v %v", changed, err)
	}
	if changed, err := s.Unassign(ctx, a); err != nil || changed {
		t.Fatalf("unassign again %v %v", changed, err)
	}
	if len(events(t, s, seq)) != 2 {
		t.Fatal("unassign events")
	}
	bad = a
	bad.Employee = "missing"
	if _, err := s.Unassign(ctx, bad); !errors.Is(err, directory.ErrEmployeeNotFound) {
		t.Fatalf("unassign missing employee: %v", err)
	}
}

func testProjects(t *testing.T, s directory.Store) {
	cust := mustCreate(t, s, named("Customer", "552100554", directory.KindOperator))
	seq := lastSeq(t, s)
	for i := range 5 {
		p := directory.Project{ID: fmt.Sprintf("p%d", i), Customer: cust.ID, DisplayName: fmt.Sprint(i), State: directory.ProjectActive,
			CreateTime: t0.Add(time.Duration(i) * time.Minute), UpdateTime: t0}
		if i%2 == 1 {
			p.State = directory.ProjectClosed
		}
		if err := s.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if evs := events(t, s, seq); len(evs) != 5 || evs[1].Attributes[directory.AttrState] != "closed" || evs[0].Company != names.Company.Format(cust.ID) {
		t.Fatalf("events %+v", evs)
	}
	list := func(state directory.ProjectState) []string {
		var out []string
		after := ""
		for {
			ps, cursors, err := s.ListProjects(ctx, cust.ID, state, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				out = append(out, p.ID)
			}
			if len(ps) < 2 {
				return out
			}
			after = cursors[len(cursors)-1]
		}
	}
	if got := list(0); !slices.Equal(got, []string{"p4", "p3", "p2", "p1", "p0"}) {
		t.Fatalf("newest first %v", got)
	}
	if got := list(directory.ProjectActive); !slices.Equal(got, []string{"p4", "p2", "p0"}) {
		t.Fatalf("active %v", got)
	}
	p, err := s.UpdateProject(ctx, cust.ID, "p4", func(p *directory.Project) error { p.State = directory.ProjectClosed; p.UpdateTime = t0; return nil })
	if err != nil || p.State != directory.ProjectClosed {
		t.Fatalf("update %+v %v", p, err)
	}
	if got := list(directory.ProjectActive); !slices.Equal(got, []string{"p2", "p0"}) {
		t.Fatalf("active after closing %v", got)
	}
	if got := list(directory.ProjectClosed); !slices.Equal(got, []string{"p4", "p3", "p1"}) {
		t.Fatalf("closed %v", got)
	}
	if _, err := s.UpdateProject(ctx, cust.ID, "missing", func(*directory.Project) error { return nil }); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.Project(ctx, cust.ID, "missing"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.CreateProject(ctx, directory.Project{ID: "x", Customer: "missing", DisplayName: "x", State: 1}); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal(err)
	}
}

// upload stores rows as an import of cust and starts it.
func upload(t *testing.T, s directory.Store, cust string, rows []directory.ImportRow) directory.Import {
	t.Helper()
	imp := directory.Import{ID: names.NewID(), Customer: cust, State: directory.ImportUploading, CreateTime: t0, UpdateTime: t0}
	if err := s.CreateImport(ctx, imp); err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].Seq, rows[i].Line = uint64(i+1), i+2
	}
	for len(rows) > 0 {
		n := min(2, len(rows))
		if _, err := s.AppendImportRows(ctx, cust, imp.ID, rows[:n], t0); err != nil {
			t.Fatal(err)
		}
		rows = rows[n:]
	}
	imp, err := s.StartImport(ctx, cust, imp.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	return imp
}

func testImports(t *testing.T, s directory.Store) {
	cust := mustCreate(t, s, named("Customer", "552100554", directory.KindOperator))
	rows := []directory.ImportRow{{RegistrationNumber: "732829320"}, {RegistrationNumber: "bad"}, {RegistrationNumber: "356000000"}, {RegistrationNumber: "732829320"}}
	imp := upload(t, s, cust.ID, rows)
	if imp.State != directory.ImportRunning || imp.Counts.Rows != 4 {
		t.Fatalf("started %+v", imp)
	}
	if act, _ := s.ActiveImports(ctx); len(act) != 1 || act[0].ID != imp.ID {
		t.Fatalf("active %+v", act)
	}
	pending, err := s.PendingImportRows(ctx, cust.ID, imp.ID, 3)
	if err != nil || len(pending) != 3 || pending[0].Seq != 1 || pending[0].Line != 2 {
		t.Fatalf("pending %+v %v", pending, err)
	}
	work := func(rows []directory.ImportRow) []directory.ImportWork {
		var out []directory.ImportWork
		for _, r := range rows {
			w := directory.ImportWork{Row: r}
			if r.RegistrationNumber == "bad" {
				w.Error = "registration_number: bad"
			} else {
				reg := registration(cust.ID, named("S", r.RegistrationNumber, directory.KindSupplier),
					&directory.PendingContact{Customer: cust.ID, Import: imp.ID, Row: r.Seq, Contact: directory.Contact{Email: "x@y.test"}})
				w.Registration = &reg
			}
			out = append(out, w)
		}
		return out
	}
	seq := lastSeq(t, s)
	got, results, contacts, err := s.ApplyImportRows(ctx, cust.ID, imp.ID, work(pending[:2]), t0)
	if err != nil || len(results) != 2 || results[0].Outcome != directory.OutcomeCreated || results[1].Outcome != directory.OutcomeError ||
		contacts[0] == "" || contacts[1] != "" || got.Counts.Processed != 2 || got.Counts.Created != 1 || got.Counts.Errors != 1 || got.State != directory.ImportRunning {
		t.Fatalf("batch 1 = %+v %+v %v %v", got, results, contacts, err)
	}
	// A batch applied twice (two workers) counts once.
	if got, results, _, err := s.ApplyImportRows(ctx, cust.ID, imp.ID, work(pending[:2]), t0); err != nil || len(results) != 0 || got.Counts.Processed != 2 {
		t.Fatalf("batch 1 again = %+v %+v %v", got, results, err)
	}
	rest, _ := s.PendingImportRows(ctx, cust.ID, imp.ID, 10)
	got, results, _, err = s.ApplyImportRows(ctx, cust.ID, imp.ID, work(rest), t0.Add(time.Minute))
	if err != nil || got.State != directory.ImportDone || !got.DoneTime.Equal(t0.Add(time.Minute)) || results[1].Outcome != directory.OutcomeAlreadyLinked ||
		got.Counts != (directory.ImportCounts{Rows: 4, Processed: 4, Created: 2, AlreadyLinked: 1, Errors: 1}) {
		t.Fatalf("batch 2 = %+v %+v %v", got, results, err)
	}
	evs := events(t, s, seq)
	last := evs[len(evs)-1]
	if last.Type != feed.TypeImportCompleted || last.Company != names.Company.Format(cust.ID) ||
		last.Attributes[feed.AttrCounts] != "created=2,linked=0,already_linked=1,error=1" || last.Resources[feed.ResourceImport] != names.SupplierImport.Format(cust.ID, imp.ID) {
		t.Fatalf("last event %+v", last)
	}
	if act, _ := s.ActiveImports(ctx); len(act) != 0 {
		t.Fatalf("still active %+v", act)
	}
	if _, _, _, err := s.ApplyImportRows(ctx, cust.ID, imp.ID, nil, t0); !errors.Is(err, directory.ErrImportState) {
		t.Fatalf("apply to a finished import: %v", err)
	}
	// Results, in row order, paged; errors only.
	all, _ := s.ImportResults(ctx, imp.ID, 0, 10, false)
	page, _ := s.ImportResults(ctx, imp.ID, 2, 10, false)
	errsOnly, _ := s.ImportResults(ctx, imp.ID, 0, 10, true)
	if len(all) != 4 || all[0].Seq != 1 || all[0].Line != 2 || all[0].Supplier == "" || len(page) != 2 || page[0].Seq != 3 ||
		len(errsOnly) != 1 || errsOnly[0].Error != "registration_number: bad" {
		t.Fatalf("results %+v / %+v / %+v", all, page, errsOnly)
	}
	// A refused contact is written on its row, which then counts as an error row.
	if err := s.CompleteContacts(ctx, []directory.ContactDone{{ID: contacts[0], Error: "refused by identity"}}); err != nil {
		t.Fatal(err)
	}
	errsOnly, _ = s.ImportResults(ctx, imp.ID, 0, 10, true)
	if len(errsOnly) != 2 || errsOnly[0].ContactError != "refused by identity" || errsOnly[0].Outcome != directory.OutcomeCreated {
		t.Fatalf("contact error %+v", errsOnly)
	}
	// Newest first; an empty list finishes at once.
	second := upload(t, s, cust.ID, nil)
	if second.State != directory.ImportDone {
		t.Fatalf("empty import %+v", second)
	}
	list, cursors, err := s.ListImports(ctx, cust.ID, "", 1)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListImports %v", err)
	}
	more, _, _ := s.ListImports(ctx, cust.ID, cursors[0], 10)
	if len(more) != 1 || list[0].ID == more[0].ID {
		t.Fatalf("imports %+v %+v", list, more)
	}
}

func testImportDiscard(t *testing.T, s directory.Store) {
	cust := mustCreate(t, s, named("Customer", "552100554", directory.KindOperator))
	imp := directory.Import{ID: names.NewID(), Customer: cust.ID, State: directory.ImportUploading, CreateTime: t0, UpdateTime: t0}
	if err := s.CreateImport(ctx, imp); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendImportRows(ctx, cust.ID, imp.ID, []directory.ImportRow{{Seq: 1}, {Seq: 2}}, t0); err != nil {
		t.Fatal(err)
	}
	// Uploading: not listed, active.
	if list, _, _ := s.ListImports(ctx, cust.ID, "", 10); len(list) != 0 {
		t.Fatalf("an uploading import is listed: %+v", list)
	}
	if act, _ := s.ActiveImports(ctx); len(act) != 1 || act[0].State != directory.ImportUploading {
		t.Fatalf("active %+v", act)
	}
	if _, _, _, err := s.ApplyImportRows(ctx, cust.ID, imp.ID, nil, t0); !errors.Is(err, directory.ErrImportState) {
		t.Fatalf("apply while uploading: %v", err)
	}
	if err := s.DiscardImport(ctx, cust.ID, imp.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, cust.ID, imp.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal("discarded import readable")
	}
	if rows, _ := s.PendingImportRows(ctx, cust.ID, imp.ID, 10); len(rows) != 0 {
		t.Fatal("discarded rows left")
	}
	if act, _ := s.ActiveImports(ctx); len(act) != 0 {
		t.Fatal("discarded import active")
	}
	// A started import cannot be discarded nor appended to.
	started := upload(t, s, cust.ID, []directory.ImportRow{{}})
	if err := s.DiscardImport(ctx, cust.ID, started.ID); !errors.Is(err, directory.ErrImportState) {
		t.Fatalf("discard a running import: %v", err)
	}
	if _, err := s.AppendImportRows(ctx, cust.ID, started.ID, []directory.ImportRow{{Seq: 9}}, t0); !errors.Is(err, directory.ErrImportState) {
		t.Fatalf("append to a running import: %v", err)
	}
}

func testEvents(t *testing.T, s directory.Store) {
	c := mustCreate(t, s, named("C", "552100554", directory.KindOperator))
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Hour)
		if _, err := s.UpdateCompany(ctx, c.ID, func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
			c.TimeZone = "Europe/Paris"
			return []feed.Event{directory.CompanyChangedEvent(*c, at)}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	evs := events(t, s, 0)
	if len(evs) != 3 || evs[0].Sequence >= evs[1].Sequence || evs[2].Attributes[directory.AttrTimeZone] != "Europe/Paris" {
		t.Fatalf("events %+v", evs)
	}
	if p, _ := s.PrunedThrough(ctx); p != 0 {
		t.Fatal("pruned before pruning")
	}
	n, err := s.PruneEvents(ctx, t0.Add(90*time.Minute), 10)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if p, _ := s.PrunedThrough(ctx); p != evs[1].Sequence {
		t.Fatalf("pruned through %d, want %d", p, evs[1].Sequence)
	}
	if left := events(t, s, 0); len(left) != 1 || left[0].Sequence != evs[2].Sequence {
		t.Fatalf("left %+v", left)
	}
}

func testDeleteInUse(t *testing.T, s directory.Store) {
	sup := mustCreate(t, s, named("S", "732829320", directory.KindSupplier))
	if err := s.CreateEmployee(ctx, directory.Employee{ID: "e", Supplier: sup.ID, GivenName: "a", FamilyName: "b"}); err != nil {
		t.Fatal(err)
	}
	cust := mustCreate(t, s, named("C", "552100554", directory.KindOperator))
	if err := s.CreateProject(ctx, directory.Project{ID: "p", Customer: cust.ID, DisplayName: "p", State: 1, CreateTime: t0}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{sup.ID, cust.ID} {
		if err := s.DeleteCompany(ctx, id); !errors.Is(err, directory.ErrInUse) {
			t.Fatalf("delete %s: %v, want ErrInUse", id, err)
		}
	}
	// A group member leaving frees its owner.
	owner := mustCreate(t, s, named("O", "356000000", directory.KindOperator))
	member := mustCreate(t, s, named("M", "44306184100047", directory.KindOperator))
	set := func(parent string) {
		if _, err := s.UpdateCompany(ctx, member.ID, func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
			c.Parent = parent
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	set(owner.ID)
	if err := s.DeleteCompany(ctx, owner.ID); !errors.Is(err, directory.ErrInUse) {
		t.Fatalf("delete owner: %v", err)
	}
	set("")
	if err := s.DeleteCompany(ctx, owner.ID); err != nil {
		t.Fatalf("delete former owner: %v", err)
	}
}
