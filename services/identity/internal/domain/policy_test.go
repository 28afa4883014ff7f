package domain

import (
	"errors"
	"github.com/vigil/vigil/services/runtime/authz"
	"testing"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/errs"
)

func TestAuthorizeUsersMatrix(t *testing.T) {
	roles := []Role{authz.RoleRestricted, authz.RoleStandard, authz.RolePower, roleAdmin}
	// R-ID-3 rows 10–14, as allowed[action] = minimum role index.
	minRole := map[Action]int{ActListUsers: 2, ActGetUser: 2, ActCreateUser: 3, ActUpdateUser: 3,
		ActDeleteUser: 3, ActSendPasswordReset: 3, ActActivateUser: 3, ActDeactivateUser: 3}
	for _, kind := range []CompanyKind{kindOperator, authz.KindSupplier} {
		for i, r := range roles {
			c := Caller{Authenticated: true, Principal: auth.Principal{User: "users/me", Company: "companies/c1", CompanyKind: kind, Role: r}}
			for act, m := range minRole {
				err := authorizeUsers(c, "c1", act, "other")
				if (err == nil) != (i >= m) {
					t.Errorf("%v %v action %d: %v", kind, r, act, err)
				}
				if err != nil && !errors.Is(err, errs.ErrPermissionDenied) {
					t.Errorf("refusal is %v, want PermissionDenied", err)
				}
				// Another company is always refused (R-ID-4).
				if err := authorizeUsers(c, "c2", act, "other"); !errors.Is(err, errs.ErrPermissionDenied) {
					t.Errorf("other company allowed for %v", r)
				}
			}
			if err := authorizeUsers(c, "c1", ActGetUser, "me"); err != nil {
				t.Errorf("%v cannot read itself: %v", r, err)
			}
		}
	}
	if err := authorizeUsers(Caller{}, "c1", ActListUsers, ""); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Errorf("anonymous: %v", err)
	}
}

func TestGrantAllows(t *testing.T) {
	g := &Grant{Scope: authz.ScopeProject, Project: "companies/c1/projects/p1", Level: authz.LevelManage}
	if !grantAllows(g, g.Scope, authz.LevelView, g.Project) {
		t.Error("MANAGE must imply VIEW")
	}
	if grantAllows(g, g.Scope, authz.LevelView, "companies/c1/projects/p2") {
		t.Error("grant leaks to another project")
	}
	g.Level = authz.LevelView
	if grantAllows(g, g.Scope, authz.LevelManage, g.Project) {
		t.Error("VIEW must not imply MANAGE")
	}
	if !hasAllExtended(kindOperator, roleAdmin) || hasAllExtended(authz.KindSupplier, roleAdmin) {
		t.Error("all extended permissions: operator Administrators only")
	}
}

func FuzzParseMember(f *testing.F) {
	f.Add("companies/c1/users/u1")
	f.Add("companies//users/")
	f.Fuzz(func(t *testing.T, s string) {
		c, u, err := ParseMember("name", s)
		if err == nil && MemberName(c, u) != s {
			t.Fatalf("%q parsed to %q %q", s, c, u)
		}
	})
}
