package directory_test

import (
	"context"
	"errors"
	"github.com/vigil/vigil/services/runtime/authz"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/directory/internal/boltstore"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/directory/storetest"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/errs"
)

type fakeIdentity struct {
	admins, viewers map[string]bool // users/{u}|{company id}
	down            bool
}

func (f fakeIdentity) IsAdministrator(_ context.Context, user, company string) (bool, error) {
	if f.down {
		return false, errs.Unavailable("IDENTITY_UNAVAILABLE", "down")
	}
	return f.admins[user+"|"+company], nil
}

func (f fakeIdentity) CanViewSuppliers(_ context.Context, user, company string) (bool, error) {
	if f.down {
		return false, errs.Unavailable("IDENTITY_UNAVAILABLE", "down")
	}
	return f.viewers[user+"|"+company], nil
}

func (fakeIdentity) SyncCompany(context.Context, directory.Company) error { return nil }

func setup(t *testing.T, id fakeIdentity) (*directory.Service, *boltstore.Store) {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return directory.NewService(store, id, zap.NewNop()), store
}

func member(user, company string, role identityv1.Role) auth.Principal {
	return auth.Principal{User: "users/" + user, Company: directory.Name(company), Role: authz.Role(role)}
}

// TestCustomersReadSupplier: R-DIR-7 — a supplier's master data is visible
// to the customers in its "my customers" list (to users with the
// suppliers-area view, R-DIR-10), never the other way round, and customers
// never edit it (R-DIR-6).
func TestCustomersReadSupplier(t *testing.T) {
	ctx := context.Background()
	id := fakeIdentity{viewers: map[string]bool{}}
	svc, store := setup(t, id)
	supplier, _ := store.CreateCompany(ctx, storetest.NewCompany("732829320"), "")
	customer, _ := store.CreateCompany(ctx, storetest.NewCompany("552100554"), "")
	stranger, _ := store.CreateCompany(ctx, storetest.NewCompany("356000000"), "")
	if _, err := store.LinkSupplier(ctx, directory.Relationship{Customer: customer.ID, Supplier: supplier.ID, CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	id.viewers["users/viewer|"+customer.ID] = true

	tests := []struct {
		name   string
		p      auth.Principal
		target string
		want   error
	}{
		{"customer administrator", member("admin", customer.ID, identityv1.Role_ROLE_ADMINISTRATOR), supplier.ID, nil},
		{"customer user with suppliers view", member("viewer", customer.ID, identityv1.Role_ROLE_RESTRICTED_USER), supplier.ID, nil},
		{"customer user without grant", member("plain", customer.ID, identityv1.Role_ROLE_POWER_USER), supplier.ID, errs.ErrPermissionDenied},
		{"supplier reading its customer", member("s", supplier.ID, identityv1.Role_ROLE_ADMINISTRATOR), customer.ID, errs.ErrPermissionDenied},
		{"stranger", member("x", stranger.ID, identityv1.Role_ROLE_ADMINISTRATOR), supplier.ID, errs.ErrPermissionDenied},
		{"stranger, company that does not exist", member("x", stranger.ID, identityv1.Role_ROLE_ADMINISTRATOR), "nope", errs.ErrPermissionDenied},
		{"member without a role", member("x", supplier.ID, identityv1.Role_ROLE_UNSPECIFIED), supplier.ID, errs.ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := svc.GetCompany(ctx, tt.p, tt.target)
			if tt.want == nil {
				if err != nil || c.ID != tt.target {
					t.Fatalf("GetCompany = %v, %v", c.ID, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	// A customer's Administrator still cannot edit the supplier.
	before, _ := store.Company(ctx, supplier.ID)
	_, err := svc.UpdateCompany(ctx, member("admin", customer.ID, identityv1.Role_ROLE_ADMINISTRATOR), supplier.ID,
		directory.Company{LegalName: "Hijacked"}, []string{"legal_name"})
	if !errors.Is(err, errs.ErrPermissionDenied) {
		t.Fatalf("customer edit: %v", err)
	}
	if after, _ := store.Company(ctx, supplier.ID); after.LegalName != before.LegalName {
		t.Fatal("refused edit was written")
	}
}

func TestParentRules(t *testing.T) {
	ctx := context.Background()
	id := fakeIdentity{admins: map[string]bool{}}
	svc, store := setup(t, id)
	a, _ := store.CreateCompany(ctx, storetest.NewCompany("732829320"), "")
	b, _ := store.CreateCompany(ctx, storetest.NewCompany("552100554"), "")
	admin := func(c string) auth.Principal { return member("boss", c, identityv1.Role_ROLE_ADMINISTRATOR) }
	id.admins["users/boss|"+a.ID], id.admins["users/boss|"+b.ID], id.admins["users/boss|missing"] = true, true, true

	if _, err := svc.UpdateCompany(ctx, admin(a.ID), a.ID, directory.Company{Parent: a.ID}, []string{"parent"}); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("own parent: %v", err)
	}
	if _, err := svc.UpdateCompany(ctx, admin(a.ID), a.ID, directory.Company{Parent: "missing"}, []string{"parent"}); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("missing parent: %v", err)
	}
	if _, err := svc.UpdateCompany(ctx, admin(a.ID), a.ID, directory.Company{Parent: b.ID}, []string{"parent"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateCompany(ctx, admin(b.ID), b.ID, directory.Company{Parent: a.ID}, []string{"parent"}); !errors.Is(err, errs.ErrFailedPrecondition) {
		t.Fatalf("cycle: %v", err)
	}
	if got, _ := store.Company(ctx, b.ID); got.Parent != "" {
		t.Fatal("refused cycle was written")
	}
	// Clearing the parent needs only this company's Administrator.
	if c, err := svc.UpdateCompany(ctx, admin(a.ID), a.ID, directory.Company{}, []string{"parent"}); err != nil || c.Parent != "" {
		t.Fatalf("clear parent: %+v, %v", c, err)
	}
	// A Power user may not set it.
	if _, err := svc.UpdateCompany(ctx, member("p", a.ID, identityv1.Role_ROLE_POWER_USER), a.ID, directory.Company{Parent: b.ID}, []string{"parent"}); !errors.Is(err, errs.ErrPermissionDenied) {
		t.Fatalf("power user parent: %v", err)
	}
}

func TestIdentityDown(t *testing.T) {
	ctx := context.Background()
	svc, store := setup(t, fakeIdentity{down: true})
	a, _ := store.CreateCompany(ctx, storetest.NewCompany("732829320"), "")
	b, _ := store.CreateCompany(ctx, storetest.NewCompany("552100554"), "")
	_, err := svc.UpdateCompany(ctx, member("boss", a.ID, identityv1.Role_ROLE_ADMINISTRATOR), a.ID, directory.Company{Parent: b.ID}, []string{"parent"})
	if !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("err %v, want Unavailable", err)
	}
}

func TestPaging(t *testing.T) {
	ctx := context.Background()
	svc, store := setup(t, fakeIdentity{})
	customer, _ := store.CreateCompany(ctx, storetest.NewCompany("732829320"), "")
	want := map[string]bool{}
	for i := range 5 {
		c := storetest.NewCompany("N" + string(rune('0'+i)))
		c.Country = "GB"
		c, _ = store.CreateCompany(ctx, c, "")
		if _, err := store.LinkSupplier(ctx, directory.Relationship{Customer: customer.ID, Supplier: c.ID}); err != nil {
			t.Fatal(err)
		}
		want[c.ID] = true
	}
	token, seen := "", 0
	for {
		ids, next, err := svc.ListSupplierCompanies(ctx, customer.ID, token, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if !want[id] {
				t.Fatalf("unexpected or repeated %s", id)
			}
			delete(want, id)
			seen++
		}
		if next == "" {
			break
		}
		token = next
	}
	if seen != 5 || len(want) != 0 {
		t.Fatalf("saw %d, missing %v", seen, want)
	}
	if _, _, err := svc.ListSupplierCompanies(ctx, customer.ID, "%%%", 0); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Fatalf("bad token: %v", err)
	}
}
