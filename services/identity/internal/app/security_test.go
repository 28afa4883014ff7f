package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/identity/internal/totp"
)

// enrolTOTP enrols an authenticator for a from its session and returns the
// secret; the clock moves to a fresh step so that the next code is unspent.
func (e *env) enrolTOTP(a *account) []byte {
	e.t.Helper()
	enr, err := e.id.EnrollTotp(a.ctx(), &identityv1.EnrollTotpRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	secret, err := decodeSecret(enr.GetSecret())
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.id.ConfirmTotp(a.ctx(), &identityv1.ConfirmTotpRequest{Code: totp.Code(secret, totp.Step(e.clock.Now())), Password: goodPassword}); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)
	e.secrets[a.email] = secret
	return secret
}

// code is the current TOTP code of secret; wrongCode is never accepted.
func (e *env) code(secret []byte) string { return totp.Code(secret, totp.Step(e.clock.Now())) }

func (e *env) wrongCode(secret []byte) string {
	return totp.Code(secret, totp.Step(e.clock.Now())+1000)
}

func TestSignUpWithExistingLoginNeedsSecondFactor(t *testing.T) {
	// Tokens are verified on the real clock: start the fake one early
	// enough that moving it for fresh codes keeps them valid.
	e := newEnv(t, withClockAt(time.Now().Add(-2*time.Minute)))
	a := e.signUp(operator, "ada@acme.test")
	secret := e.enrolTOTP(a)
	req := &identityv1.SignUpRequest{
		Company: &identityv1.SignUpCompany{LegalName: "Second", Kind: supplier, Country: "FR", RegistrationNumber: "552100554"},
		Admin:   &identityv1.SignUpAdmin{Email: "ada@acme.test", GivenName: "Ada", FamilyName: "Admin", Password: goodPassword},
	}
	// The password alone opens no session (it would reach Ada's company
	// with one SwitchCompany), and creates no company.
	_, err := e.id.SignUp(ctxBg, req)
	wantCode(t, err, codes.Unauthenticated)
	if reason(err) != "TOTP_REQUIRED" {
		t.Fatalf("reason %q", reason(err))
	}
	req.Admin.TotpCode = e.wrongCode(secret)
	_, err = e.id.SignUp(ctxBg, req)
	if reason(err) != "INVALID_TOTP_CODE" {
		t.Fatalf("wrong code: %v", err)
	}
	if e.dir.count() != 1 {
		t.Fatalf("directory holds %d companies, want 1", e.dir.count())
	}
	req.Admin.TotpCode = e.code(secret)
	resp, err := e.id.SignUp(ctxBg, req)
	if err != nil {
		t.Fatalf("sign-up with code: %v", err)
	}
	// The code is spent, and the session goes on to the first company.
	_, err = e.id.Login(ctxBg, &identityv1.LoginRequest{Email: "ada@acme.test", Password: goodPassword, TotpCode: req.Admin.TotpCode})
	if reason(err) != "INVALID_TOTP_CODE" {
		t.Fatalf("code accepted twice: %v", err)
	}
	if _, err := e.id.SwitchCompany(bearer(resp.GetAccessToken()), &identityv1.SwitchCompanyRequest{Company: a.company,
		RefreshToken: resp.GetRefreshToken()}); err != nil {
		t.Fatalf("switch from a two-factor sign-up: %v", err)
	}
}

func TestSessionWithoutSecondFactorEndsOnceEnrolled(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	// Two more sessions signed in with the password alone: a login, and a
	// sign-up of a second company.
	other, err := e.login("ada@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.id.SignUp(ctxBg, &identityv1.SignUpRequest{
		Company: &identityv1.SignUpCompany{LegalName: "Second", Kind: supplier, Country: "FR", RegistrationNumber: "552100554"},
		Admin:   &identityv1.SignUpAdmin{Email: "ada@acme.test", GivenName: "Ada", FamilyName: "Admin", Password: goodPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.enrolTOTP(a)
	// Once the login has two-factor, they neither refresh nor switch.
	_, err = e.id.Refresh(ctxBg, &identityv1.RefreshRequest{RefreshToken: other.GetRefreshToken()})
	wantCode(t, err, codes.Unauthenticated)
	if reason(err) != "SECOND_FACTOR_MISSING" {
		t.Fatalf("refresh: reason %q", reason(err))
	}
	_, err = e.id.SwitchCompany(bearer(second.GetAccessToken()), &identityv1.SwitchCompanyRequest{Company: a.company,
		RefreshToken: second.GetRefreshToken()})
	if reason(err) != "SECOND_FACTOR_MISSING" {
		t.Fatalf("switch: %v", err)
	}
	// Refused means ended: its access token is revoked too.
	e.clock.Advance(2 * time.Second)
	_, err = e.id.GetMe(bearer(second.GetAccessToken()), &identityv1.GetMeRequest{})
	wantCode(t, err, codes.Unauthenticated)
	// The session that confirmed the authenticator goes on.
	if _, err := e.id.Refresh(ctxBg, &identityv1.RefreshRequest{RefreshToken: a.refresh}); err != nil {
		t.Fatalf("enrolling session: %v", err)
	}
}

func TestResetPasswordCodeGuessingIsThrottled(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	secret := e.enrolTOTP(a)
	_, _ = e.id.RequestPasswordReset(ctxBg, &identityv1.RequestPasswordResetRequest{Email: "ada@acme.test"})
	tok := linkToken(t, e.notify.next(t, "ada@acme.test", notifyv1.Template_TEMPLATE_PASSWORD_RESET))
	guess := &identityv1.ResetPasswordRequest{Token: tok, NewPassword: "another-good-passphrase", TotpCode: e.wrongCode(secret)}
	// As for sign-in: 3 free failures, then a 4th attempt, then slowed.
	for i := 0; i < 4; i++ {
		_, err := e.id.ResetPassword(ctxBg, guess)
		if reason(err) != "INVALID_TOTP_CODE" {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	_, err := e.id.ResetPassword(ctxBg, guess)
	wantCode(t, err, codes.ResourceExhausted)
	// The guesses count for the account's sign-in too, and the link still
	// works for its owner once the delay is over.
	_, err = e.id.Login(ctxBg, &identityv1.LoginRequest{Email: "ada@acme.test", Password: goodPassword, TotpCode: e.code(secret)})
	wantCode(t, err, codes.ResourceExhausted)
	e.clock.Advance(2 * time.Second)
	guess.TotpCode = e.code(secret)
	if _, err := e.id.ResetPassword(ctxBg, guess); err != nil {
		t.Fatalf("reset with the right code: %v", err)
	}
}

func TestChangePasswordCountsWrongCodes(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	secret := e.enrolTOTP(a)
	guess := &identityv1.ChangePasswordRequest{CurrentPassword: goodPassword, NewPassword: "fresh-new-passphrase", TotpCode: e.wrongCode(secret)}
	for i := 0; i < 4; i++ {
		_, err := e.id.ChangePassword(a.ctx(), guess)
		if reason(err) != "INVALID_TOTP_CODE" {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	_, err := e.id.ChangePassword(a.ctx(), guess)
	wantCode(t, err, codes.ResourceExhausted)
}

// gateStore holds read transactions while armed until n have arrived (or
// a deadline passes), so that parallel sign-ins have all passed their
// throttle check before any of them reaches its password check.
type gateStore struct {
	domain.Store
	mu      sync.Mutex
	armed   bool
	waiting int
	n       int
	open    chan struct{}
}

func (s *gateStore) arm(n int) {
	s.mu.Lock()
	s.armed, s.waiting, s.n, s.open = true, 0, n, make(chan struct{})
	s.mu.Unlock()
}

func (s *gateStore) View(ctx context.Context, fn func(domain.Tx) error) error {
	s.mu.Lock()
	if s.armed {
		open := s.open
		if s.waiting++; s.waiting == s.n {
			close(open)
			s.armed = false
		}
		s.mu.Unlock()
		select {
		case <-open:
		case <-time.After(500 * time.Millisecond):
		}
	} else {
		s.mu.Unlock()
	}
	return s.Store.View(ctx, fn)
}

func TestParallelWrongPasswordsCannotOutrunThrottle(t *testing.T) {
	gs := &gateStore{}
	e := newEnv(t, withStore(func(s domain.Store) domain.Store { gs.Store = s; return gs }), withHashing(fastHash, 32, 64))
	e.signUp(operator, "ada@acme.test")
	const n = 30
	gs.arm(n)
	var wg sync.WaitGroup
	var invalid, exhausted atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.id.Login(ctxBg, &identityv1.LoginRequest{Email: "ada@acme.test", Password: "wrong-password-123"})
			switch {
			case reason(err) == "INVALID_CREDENTIALS":
				invalid.Add(1)
			case status.Code(err) == codes.ResourceExhausted && reason(err) != "HASHING_CAPACITY":
				exhausted.Add(1)
			default:
				t.Errorf("login: %v", err)
			}
		}()
	}
	wg.Wait()
	// Attempts in flight count as failures, so no more are checked than one
	// at a time would be before the first delay: 3 free failures and the
	// 4th attempt. Hashing workers add nothing to that bound.
	if got := invalid.Load(); got > 4 || got == 0 || exhausted.Load() != n-got {
		t.Fatalf("%d passwords checked, %d refused; want at most 4 checked", got, exhausted.Load())
	}
}

// TestSharedAddressSignsManyInAtOnce: many people behind one address (an
// office, a NAT) sign in at the same moment; only failures count against
// the address, so none of them is refused (R-ID-5 limits guessing, not use).
func TestSharedAddressSignsManyInAtOnce(t *testing.T) {
	gs := &gateStore{}
	e := newEnv(t, withStore(func(s domain.Store) domain.Store { gs.Store = s; return gs }), withHashing(fastHash, 32, 64))
	const n = 30
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%d@acme.test", i)
		e.signUp(operator, emails[i])
	}
	gs.arm(n)
	var wg sync.WaitGroup
	var refused atomic.Int32
	for _, email := range emails {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.login(email, ""); err != nil {
				refused.Add(1)
				t.Errorf("login %s: %v", email, err)
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 0 {
		t.Fatalf("%d of %d simultaneous sign-ins from one address refused", refused.Load(), n)
	}
}

func TestPasswordChangeEndsOlderResetLinks(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	requestReset := func() string {
		_, _ = e.id.RequestPasswordReset(ctxBg, &identityv1.RequestPasswordResetRequest{Email: "ada@acme.test"})
		return linkToken(t, e.notify.next(t, "ada@acme.test", notifyv1.Template_TEMPLATE_PASSWORD_RESET))
	}
	old := requestReset()
	if _, err := e.id.ChangePassword(a.ctx(), &identityv1.ChangePasswordRequest{CurrentPassword: goodPassword,
		NewPassword: "fresh-new-passphrase"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.id.ResetPassword(ctxBg, &identityv1.ResetPasswordRequest{Token: old, NewPassword: "attacker-passphrase"})
	wantCode(t, err, codes.Unauthenticated)
	if reason(err) != "INVALID_LINK_TOKEN" {
		t.Fatalf("link older than the change: reason %q", reason(err))
	}
	// A reset ends the other outstanding links as well as its own.
	first, second := requestReset(), requestReset()
	if _, err := e.id.ResetPassword(ctxBg, &identityv1.ResetPasswordRequest{Token: second, NewPassword: "brand-new-passphrase"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.id.ResetPassword(ctxBg, &identityv1.ResetPasswordRequest{Token: first, NewPassword: "attacker-passphrase"})
	if reason(err) != "INVALID_LINK_TOKEN" {
		t.Fatalf("link older than the reset: %v", err)
	}
}

func TestReviewAskedAgainWhenContactReadded(t *testing.T) {
	e := newEnv(t)
	customer := e.signUp(operator, "ada@acme.test")
	if _, err := e.internal.SyncCompany(ctxBg, &identityv1.SyncCompanyRequest{Company: "companies/sup1", Kind: supplier, DisplayName: "Sup One"}); err != nil {
		t.Fatal(err)
	}
	add := func(email string) *identityv1.AddMemberResponse {
		r, err := e.internal.AddMember(ctxBg, &identityv1.AddMemberRequest{Company: "companies/sup1", Email: email, GivenName: "C",
			FamilyName: "Contact", InvitedBy: customer.company, Actor: customer.user})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	add("first@sup.test")
	mail := e.notify.next(t, "first@sup.test", notifyv1.Template_TEMPLATE_INVITATION)
	supAdmin, err := e.id.AcceptInvitation(ctxBg, &identityv1.AcceptInvitationRequest{Token: linkToken(t, mail), Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	second := add("second@sup.test")
	e.notify.next(t, "first@sup.test", notifyv1.Template_TEMPLATE_REVIEW_NEW_USER)
	if _, err := e.id.DeleteUser(bearer(supAdmin.GetAccessToken()), &identityv1.DeleteUserRequest{Name: second.GetUser().GetName()}); err != nil {
		t.Fatal(err)
	}
	if !add("second@sup.test").GetCreated() {
		t.Fatal("re-added contact not created")
	}
	review := e.notify.next(t, "first@sup.test", notifyv1.Template_TEMPLATE_REVIEW_NEW_USER)
	if review.GetData().GetFields()["new_user_email"].GetStringValue() != "second@sup.test" {
		t.Fatalf("review data: %v", review.GetData())
	}
}

// TestAddMemberRefusesAnotherCustomersExistingUser: a customer's contact
// (R-DIR-5) that is already a user of the supplier, and was not brought by
// this customer, is refused: directory would make it the customer's
// reference and show the customer the supplier's own details of that user
// (R-DIR-8). The customer that brought a contact may add it again (a
// retry), the answer carrying nothing it did not give.
func TestAddMemberRefusesAnotherCustomersExistingUser(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	b := e.signUp(operator, "bob@other.test")
	sup := e.signUp(supplier, "sam@sup.test")
	if _, err := e.id.UpdateMe(sup.ctx(), &identityv1.UpdateMeRequest{User: &identityv1.User{Mobile: "+33 6 11 22 33 44"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"mobile"}}}); err != nil {
		t.Fatal(err)
	}
	add := func(customer *account, email string) (*identityv1.AddMemberResponse, error) {
		return e.internal.AddMember(ctxBg, &identityv1.AddMemberRequest{Company: sup.company, Email: email, GivenName: "Typed",
			FamilyName: "ByCustomer", InvitedBy: customer.company, Actor: customer.user})
	}
	// The supplier's own Administrator, typed in by a customer.
	r, err := add(a, "sam@sup.test")
	wantCode(t, err, codes.FailedPrecondition)
	if reason(err) != "ALREADY_A_USER" || strings.Contains(err.Error(), "+33") || r != nil {
		t.Fatalf("answer %v %v", r, err)
	}
	// A's own contact: created, and A may send it again.
	first, err := add(a, "carl@sup.test")
	if err != nil || !first.GetCreated() {
		t.Fatalf("A's contact: %v %v", first, err)
	}
	again, err := add(a, "carl@sup.test")
	if err != nil || again.GetCreated() || again.GetUser().GetName() != first.GetUser().GetName() {
		t.Fatalf("A's retry: %v %v", again, err)
	}
	// B may not take A's contact as its own.
	_, err = add(b, "carl@sup.test")
	wantCode(t, err, codes.FailedPrecondition)
	// Nothing was written by the refusals.
	n, err := e.internal.CountMembers(ctxBg, &identityv1.CountMembersRequest{Company: sup.company})
	if err != nil || n.GetTotalCount() != 2 {
		t.Fatalf("members: %v %v", n, err)
	}
}

// TestConfirmTotpTakesThePassword: an access token alone (a stolen one)
// must not turn two-factor on with the thief's authenticator, which would
// lock the owner out for good; a wrong password is refused and throttled
// as a sign-in is, and changes nothing.
func TestConfirmTotpTakesThePassword(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	enr, err := e.id.EnrollTotp(a.ctx(), &identityv1.EnrollTotpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := decodeSecret(enr.GetSecret())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.id.ConfirmTotp(a.ctx(), &identityv1.ConfirmTotpRequest{Code: e.code(secret)})
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "password") {
		t.Fatalf("the refusal must name password: %v", err)
	}
	for range 5 {
		_, err = e.id.ConfirmTotp(a.ctx(), &identityv1.ConfirmTotpRequest{Code: e.code(secret), Password: "not-the-password-1"})
		if code := status.Code(err); code != codes.Unauthenticated && code != codes.ResourceExhausted {
			t.Fatalf("wrong password: %v", err)
		}
	}
	// Five failures slow the account down, as at sign-in.
	_, err = e.id.ConfirmTotp(a.ctx(), &identityv1.ConfirmTotpRequest{Code: e.code(secret), Password: goodPassword})
	wantCode(t, err, codes.ResourceExhausted)
	e.clock.Advance(time.Hour) // past the throttle
	if _, err := e.login("ada@acme.test", ""); err != nil {
		t.Fatalf("the owner must still sign in without a code: %v", err)
	}
	if _, err := e.id.ConfirmTotp(a.ctx(), &identityv1.ConfirmTotpRequest{Code: e.code(secret), Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.login("ada@acme.test", ""); err == nil {
		t.Fatal("once on, a sign-in takes a code")
	}
}
