package directory_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/directory/internal/boltstore"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/directory/storetest"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// fakeIdentity answers the domain's questions to identity: administrators
// of parent companies, AddMember (a user per e-mail and company) and the
// members' details.
type fakeIdentity struct {
	mu      sync.Mutex
	admins  map[string]bool // users/{u}|{company id}
	down    bool
	refuse  map[string]bool             // e-mails identity refuses
	members map[string]directory.Member // {company}/{user}
	byEmail map[string]string           // {company}|{email} → user
	added   []directory.NewMember
	synced  []string
}

func newFakeIdentity() *fakeIdentity {
	return &fakeIdentity{admins: map[string]bool{}, refuse: map[string]bool{}, members: map[string]directory.Member{}, byEmail: map[string]string{}}
}

func (f *fakeIdentity) IsAdministrator(_ context.Context, user, company string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return false, errs.Unavailable("IDENTITY_UNAVAILABLE", "down")
	}
	return f.admins[user+"|"+company], nil
}

func (f *fakeIdentity) SyncCompany(_ context.Context, c directory.Company) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errs.Unavailable("IDENTITY_UNAVAILABLE", "down")
	}
	f.synced = append(f.synced, c.ID)
	return nil
}

func (f *fakeIdentity) AddMember(_ context.Context, m directory.NewMember) (directory.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return directory.Member{}, errs.Unavailable("IDENTITY_UNAVAILABLE", "down")
	}
	if f.refuse[m.Contact.Email] {
		return directory.Member{}, errs.InvalidArgument("email", "refused")
	}
	f.added = append(f.added, m)
	if u, ok := f.byEmail[m.Company+"|"+m.Contact.Email]; ok {
		return f.members[m.Company+"/"+u], nil
	}
	u := "u" + strconv.Itoa(len(f.members)+1)
	mem := directory.Member{Company: m.Company, User: u, Contact: m.Contact}
	f.members[m.Company+"/"+u], f.byEmail[m.Company+"|"+m.Contact.Email] = mem, u
	return mem, nil
}

func (f *fakeIdentity) Members(_ context.Context, members []string) ([]directory.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errs.Unavailable("IDENTITY_UNAVAILABLE", "down")
	}
	var out []directory.Member
	for _, n := range members {
		c, u, err := names.Member.Parse("names", n)
		if err != nil {
			return nil, err
		}
		if m, ok := f.members[c+"/"+u]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeIdentity) addedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.added)
}

// fakeGrants holds extended permissions: user|company|scope|level|project.
type fakeGrants struct {
	mu sync.Mutex
	m  map[string]bool
}

func (g *fakeGrants) HasGrant(_ context.Context, user, company string, scope authz.GrantScope, level authz.GrantLevel, project string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[fmt.Sprint(user, "|", company, "|", scope, "|", authz.LevelManage, "|", project)] {
		return true, nil
	}
	return g.m[fmt.Sprint(user, "|", company, "|", scope, "|", level, "|", project)], nil
}

func (g *fakeGrants) grant(user, company string, scope authz.GrantScope, level authz.GrantLevel, project string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]bool{}
	}
	g.m[fmt.Sprint(user, "|", company, "|", scope, "|", level, "|", project)] = true
}

type env struct {
	svc    *directory.Service
	store  *boltstore.Store
	id     *fakeIdentity
	grants *fakeGrants
	now    time.Time
}

func setupEnv(t *testing.T, opts ...directory.Option) *env {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	e := &env{store: store, id: newFakeIdentity(), grants: &fakeGrants{}, now: time.Now()}
	e.svc = directory.NewService(store, e.id, e.grants, zap.NewNop(), opts...)
	return e
}

// restart is a new service over the same store (a restarted process).
func (e *env) restart(opts ...directory.Option) *directory.Service {
	return directory.NewService(e.store, e.id, e.grants, zap.NewNop(), opts...)
}

func setup(t *testing.T, id *fakeIdentity) (*directory.Service, *boltstore.Store) {
	t.Helper()
	e := setupEnv(t)
	e.id = id
	e.svc = directory.NewService(e.store, id, e.grants, zap.NewNop())
	return e.svc, e.store
}

func member(user, company string, role identityv1.Role) auth.Principal {
	return auth.Principal{User: "users/" + user, Company: names.Company.Format(company), Role: authz.Role(role), CompanyKind: authz.KindSupplier}
}

func memberOf(user string, c directory.Company, role authz.Role) auth.Principal {
	return auth.Principal{User: "users/" + user, Company: names.Company.Format(c.ID), Role: role, CompanyKind: c.Kind}
}

// TestCustomersReadSupplier: R-DIR-7 — a supplier's master data is visible
// to the customers in its "my customers" list (to users with the
// suppliers-area view, R-DIR-10), never the other way round, and customers
// never edit it (R-DIR-6).
func TestCustomersReadSupplier(t *testing.T) {
	ctx := context.Background()
	e := setupEnv(t)
	svc, store := e.svc, e.store
	supplier, _ := store.CreateCompany(ctx, storetest.NewCompany("732829320"), "")
	op := storetest.NewCompany("552100554")
	op.Kind = directory.KindOperator
	customer, _ := store.CreateCompany(ctx, op, "")
	stranger, _ := store.CreateCompany(ctx, storetest.NewCompany("356000000"), "")
	if _, err := store.LinkSupplier(ctx, directory.Relationship{Customer: customer.ID, Supplier: supplier.ID, CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.grants.grant("users/viewer", names.Company.Format(customer.ID), authz.ScopeSuppliers, authz.LevelView, "")

	tests := []struct {
		name   string
		p      auth.Principal
		target string
		want   error
	}{
		{"customer administrator", memberOf("admin", customer, authz.RoleAdministrator), supplier.ID, nil},
		{"customer user with suppliers view", memberOf("viewer", customer, authz.RoleRestricted), supplier.ID, nil},
		{"customer user without grant", memberOf("plain", customer, authz.RolePower), supplier.ID, errs.ErrPermissionDenied},
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
	_, err := svc.UpdateCompany(ctx, memberOf("admin", customer, authz.RoleAdministrator), supplier.ID,
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
	id := newFakeIdentity()
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
	id := newFakeIdentity()
	id.down = true
	svc, store := setup(t, id)
	a, _ := store.CreateCompany(ctx, storetest.NewCompany("732829320"), "")
	b, _ := store.CreateCompany(ctx, storetest.NewCompany("552100554"), "")
	_, err := svc.UpdateCompany(ctx, member("boss", a.ID, identityv1.Role_ROLE_ADMINISTRATOR), a.ID, directory.Company{Parent: b.ID}, []string{"parent"})
	if !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("err %v, want Unavailable", err)
	}
}

func TestPaging(t *testing.T) {
	ctx := context.Background()
	svc, store := setup(t, newFakeIdentity())
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

func zapNop() *zap.Logger { return zap.NewNop() }
