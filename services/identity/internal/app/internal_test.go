package app_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/identity/internal/password"
)

// TestListMembersPagesTheIndex: ListMembers (issue 11, notify's weekly
// e-mail and reminders) in company then user order, every company or one,
// filtered by state and by an R-ID-3 permission decided by the table, with
// tokens bound to their filters.
func TestListMembersPagesTheIndex(t *testing.T) {
	e := newEnv(t)
	var want []string
	var first *account
	for i, kind := range []identityv1.CompanyKind{operator, supplier, operator} {
		a := e.signUp(kind, fmt.Sprintf("admin%d@acme.test", i))
		if first == nil {
			first = a
		}
		want = append(want, a.member)
		for j, role := range []identityv1.Role{restricted, power} {
			want = append(want, e.invite(a, fmt.Sprintf("m%d-%d@acme.test", i, j), role).member)
		}
	}
	invited, err := e.id.CreateUser(first.ctx(), &identityv1.CreateUserRequest{Parent: first.company,
		User: &identityv1.User{Email: "invited@acme.test", GivenName: "I", FamilyName: "I"}})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	list := func(req *identityv1.ListMembersRequest) ([]*identityv1.User, int) {
		var out []*identityv1.User
		pages := 0
		for {
			r, err := e.internal.ListMembers(ctxBg, req)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			out = append(out, r.GetMembers()...)
			if r.GetNextPageToken() == "" {
				return out, pages
			}
			req.PageToken = r.GetNextPageToken()
		}
	}
	all, pages := list(&identityv1.ListMembersRequest{State: identityv1.User_STATE_ACTIVE, PageSize: 2})
	var got []string
	for _, u := range all {
		got = append(got, u.GetName())
		if u.GetEmail() == "" || u.GetGivenName() == "" || u.GetRole() == 0 {
			t.Fatalf("member without its details: %v", u)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 5 {
		t.Fatalf("active members in %d pages:\n%v\nwant\n%v", pages, got, want)
	}
	any, _ := list(&identityv1.ListMembersRequest{Company: first.company, PageSize: 100})
	names := map[string]bool{}
	for _, u := range any {
		names[u.GetName()] = true
	}
	if len(any) != 4 || !names[invited.GetName()] || !names[first.member] {
		t.Fatalf("one company, any state: %v", any)
	}
	// Who may view user accounts (R-ID-3 row 10): Power users and Administrators.
	viewers, _ := list(&identityv1.ListMembersRequest{Permission: identityv1.Permission_PERMISSION_VIEW_USERS, State: identityv1.User_STATE_ACTIVE})
	if len(viewers) != 6 {
		t.Fatalf("viewers: %d, want 6", len(viewers))
	}
	for _, u := range viewers {
		if u.GetRole() != power && u.GetRole() != admin {
			t.Fatalf("%v may not view users", u)
		}
	}
	// A token is bound to its filters; a made-up one is refused.
	r, _ := e.internal.ListMembers(ctxBg, &identityv1.ListMembersRequest{PageSize: 1})
	_, err = e.internal.ListMembers(ctxBg, &identityv1.ListMembersRequest{PageSize: 1, PageToken: r.GetNextPageToken(), State: identityv1.User_STATE_ACTIVE})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.internal.ListMembers(ctxBg, &identityv1.ListMembersRequest{PageToken: "garbage"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.internal.ListMembers(ctxBg, &identityv1.ListMembersRequest{Company: "users/x"})
	wantCode(t, err, codes.InvalidArgument)
}

// TestUndeliverableEmail: notify reports a permanent failure; the company's
// Administrators see it, its audit log says it, others do not see it; it is
// shown to a company only if it happened since the person was added, and is
// cleared once the person uses an e-mailed link (issue 11 point 5).
func TestUndeliverableEmail(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	p := e.invite(a, "pat@acme.test", power)
	b := e.invite(a, "bob@acme.test", standard)
	r, err := e.internal.ReportUndeliverableEmail(ctxBg, &identityv1.ReportUndeliverableEmailRequest{Email: "Bob@Acme.test", Reason: "550 5.1.1 no such user"})
	if err != nil || !r.GetMarked() {
		t.Fatalf("report: %v %v", r, err)
	}
	if r, _ := e.internal.ReportUndeliverableEmail(ctxBg, &identityv1.ReportUndeliverableEmailRequest{Email: "ghost@acme.test"}); r.GetMarked() {
		t.Fatal("an unknown address marked")
	}
	u, _ := e.id.GetUser(a.ctx(), &identityv1.GetUserRequest{Name: b.member})
	if u.GetEmailUndeliverable() != "550 5.1.1 no such user" {
		t.Fatalf("an Administrator sees: %v", u)
	}
	if u, _ := e.id.GetUser(p.ctx(), &identityv1.GetUserRequest{Name: b.member}); u.GetEmailUndeliverable() != "" {
		t.Fatalf("a Power user sees: %v", u)
	}
	if me, _ := e.id.GetMe(b.ctx(), &identityv1.GetMeRequest{}); me.GetEmailUndeliverable() == "" {
		t.Fatal("the person does not see it")
	}
	if contains(e.auditActions(a, a.company), "user.email_undeliverable") != 1 {
		t.Fatal("not in the audit log")
	}
	// Another company adding the address later does not learn of the
	// earlier failure (it would tell that the e-mail has a login).
	other := e.signUp(supplier, "olga@other.test")
	e.clock.Advance(time.Second)
	added, err := e.id.CreateUser(other.ctx(), &identityv1.CreateUserRequest{Parent: other.company,
		User: &identityv1.User{Email: "bob@acme.test", GivenName: "B", FamilyName: "B"}})
	if err != nil || added.GetEmailUndeliverable() != "" {
		t.Fatalf("the new company sees an old failure: %v %v", added, err)
	}
	// Bob uses a reset link: the address works, the mark goes.
	_, _ = e.id.RequestPasswordReset(ctxBg, &identityv1.RequestPasswordResetRequest{Email: "bob@acme.test"})
	tok := linkToken(t, e.notify.next(t, "bob@acme.test", notifyv1.Template_TEMPLATE_PASSWORD_RESET))
	if _, err := e.id.ResetPassword(ctxBg, &identityv1.ResetPasswordRequest{Token: tok, NewPassword: "another-good-passphrase"}); err != nil {
		t.Fatal(err)
	}
	if u, _ := e.id.GetUser(a.ctx(), &identityv1.GetUserRequest{Name: b.member}); u.GetEmailUndeliverable() != "" {
		t.Fatalf("mark kept after the link was used: %v", u)
	}
	_, err = e.internal.ReportUndeliverableEmail(ctxBg, &identityv1.ReportUndeliverableEmailRequest{Email: "not an e-mail"})
	wantCode(t, err, codes.InvalidArgument)
}

// TestUserDeactivatedOnTheFeed: deactivating a member appends
// `user.deactivated` for its company in the same transaction (R-NOTIF-6),
// served by EventsInternalService; events older than the retention are
// pruned and a resume point before them is OUT_OF_RANGE.
func TestUserDeactivatedOnTheFeed(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	b := e.invite(a, "bob@acme.test", standard)
	ctx, cancel := context.WithCancel(ctxBg)
	defer cancel()
	stream, err := e.events.WatchEvents(ctx, &eventsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.id.DeactivateUser(a.ctx(), &identityv1.DeactivateUserRequest{Name: b.member}); err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetType() != "user.deactivated" || ev.GetSource() != "identity" || ev.GetCompany() != a.company ||
		ev.GetSubject() != b.member || ev.GetResources()["user"] != b.member || ev.GetSequence() != 1 {
		t.Fatalf("event %v", ev)
	}
	// A refused deactivation (the last Administrator) appends nothing.
	_, err = e.id.DeactivateUser(a.ctx(), &identityv1.DeactivateUserRequest{Name: a.member})
	wantCode(t, err, codes.FailedPrecondition)
	e.clock.Advance(31 * 24 * time.Hour)
	if err := e.svc.Prune(ctxBg); err != nil {
		t.Fatal(err)
	}
	s2, err := e.events.WatchEvents(ctxBg, &eventsv1.WatchEventsRequest{AfterSequence: 0})
	if err == nil {
		_, err = s2.Recv()
	}
	wantCode(t, err, codes.OutOfRange)
}

// TestCheckPermissionThroughTheTable: CheckPermission answers as
// runtime/authz's table decides; a supplier's Administrator has no
// extended permissions and may not grant any.
func TestCheckPermissionThroughTheTable(t *testing.T) {
	e := newEnv(t)
	s := e.signUp(supplier, "sam@supplier.test")
	check := func(scope identityv1.GrantScope, project string) bool {
		r, err := e.internal.CheckPermission(ctxBg, &identityv1.CheckPermissionRequest{User: s.user, Company: s.company,
			Check: &identityv1.CheckPermissionRequest_ExtendedPermission{ExtendedPermission: &identityv1.ExtendedPermission{
				Scope: scope, Level: identityv1.GrantLevel_GRANT_LEVEL_VIEW, Project: project}}})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetAllowed()
	}
	if check(identityv1.GrantScope_GRANT_SCOPE_SUPPLIERS, "") || check(identityv1.GrantScope_GRANT_SCOPE_PROJECT, s.company+"/projects/p") {
		t.Fatal("extended permissions in a supplier")
	}
	_, err := e.id.CreateGrant(s.ctx(), &identityv1.CreateGrantRequest{Parent: s.company, Grant: &identityv1.Grant{User: s.member,
		Scope: identityv1.GrantScope_GRANT_SCOPE_SUPPLIERS, Level: identityv1.GrantLevel_GRANT_LEVEL_VIEW}})
	if reason(err) != "COMPANY_KIND_NOT_PERMITTED" {
		t.Fatalf("a supplier grants: %v", err)
	}
	o := e.signUp(operator, "otto@operator.test")
	r, err := e.internal.CheckPermission(ctxBg, &identityv1.CheckPermissionRequest{User: o.user, Company: o.company,
		Check: &identityv1.CheckPermissionRequest_ExtendedPermission{ExtendedPermission: &identityv1.ExtendedPermission{
			Scope: identityv1.GrantScope_GRANT_SCOPE_PROJECT, Level: identityv1.GrantLevel_GRANT_LEVEL_MANAGE, Project: o.company + "/projects/p"}}})
	if err != nil || !r.GetAllowed() || r.GetRole() != admin {
		t.Fatalf("an operator's Administrator manages every project: %v %v", r, err)
	}
}

// TestExpiredSessionsAndLinksArePurged: issue 14. Ended sessions are gone at
// once; idle ones and unused links once expired, by the background prune.
func TestExpiredSessionsAndLinksArePurged(t *testing.T) {
	var store domain.Store
	e := newEnv(t, withStore(func(s domain.Store) domain.Store { store = s; return s }))
	a := e.signUp(operator, "ada@acme.test")
	out, err := e.login("ada@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.id.Logout(ctxBg, &identityv1.LogoutRequest{RefreshToken: out.GetRefreshToken()}); err != nil {
		t.Fatal(err)
	}
	_, _ = e.id.RequestPasswordReset(ctxBg, &identityv1.RequestPasswordResetRequest{Email: "ada@acme.test"})
	e.notify.next(t, "ada@acme.test", notifyv1.Template_TEMPLATE_PASSWORD_RESET)
	counts := func() (sessions, links int) {
		_ = store.View(ctxBg, func(tx domain.Tx) error {
			l, _ := tx.LoginByEmail("ada@acme.test")
			ss, _ := tx.UserSessions(l.ID)
			ls, _ := tx.UserLinkTokens(l.ID)
			sessions, links = len(ss), len(ls)
			return nil
		})
		return
	}
	if s, l := counts(); s != 1 || l != 1 {
		t.Fatalf("before expiry: %d sessions (the logged-out one must be gone), %d links", s, l)
	}
	e.clock.Advance(7*24*time.Hour + time.Minute)
	if err := e.svc.Prune(ctxBg); err != nil {
		t.Fatal(err)
	}
	if s, l := counts(); s != 0 || l != 0 {
		t.Fatalf("after expiry: %d sessions, %d links", s, l)
	}
	_, err = e.id.Refresh(ctxBg, &identityv1.RefreshRequest{RefreshToken: a.refresh})
	wantCode(t, err, codes.Unauthenticated)
}

// TestSessionsPerLoginAreBounded: sign-ins without logout do not grow a
// login's sessions without bound (issue 14: 12,000 sign-ins, 16 MiB).
func TestSessionsPerLoginAreBounded(t *testing.T) {
	var store domain.Store
	e := newEnv(t, withStore(func(s domain.Store) domain.Store { store = s; return s }))
	a := e.signUp(operator, "ada@acme.test")
	for i := 0; i < 40; i++ {
		e.clock.Advance(time.Millisecond)
		if _, err := e.login("ada@acme.test", ""); err != nil {
			t.Fatal(err)
		}
	}
	_ = store.View(ctxBg, func(tx domain.Tx) error {
		ss, _ := tx.UserSessions(userID(a.user))
		if len(ss) != 32 {
			t.Fatalf("%d sessions kept, want 32", len(ss))
		}
		return nil
	})
	_, err := e.id.Refresh(ctxBg, &identityv1.RefreshRequest{RefreshToken: a.refresh})
	wantCode(t, err, codes.Unauthenticated) // the oldest ended
}

func userID(user string) string { return user[len("users/"):] }

// TestConcurrentCorrectSignInsAreNotRefused: issue 14. Correct sign-ins to
// one account at the same moment queue for each other instead of being
// answered "too many failed sign-ins"; the login metric counts them.
func TestConcurrentCorrectSignInsAreNotRefused(t *testing.T) {
	gs := &gateStore{}
	// One hashing slot: the sign-ins wait for it while their attempts are
	// in flight, as under load.
	slower := password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	e := newEnv(t, withStore(func(s domain.Store) domain.Store { gs.Store = s; return gs }), withHashing(slower, 1, 64))
	e.signUp(operator, "ada@acme.test")
	const n = 20
	gs.arm(n)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.login("ada@acme.test", "")
			if err != nil {
				t.Errorf("correct sign-in: %v (%s)", err, reason(err))
				return
			}
			ok.Add(1)
		}()
	}
	wg.Wait()
	if ok.Load() != n {
		t.Fatalf("%d of %d simultaneous correct sign-ins succeeded", ok.Load(), n)
	}
}

// TestHashingMetrics: the hashing pool's refusals and queue are what
// vigil_identity_password_hash_refused_total and …_queue report.
func TestHashingMetrics(t *testing.T) {
	e := newEnv(t, withHashing(fastHash, 1, 0))
	e.signUp(operator, "ada@acme.test")
	hold := make(chan struct{})
	go func() {
		// Many sign-ins at once: with one slot and no queue, some are refused.
		var wg sync.WaitGroup
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.id.Login(ctxBg, &identityv1.LoginRequest{Email: fmt.Sprintf("u%d@acme.test", i), Password: "wrong-password-123"})
				if status.Code(err) == codes.Internal {
					t.Errorf("login: %v", err)
				}
			}()
		}
		wg.Wait()
		close(hold)
	}()
	<-hold
	if e.svc.HashRefused() == 0 {
		t.Fatal("no refusal counted")
	}
	if e.svc.HashQueue() != 0 {
		t.Fatalf("queue %d once idle", e.svc.HashQueue())
	}
}
