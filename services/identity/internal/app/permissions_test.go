package app_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
)

// TestUserManagementFollowsRID3 calls every user-management RPC as each
// role (and as an Administrator of another company), checks it is allowed
// or refused exactly as R-ID-3 says, and re-reads the target, the member
// list and the audit log to prove that a refused call changed nothing.
func TestUserManagementFollowsRID3(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	outsider := e.signUp(operator, "otto@other.test")
	actors := map[string]*account{"admin-of-other-company": outsider}
	for _, r := range []identityv1.Role{restricted, standard, power, admin} {
		actors[r.String()] = e.invite(a, fmt.Sprintf("actor-%d@acme.test", r), r)
	}
	mask := func(p ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: p} }

	type rpc struct {
		name    string
		allowed []string // roles (actors keys) allowed
		setup   func(victim *account)
		call    func(actor, victim *account) error
	}
	powerUp := []string{power.String(), admin.String()}
	adminOnly := []string{admin.String()}
	n := 0
	rpcs := []rpc{
		{name: "ListUsers", allowed: powerUp, call: func(actor, _ *account) error {
			_, err := e.id.ListUsers(actor.ctx(), &identityv1.ListUsersRequest{Parent: a.company})
			return err
		}},
		{name: "GetUser", allowed: powerUp, call: func(actor, v *account) error {
			_, err := e.id.GetUser(actor.ctx(), &identityv1.GetUserRequest{Name: v.member})
			return err
		}},
		{name: "CreateUser", allowed: adminOnly, call: func(actor, _ *account) error {
			n++
			_, err := e.id.CreateUser(actor.ctx(), &identityv1.CreateUserRequest{Parent: a.company,
				User: &identityv1.User{Email: fmt.Sprintf("created-%d@acme.test", n), GivenName: "C", FamilyName: "C"}})
			return err
		}},
		{name: "UpdateUser", allowed: adminOnly, call: func(actor, v *account) error {
			_, err := e.id.UpdateUser(actor.ctx(), &identityv1.UpdateUserRequest{User: &identityv1.User{Name: v.member, Role: admin, Function: "Boss"},
				UpdateMask: mask("role", "function")})
			return err
		}},
		{name: "DeleteUser", allowed: adminOnly, call: func(actor, v *account) error {
			_, err := e.id.DeleteUser(actor.ctx(), &identityv1.DeleteUserRequest{Name: v.member})
			return err
		}},
		{name: "SendPasswordReset", allowed: adminOnly, call: func(actor, v *account) error {
			_, err := e.id.SendPasswordReset(actor.ctx(), &identityv1.SendPasswordResetRequest{Name: v.member})
			return err
		}},
		{name: "DeactivateUser", allowed: adminOnly, call: func(actor, v *account) error {
			_, err := e.id.DeactivateUser(actor.ctx(), &identityv1.DeactivateUserRequest{Name: v.member})
			return err
		}},
		{name: "ActivateUser", allowed: adminOnly,
			setup: func(v *account) {
				if _, err := e.id.DeactivateUser(a.ctx(), &identityv1.DeactivateUserRequest{Name: v.member}); err != nil {
					t.Fatal(err)
				}
			},
			call: func(actor, v *account) error {
				_, err := e.id.ActivateUser(actor.ctx(), &identityv1.ActivateUserRequest{Name: v.member})
				return err
			}},
	}
	snapshot := func(v *account) (*identityv1.User, int, int) {
		u, err := e.id.GetUser(a.ctx(), &identityv1.GetUserRequest{Name: v.member})
		if err != nil {
			t.Fatalf("re-read %s: %v", v.member, err)
		}
		users, err := e.id.ListUsers(a.ctx(), &identityv1.ListUsersRequest{Parent: a.company, PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		audit, err := e.id.ListAuditEvents(a.ctx(), &identityv1.ListAuditEventsRequest{Parent: a.company, PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		return u, len(users.GetUsers()), len(audit.GetAuditEvents())
	}
	victims := 0
	for _, r := range rpcs {
		for actorName, actor := range actors {
			t.Run(r.name+"/"+actorName, func(t *testing.T) {
				victims++
				v := e.invite(a, fmt.Sprintf("victim-%d@acme.test", victims), standard)
				if r.setup != nil {
					r.setup(v)
				}
				before, members, audits := snapshot(v)
				err := r.call(actor, v)
				want := false
				for _, ok := range r.allowed {
					want = want || ok == actorName
				}
				if want {
					if err != nil {
						t.Fatalf("allowed call refused: %v", err)
					}
					return
				}
				wantCode(t, err, codes.PermissionDenied)
				after, members2, audits2 := snapshot(v)
				if !proto.Equal(before, after) || members != members2 || audits != audits2 {
					t.Fatalf("refused call changed something: user %v→%v, members %d→%d, audit %d→%d",
						before, after, members, members2, audits, audits2)
				}
				if r.name == "SendPasswordReset" {
					e.notify.none(t, v.email, 100*time.Millisecond)
				}
			})
		}
	}
	// Every member reads its own profile, whatever its role.
	for name, actor := range actors {
		if name == "admin-of-other-company" {
			continue
		}
		if _, err := e.id.GetUser(actor.ctx(), &identityv1.GetUserRequest{Name: actor.member}); err != nil {
			t.Errorf("%s cannot read itself: %v", name, err)
		}
		if _, err := e.id.GetMe(actor.ctx(), &identityv1.GetMeRequest{}); err != nil {
			t.Errorf("%s GetMe: %v", name, err)
		}
	}
}
