package authz

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/errs"
)

// expected is the table as SPEC prints it, one line per action: the kinds it
// exists in and the cell per role (Restricted, Standard, Power, Admin):
// "y" allowed, "-" refused, "v"/"m" with a view/manage grant (R-DIR-10).
// Every cell of every kind is checked against Decide, so a change to the
// table that SPEC does not make fails here.
var expected = []struct {
	action Action
	kinds  string // "both", "operator", "supplier", "platform"
	cells  [4]string
}{
	// R-ID-3
	{ReceiveWeeklyEmail, "both", [4]string{"y", "y", "y", "y"}},
	{ViewCompanyCertificates, "both", [4]string{"-", "y", "y", "y"}},
	{ViewExpiringEmployeeCertificates, "both", [4]string{"-", "y", "y", "y"}},
	{ViewExpiringCompanyCertificates, "both", [4]string{"-", "-", "y", "y"}},
	{UploadCompanyCertificates, "both", [4]string{"-", "-", "y", "y"}},
	{ViewEmployeeCertificates, "both", [4]string{"-", "y", "y", "y"}},
	{UploadEmployeeCertificates, "both", [4]string{"-", "y", "y", "y"}},
	{AssignEmployees, "both", [4]string{"-", "y", "y", "y"}},
	{RegisterEmployees, "both", [4]string{"-", "y", "y", "y"}},
	{EditEmployees, "both", [4]string{"-", "y", "y", "y"}},
	{ViewUsers, "both", [4]string{"-", "-", "y", "y"}},
	{AddUsers, "both", [4]string{"-", "-", "-", "y"}},
	{EditUsers, "both", [4]string{"-", "-", "-", "y"}},
	{SendPasswordReset, "both", [4]string{"-", "-", "-", "y"}},
	{ManageUserState, "both", [4]string{"-", "-", "-", "y"}},
	// Every member (R-ID-3's last paragraph), Administrators (R-ID-8, R-ID-9, R-DIR-10)
	{ReadMasterData, "both", [4]string{"y", "y", "y", "y"}},
	{ListEmployees, "both", [4]string{"y", "y", "y", "y"}},
	{ManageCompanySettings, "both", [4]string{"-", "-", "-", "y"}},
	{ManageGrants, "operator", [4]string{"-", "-", "-", "y"}},
	{ReadAuditLog, "both", [4]string{"-", "-", "-", "y"}},
	{ViewCustomers, "supplier", [4]string{"y", "y", "y", "y"}},
	{ManageReferences, "supplier", [4]string{"-", "-", "-", "y"}},
	{ViewOwnCompliance, "supplier", [4]string{"-", "y", "y", "y"}},
	{ViewAccessLog, "supplier", [4]string{"-", "-", "-", "y"}},
	{ManageWebhooks, "both", [4]string{"-", "-", "-", "y"}},
	{ReadOwnProfile, "both", [4]string{"y", "y", "y", "y"}},
	// R-DIR-10
	{ViewSuppliers, "operator", [4]string{"v", "v", "v", "y"}},
	{ManageSuppliers, "operator", [4]string{"m", "m", "m", "y"}},
	{ImportSuppliers, "operator", [4]string{"m", "m", "m", "y"}},
	{CreateProject, "operator", [4]string{"-", "-", "-", "y"}},
	{ViewProject, "operator", [4]string{"v", "v", "v", "y"}},
	{ManageProject, "operator", [4]string{"m", "m", "m", "y"}},
	// R-ID-11
	{ManageCatalog, "platform", [4]string{"-", "-", "-", "-"}},
	{ManageDeadLetters, "platform", [4]string{"-", "-", "-", "-"}},
	{RunJobs, "platform", [4]string{"-", "-", "-", "-"}},
}

func TestTableCellByCell(t *testing.T) {
	if len(expected) != len(table) {
		t.Fatalf("the table has %d rows, the test %d: a new row needs its expected line", len(table), len(expected))
	}
	cells := 0
	for _, e := range expected {
		for _, kind := range Kinds {
			exists := e.kinds == "both" || e.kinds == "operator" && kind == KindOperator || e.kinds == "supplier" && kind == KindSupplier
			for i, role := range Roles {
				want := "-"
				if exists {
					want = e.cells[i]
				}
				t.Run(fmt.Sprintf("%s/%s/%s", e.action, kind, role), func(t *testing.T) {
					got := Decide(kind, role, e.action)
					var g string
					switch {
					case got.Allowed:
						g = "y"
					case got.Level == LevelView:
						g = "v"
					case got.Level == LevelManage:
						g = "m"
					default:
						g = "-"
					}
					if g != want {
						t.Fatalf("cell %q, want %q", g, want)
					}
				})
				cells++
			}
			if Decide(kind, RoleUnspecified, e.action).Allowed {
				t.Errorf("%s %s: an unspecified role must hold nothing", e.action, kind)
			}
		}
	}
	if cells != len(expected)*2*4 {
		t.Fatalf("checked %d cells", cells)
	}
}

// TestEnumsMatchTheContract: the plain enums carry vigil.identity.v1's
// numbers and names, so handlers convert with a cast.
func TestEnumsMatchTheContract(t *testing.T) {
	for n, name := range identityv1.Role_name {
		if Role(n).String() != name || ParseRole(name) != Role(n) {
			t.Errorf("role %d: %q vs %q", n, Role(n), name)
		}
	}
	for n, name := range identityv1.CompanyKind_name {
		if CompanyKind(n).String() != name || ParseCompanyKind(name) != CompanyKind(n) {
			t.Errorf("kind %d: %q vs %q", n, CompanyKind(n), name)
		}
	}
	if int(ManageUserState) != len(identityv1.Permission_name)-1 {
		t.Errorf("R-ID-3 has %d permissions in the contract, %d here", len(identityv1.Permission_name)-1, ManageUserState)
	}
	if identityv1.Permission_PERMISSION_UPLOAD_COMPANY_CERTIFICATES != identityv1.Permission(UploadCompanyCertificates) ||
		identityv1.Permission_PERMISSION_MANAGE_USER_STATE != identityv1.Permission(ManageUserState) ||
		identityv1.Permission_PERMISSION_VIEW_EXPIRING_COMPANY_CERTIFICATES != identityv1.Permission(ViewExpiringCompanyCertificates) {
		t.Error("permission numbers drifted from the contract")
	}
	if identityv1.GrantScope_GRANT_SCOPE_PROJECT != identityv1.GrantScope(ScopeProject) ||
		identityv1.GrantLevel_GRANT_LEVEL_MANAGE != identityv1.GrantLevel(LevelManage) {
		t.Error("grant numbers drifted from the contract")
	}
}

func TestPermissionsListsEveryAllowed(t *testing.T) {
	if got := Permissions(KindOperator, RolePower); len(got) != 11 {
		t.Fatalf("power user holds %d permissions, want 11: %v", len(got), got)
	}
	if got := Permissions(KindSupplier, RoleRestricted); len(got) != 1 || got[0] != ReceiveWeeklyEmail {
		t.Fatalf("a restricted user holds only the weekly e-mail: %v", got)
	}
}

func TestDefaultRole(t *testing.T) {
	if DefaultRole(KindOperator) != RoleRestricted || DefaultRole(KindSupplier) != RolePower {
		t.Error("R-ID-1: Restricted user in an operator, Power user in a supplier")
	}
}

type fakeGrants struct {
	allow bool
	calls atomic.Int32
	err   error
}

func (f *fakeGrants) HasGrant(_ context.Context, _, _ string, _ GrantScope, _ GrantLevel, _ string) (bool, error) {
	f.calls.Add(1)
	return f.allow, f.err
}

func reason(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func TestAuthorize(t *testing.T) {
	ctx := context.Background()
	op := func(r Role) Subject {
		return Subject{User: "users/u", Company: "companies/op", Kind: KindOperator, Role: r}
	}
	sup := Subject{User: "users/s", Company: "companies/sup", Kind: KindSupplier, Role: RoleAdministrator}
	admin := Subject{User: "users/p", Company: "companies/sup", Kind: KindSupplier, Role: RoleRestricted, PlatformAdmin: true}
	granted, refused := &fakeGrants{allow: true}, &fakeGrants{}
	cases := []struct {
		name    string
		s       Subject
		company string
		action  Action
		project string
		grants  Grants
		reason  string // "" allowed
	}{
		{"own company, role allows", op(RoleAdministrator), "companies/op", ViewUsers, "", nil, ""},
		{"own company, role refuses", op(RoleStandard), "companies/op", ViewUsers, "", nil, ReasonRoleNotPermitted},
		{"other company (R-ID-4)", op(RoleAdministrator), "companies/other", ViewUsers, "", nil, ReasonOtherCompany},
		{"not signed in", Subject{}, "companies/op", ReadMasterData, "", nil, ReasonNotSignedIn},
		{"admin needs no grant (R-DIR-10)", op(RoleAdministrator), "companies/op", ManageSuppliers, "", refused, ""},
		{"grant held", op(RoleRestricted), "companies/op", ViewSuppliers, "", granted, ""},
		{"grant missing", op(RolePower), "companies/op", ViewSuppliers, "", refused, ReasonGrantRequired},
		{"no grant source", op(RolePower), "companies/op", ViewSuppliers, "", nil, ReasonGrantRequired},
		{"project grant held", op(RoleStandard), "companies/op", ManageProject, "companies/op/projects/p", granted, ""},
		{"supplier has no suppliers area", sup, "companies/sup", ViewSuppliers, "", granted, ReasonKindNotPermitted},
		{"platform admin runs jobs (R-ID-11)", admin, "", RunJobs, "", nil, ""},
		{"platform admin imports for a customer (R-ID-11)", admin, "companies/op", ImportSuppliers, "", nil, ""},
		{"platform admin reads no documents (R-ID-11)", admin, "companies/op", ViewSuppliers, "", nil, ReasonOtherCompany},
		{"a company admin is no platform admin", op(RoleAdministrator), "", RunJobs, "", nil, ReasonPlatformAdminOnly},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Authorize(ctx, c.s, c.company, c.action, c.project, c.grants)
			if c.reason == "" && err != nil || c.reason != "" && reason(err) != c.reason {
				t.Fatalf("err %v, want reason %q", err, c.reason)
			}
			if c.reason != "" && c.reason != ReasonNotSignedIn && !errors.Is(err, errs.ErrPermissionDenied) {
				t.Fatalf("a refusal must be PERMISSION_DENIED: %v", err)
			}
		})
	}
	failing := &fakeGrants{err: errs.Unavailable("X", "down")}
	if err := Authorize(ctx, op(RoleStandard), "companies/op", ViewSuppliers, "", failing); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("an unanswered grant check must fail closed with its error: %v", err)
	}
}

func TestCachedGrants(t *testing.T) {
	ctx := context.Background()
	src := &fakeGrants{allow: true}
	c := NewCachedGrants(src, time.Minute)
	now := time.Now()
	c.now = func() time.Time { return now }
	ask := func() bool {
		ok, err := c.HasGrant(ctx, "users/u", "companies/op", ScopeSuppliers, LevelView, "")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !ask() || !ask() || src.calls.Load() != 1 {
		t.Fatalf("the second answer must come from the cache: %d calls", src.calls.Load())
	}
	src.allow = false
	c.Invalidate("users/u", "companies/op")
	if ask() || src.calls.Load() != 2 {
		t.Fatal("an invalidated answer must be asked again")
	}
	src.allow = true
	c.Invalidate("users/u", "")
	if !ask() {
		t.Fatal("invalidating the user everywhere must forget its answers")
	}
	now = now.Add(2 * time.Minute)
	ask()
	if src.calls.Load() != 4 {
		t.Fatalf("an answer older than the TTL must be asked again: %d calls", src.calls.Load())
	}
}
