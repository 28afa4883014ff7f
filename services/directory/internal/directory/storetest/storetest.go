// Package storetest is the conformance suite of directory.Store: every
// implementation runs it from its own tests (bbolt today, PostgreSQL later).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// Factory returns a fresh, empty store; it registers its own cleanup.
type Factory func(t *testing.T) directory.Store

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		f    func(t *testing.T, s directory.Store)
	}{
		{"CreateGetLookup", testCreateGetLookup},
		{"UniqueRegistration", testUniqueRegistration},
		{"ConcurrentCreateSameNumber", testConcurrentCreate},
		{"RequestIDIdempotency", testRequestID},
		{"Update", testUpdate},
		{"UpdateFailureWritesNothing", testUpdateFailure},
		{"Delete", testDelete},
		{"DeleteRefusedWhenLinked", testDeleteLinked},
		{"Relationships", testRelationships},
		{"ListPaging", testListPaging},
		{"ListCompanies", testListCompanies},
		{"RegisterSupplier", testRegisterSupplier},
		{"ConcurrentRegisterSameNumber", testConcurrentRegister},
		{"NameOrderedLists", testNameOrderedLists},
		{"Unlink", testUnlink},
		{"References", testReferences},
		{"PendingContacts", testPendingContacts},
		{"Employees", testEmployees},
		{"Assignments", testAssignments},
		{"Projects", testProjects},
		{"Imports", testImports},
		{"ImportDiscardAndStates", testImportDiscard},
		{"Events", testEvents},
		{"DeleteRefusedWhenInUse", testDeleteInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.f(t, newStore(t))
		})
	}
}

var ctx = context.Background()

// NewCompany returns a valid company with a fresh id and the given French number.
func NewCompany(number string) directory.Company {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return directory.Company{
		ID: names.NewID(), LegalName: "ACME " + number, Kind: directory.KindSupplier,
		Country: "FR", RegistrationNumber: number,
		Address:  directory.Address{Lines: []string{"1 rue de la Paix"}, PostalCode: "75002", City: "Paris", Country: "FR"},
		TimeZone: "Europe/Paris", Language: "fr", CreateTime: now, UpdateTime: now,
	}
}

func mustCreate(t *testing.T, s directory.Store, c directory.Company) directory.Company {
	t.Helper()
	got, err := s.CreateCompany(ctx, c, "")
	if err != nil {
		t.Fatalf("CreateCompany: %v", err)
	}
	return got
}

func equal(a, b directory.Company) bool {
	return fmt.Sprintf("%#v", normal(a)) == fmt.Sprintf("%#v", normal(b))
}

func normal(c directory.Company) directory.Company {
	c.CreateTime, c.UpdateTime = c.CreateTime.UTC(), c.UpdateTime.UTC()
	if len(c.Address.Lines) == 0 {
		c.Address.Lines = nil
	}
	return c
}

func testCreateGetLookup(t *testing.T, s directory.Store) {
	c := NewCompany("732829320")
	got := mustCreate(t, s, c)
	if !equal(got, c) {
		t.Fatalf("created %+v, want %+v", got, c)
	}
	byID, err := s.Company(ctx, c.ID)
	if err != nil || !equal(byID, c) {
		t.Fatalf("Company = %+v, %v; want %+v", byID, err, c)
	}
	byReg, err := s.CompanyByRegistration(ctx, "FR", "732829320")
	if err != nil || byReg.ID != c.ID {
		t.Fatalf("CompanyByRegistration = %+v, %v", byReg, err)
	}
	if _, err := s.Company(ctx, "missing"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("missing company: %v, want ErrNotFound", err)
	}
	if _, err := s.CompanyByRegistration(ctx, "BE", "732829320"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("same number, other country: %v, want ErrNotFound", err)
	}
}

func testUniqueRegistration(t *testing.T, s directory.Store) {
	first := mustCreate(t, s, NewCompany("552100554"))
	dup := NewCompany("552100554")
	if _, err := s.CreateCompany(ctx, dup, ""); !errors.Is(err, directory.ErrRegistrationTaken) {
		t.Fatalf("duplicate: %v, want ErrRegistrationTaken", err)
	}
	if _, err := s.Company(ctx, dup.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("refused duplicate was stored: %v", err)
	}
	other := NewCompany("552100554")
	other.Country = "BE"
	mustCreate(t, s, other)
	if got, _ := s.CompanyByRegistration(ctx, "FR", "552100554"); got.ID != first.ID {
		t.Fatalf("index now points to %s, want %s", got.ID, first.ID)
	}
}

func testConcurrentCreate(t *testing.T, s directory.Store) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.CreateCompany(ctx, NewCompany("356000000"), "")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, directory.ErrRegistrationTaken):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent creations of one number succeeded, want 1", ok)
	}
}

func testRequestID(t *testing.T, s directory.Store) {
	first, err := s.CreateCompany(ctx, NewCompany("73282932000074"), "req-1")
	if err != nil {
		t.Fatal(err)
	}
	retry := NewCompany("73282932000074")
	again, err := s.CreateCompany(ctx, retry, "req-1")
	if err != nil || again.ID != first.ID {
		t.Fatalf("retry = %s, %v; want %s", again.ID, err, first.ID)
	}
	if _, err := s.CreateCompany(ctx, NewCompany("73282932000074"), "req-2"); !errors.Is(err, directory.ErrRegistrationTaken) {
		t.Fatalf("another request id: %v, want ErrRegistrationTaken", err)
	}
	// After compensation the same request id creates again.
	if err := s.DeleteCompany(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	third, err := s.CreateCompany(ctx, retry, "req-1")
	if err != nil || third.ID != retry.ID {
		t.Fatalf("after delete = %s, %v; want a new company %s", third.ID, err, retry.ID)
	}
}

func testUpdate(t *testing.T, s directory.Store) {
	parent := mustCreate(t, s, NewCompany("552100554"))
	c := mustCreate(t, s, NewCompany("732829320"))
	got, err := s.UpdateCompany(ctx, c.ID, func(r directory.Reader, c *directory.Company) ([]feed.Event, error) {
		if _, err := r.Company(parent.ID); err != nil {
			return nil, err
		}
		c.LegalName, c.Parent, c.RequireTwoFactor = "Renamed", parent.ID, true
		return nil, nil
	})
	if err != nil || got.LegalName != "Renamed" || got.Parent != parent.ID || !got.RequireTwoFactor {
		t.Fatalf("UpdateCompany = %+v, %v", got, err)
	}
	read, _ := s.Company(ctx, c.ID)
	if !equal(read, got) {
		t.Fatalf("read back %+v, want %+v", read, got)
	}
	if _, err := s.UpdateCompany(ctx, "missing", func(directory.Reader, *directory.Company) ([]feed.Event, error) { return nil, nil }); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	if _, err := s.UpdateCompany(ctx, c.ID, func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
		c.RegistrationNumber = "552100554"
		return nil, nil
	}); err == nil {
		t.Fatal("changing the registration number was accepted")
	}
}

func testUpdateFailure(t *testing.T, s directory.Store) {
	c := mustCreate(t, s, NewCompany("732829320"))
	boom := errors.New("boom")
	if _, err := s.UpdateCompany(ctx, c.ID, func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
		c.LegalName = "half-done"
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if read, _ := s.Company(ctx, c.ID); !equal(read, c) {
		t.Fatalf("failed update wrote %+v", read)
	}
}

func testDelete(t *testing.T, s directory.Store) {
	c := mustCreate(t, s, NewCompany("732829320"))
	if err := s.DeleteCompany(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Company(ctx, c.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("deleted company still readable: %v", err)
	}
	if _, err := s.CompanyByRegistration(ctx, "FR", "732829320"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("index entry left: %v", err)
	}
	if err := s.DeleteCompany(ctx, c.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	mustCreate(t, s, NewCompany("732829320")) // the number is free again
}

func testDeleteLinked(t *testing.T, s directory.Store) {
	customer := mustCreate(t, s, NewCompany("552100554"))
	supplier := mustCreate(t, s, NewCompany("732829320"))
	if _, err := s.LinkSupplier(ctx, directory.Relationship{Customer: customer.ID, Supplier: supplier.ID, CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{customer.ID, supplier.ID} {
		if err := s.DeleteCompany(ctx, id); !errors.Is(err, directory.ErrInUse) {
			t.Fatalf("delete linked %s: %v, want ErrInUse", id, err)
		}
		if _, err := s.Company(ctx, id); err != nil {
			t.Fatalf("refused delete removed %s: %v", id, err)
		}
	}
	// A group owner is in use too.
	owner := mustCreate(t, s, NewCompany("356000000"))
	if _, err := s.UpdateCompany(ctx, customer.ID, func(_ directory.Reader, c *directory.Company) ([]feed.Event, error) {
		c.Parent = owner.ID
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCompany(ctx, owner.ID); !errors.Is(err, directory.ErrInUse) {
		t.Fatalf("delete group owner: %v, want ErrInUse", err)
	}
}

func testRelationships(t *testing.T, s directory.Store) {
	customer := mustCreate(t, s, NewCompany("552100554"))
	supplier := mustCreate(t, s, NewCompany("732829320"))
	if _, err := s.Relationship(ctx, customer.ID, supplier.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("before linking: %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rel := directory.Relationship{Customer: customer.ID, Supplier: supplier.ID, References: []string{"u1", "u2"}, CreateTime: at}
	if created, err := s.LinkSupplier(ctx, rel); err != nil || !created {
		t.Fatalf("LinkSupplier = %v, %v", created, err)
	}
	if created, err := s.LinkSupplier(ctx, rel); err != nil || created {
		t.Fatalf("second LinkSupplier = %v, %v; want false, nil", created, err)
	}
	got, err := s.Relationship(ctx, customer.ID, supplier.ID)
	if err != nil || !got.CreateTime.Equal(at) || !slices.Equal(got.References, rel.References) {
		t.Fatalf("Relationship = %+v, %v", got, err)
	}
	if _, err := s.Relationship(ctx, supplier.ID, customer.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("reverse direction: %v, want ErrNotFound", err)
	}
	if _, err := s.LinkSupplier(ctx, directory.Relationship{Customer: customer.ID, Supplier: "missing"}); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("link to missing: %v, want ErrNotFound", err)
	}
	if ids, _ := s.Suppliers(ctx, customer.ID, "", 10); !slices.Equal(ids, []string{supplier.ID}) {
		t.Fatalf("Suppliers = %v", ids)
	}
	if ids, _ := s.Customers(ctx, supplier.ID, "", 10); !slices.Equal(ids, []string{customer.ID}) {
		t.Fatalf("Customers = %v", ids)
	}
	if ids, _ := s.Suppliers(ctx, supplier.ID, "", 10); len(ids) != 0 {
		t.Fatalf("supplier has suppliers %v", ids)
	}
}

func testListPaging(t *testing.T, s directory.Store) {
	customer := mustCreate(t, s, NewCompany("552100554"))
	var want []string
	for i := range 5 {
		c := NewCompany(fmt.Sprintf("ID%d", i))
		c.Country = "GB"
		c = mustCreate(t, s, c)
		if _, err := s.LinkSupplier(ctx, directory.Relationship{Customer: customer.ID, Supplier: c.ID}); err != nil {
			t.Fatal(err)
		}
		want = append(want, c.ID)
	}
	slices.Sort(want)
	var got []string
	after := ""
	for {
		page, err := s.Suppliers(ctx, customer.ID, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
}
