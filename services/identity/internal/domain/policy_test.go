package domain

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// TestAuthorizeFollowsTheTable: identity's decisions are runtime/authz's
// table, for every role of both kinds (R-ID-3 rows 10–14), refused in
// another company (R-ID-4), and a member always reads itself.
func TestAuthorizeFollowsTheTable(t *testing.T) {
	s := &Service{}
	ctx := context.Background()
	// R-ID-3 rows 10–14, as the minimum role index allowed.
	minRole := map[authz.Action]int{authz.ViewUsers: 2, authz.AddUsers: 3, authz.EditUsers: 3,
		authz.ManageUserState: 3, authz.SendPasswordReset: 3, authz.ReadAuditLog: 3}
	for _, kind := range authz.Kinds {
		for i, r := range authz.Roles {
			c := Caller{Authenticated: true, Principal: auth.Principal{User: "users/me", Company: "companies/c1", CompanyKind: kind, Role: r}}
			for act, m := range minRole {
				err := s.authorize(ctx, c, "c1", act)
				if (err == nil) != (i >= m) {
					t.Errorf("%v %v %v: %v", kind, r, act, err)
				}
				if err != nil && !errors.Is(err, errs.ErrPermissionDenied) {
					t.Errorf("refusal is %v, want PermissionDenied", err)
				}
				if err := s.authorize(ctx, c, "c2", act); !errors.Is(err, errs.ErrPermissionDenied) {
					t.Errorf("other company allowed for %v", r)
				}
			}
			if err := s.authorizeMember(ctx, c, "c1", "me", authz.ViewUsers); err != nil {
				t.Errorf("%v cannot read itself: %v", r, err)
			}
			if err := s.authorizeMember(ctx, c, "c2", "me", authz.ViewUsers); !errors.Is(err, errs.ErrPermissionDenied) {
				t.Errorf("%v reads itself in another company: %v", r, err)
			}
		}
	}
	if err := s.authorize(ctx, Caller{}, "c1", authz.ViewUsers); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Errorf("anonymous: %v", err)
	}
}

func TestExtendedPermissionsFromTheTable(t *testing.T) {
	if !allExtended(authz.KindOperator, authz.RoleAdministrator) || allExtended(authz.KindSupplier, authz.RoleAdministrator) ||
		allExtended(authz.KindOperator, authz.RolePower) {
		t.Error("all extended permissions: operator Administrators only")
	}
	for _, c := range []struct {
		scope GrantScope
		level GrantLevel
		want  authz.Action
	}{
		{authz.ScopeSuppliers, authz.LevelView, authz.ViewSuppliers},
		{authz.ScopeSuppliers, authz.LevelManage, authz.ManageSuppliers},
		{authz.ScopeProject, authz.LevelView, authz.ViewProject},
		{authz.ScopeProject, authz.LevelManage, authz.ManageProject},
	} {
		if got, err := extendedAction(c.scope, c.level); err != nil || got != c.want {
			t.Errorf("%v %v: %v %v", c.scope, c.level, got, err)
		}
	}
	if _, err := extendedAction(0, authz.LevelView); !errors.Is(err, errs.ErrInvalidArgument) {
		t.Errorf("no scope: %v", err)
	}
}

// TestViewHidesWhatJoiningWouldReveal: before the person joins, the view
// shows nothing that depends on whether its e-mail already had a login
// (R-ID-10); a delivery failure shows to Administrators only when it
// happened since the person was added.
func TestViewHidesWhatJoiningWouldReveal(t *testing.T) {
	l := &Login{ID: "u", Email: "a@x.test", Profile: Profile{GivenName: "Own", FamilyName: "Name", Phone: "+33 1"},
		TOTPSealed: []byte{1}, EmailUndeliverable: "550", EmailUndeliverableTime: t0}
	m := &Membership{Company: "c", User: "u", State: StateInvited, Profile: Profile{GivenName: "Typed", FamilyName: "Here"},
		CreateTime: t0.Add(1)}
	for _, to := range []audience{toMembers, toAdmins} {
		u := view(l, m, to)
		if u.TwoFactor || u.EmailUndeliverable != "" || u.GivenName != "Typed" || u.Phone != "" {
			t.Fatalf("audience %d sees %+v", to, u)
		}
	}
	if u := view(l, m, toSelf); !u.TwoFactor || u.EmailUndeliverable == "" {
		t.Fatalf("the person sees its own state: %+v", u)
	}
	m.State, m.CreateTime = StateActive, t0.Add(-1)
	if u := view(l, m, toAdmins); !u.TwoFactor || u.EmailUndeliverable != "550" {
		t.Fatalf("joined member, bounce since: %+v", u)
	}
	if u := view(l, m, toMembers); u.EmailUndeliverable != "" {
		t.Fatalf("members without edit rights see bounces: %+v", u)
	}
	legacy := &Membership{Company: "c", User: "u", State: StateActive}
	if u := view(l, legacy, toMembers); u.GivenName != "Own" {
		t.Fatalf("a membership written before profiles shows the login's: %+v", u)
	}
}

func FuzzParseMember(f *testing.F) {
	f.Add("companies/c1/users/u1")
	f.Add("companies//users/")
	f.Fuzz(func(t *testing.T, s string) {
		c, u, err := names.Member.Parse("name", s)
		if err == nil && names.Member.Format(c, u) != s {
			t.Fatalf("%q parsed to %q %q", s, c, u)
		}
	})
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
