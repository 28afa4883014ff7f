package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/identity/internal/app"
	"github.com/vigil/vigil/services/identity/internal/boltstore"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/auth"
)

// TestDeactivationAndDeletionEndSessions: issue 7 point 4 (ASVS V7.4.2). A
// refresh token from before a deactivation never works again, not even
// after reactivation; after a deletion and re-adding the e-mail, the old
// refresh token opens nothing.
func TestDeactivationAndDeletionEndSessions(t *testing.T) {
	e := newEnv(t)
	a := e.signUp(operator, "ada@acme.test")
	b := e.invite(a, "bob@acme.test", admin)
	if _, err := e.id.DeactivateUser(a.ctx(), &identityv1.DeactivateUserRequest{Name: b.member}); err != nil {
		t.Fatal(err)
	}
	_, err := e.id.Refresh(ctxBg, &identityv1.RefreshRequest{RefreshToken: b.refresh})
	wantCode(t, err, codes.Unauthenticated)
	e.clock.Advance(time.Second)
	if _, err := e.id.ActivateUser(a.ctx(), &identityv1.ActivateUserRequest{Name: b.member}); err != nil {
		t.Fatal(err)
	}
	_, err = e.id.Refresh(ctxBg, &identityv1.RefreshRequest{RefreshToken: b.refresh})
	wantCode(t, err, codes.Unauthenticated)
	if evs := e.auditActions(a, a.company); contains(evs, "session.revoke") != 1 {
		t.Fatalf("the ended session is in the audit log: %v", evs)
	}
	// Signed in again, then deleted and invited back: the old refresh token
	// stays dead, the old access token too.
	again, err := e.login(b.email, a.company)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.id.DeleteUser(a.ctx(), &identityv1.DeleteUserRequest{Name: b.member}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.id.CreateUser(a.ctx(), &identityv1.CreateUserRequest{Parent: a.company,
		User: &identityv1.User{Email: b.email, GivenName: "Bob", FamilyName: "B", Role: admin}}); err != nil {
		t.Fatal(err)
	}
	tok := linkToken(t, e.notify.next(t, b.email, notifyv1.Template_TEMPLATE_INVITATION))
	if _, err := e.id.AcceptInvitation(ctxBg, &identityv1.AcceptInvitationRequest{Token: tok, Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	_, err = e.id.Refresh(ctxBg, &identityv1.RefreshRequest{RefreshToken: again.GetRefreshToken()})
	wantCode(t, err, codes.Unauthenticated)
	_, err = e.id.ListUsers(bearer(again.GetAccessToken()), &identityv1.ListUsersRequest{Parent: a.company})
	wantCode(t, err, codes.Unauthenticated)
}

// TestDisableTotpNeedsThePasswordAndIsThrottled: issue 7 point 3. Turning
// two-factor off takes the password and a code; wrong ones count as failed
// sign-ins, and the guesses stop after the free ones.
func TestDisableTotpNeedsThePasswordAndIsThrottled(t *testing.T) {
	e := newEnv(t, withClockAt(time.Now().Add(-2*time.Minute)))
	a := e.signUp(operator, "ada@acme.test")
	secret := e.enrolTOTP(a)
	_, err := e.id.DisableTotp(a.ctx(), &identityv1.DisableTotpRequest{Code: e.code(secret)})
	wantCode(t, err, codes.InvalidArgument) // password: required
	_, err = e.id.DisableTotp(a.ctx(), &identityv1.DisableTotpRequest{Code: e.code(secret), Password: "not-the-password"})
	if reason(err) != "INVALID_CREDENTIALS" {
		t.Fatalf("wrong password: %v", err)
	}
	guess := &identityv1.DisableTotpRequest{Password: goodPassword, Code: e.wrongCode(secret)}
	for i := 0; i < 3; i++ {
		if _, err := e.id.DisableTotp(a.ctx(), guess); reason(err) != "INVALID_TOTP_CODE" {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	_, err = e.id.DisableTotp(a.ctx(), guess)
	wantCode(t, err, codes.ResourceExhausted)
	me, _ := e.id.GetMe(a.ctx(), &identityv1.GetMeRequest{})
	if !me.GetTwoFactorEnabled() {
		t.Fatal("refused calls turned two-factor off")
	}
	e.clock.Advance(5 * time.Second)
	if _, err := e.id.DisableTotp(a.ctx(), &identityv1.DisableTotpRequest{Password: goodPassword, Code: e.code(secret)}); err != nil {
		t.Fatalf("password and code: %v", err)
	}
	if me, _ := e.id.GetMe(a.ctx(), &identityv1.GetMeRequest{}); me.GetTwoFactorEnabled() {
		t.Fatal("still enabled")
	}
}

// TestSignUpIsUndoneAfterACrash: issue 7 point 6. The second step of a
// sign-up fails and its compensation cannot reach directory (what a crash
// between the two leaves behind): once the sign-up expires, identity —
// restarted on the same data — deletes the company, and the registration
// number signs up again.
func TestSignUpIsUndoneAfterACrash(t *testing.T) {
	dir := newFakeDirectory()
	data := t.TempDir()
	fs := &failingStore{}
	first := newEnv(t, withDataDir(data), withDirectory(dir), withStore(func(s domain.Store) domain.Store { fs.Store = s; return fs }))
	fs.armed.Store(true)
	dir.noDelete = true
	req := &identityv1.SignUpRequest{
		Company: &identityv1.SignUpCompany{LegalName: "Half", Kind: supplier, Country: "FR", RegistrationNumber: "732829320"},
		Admin:   &identityv1.SignUpAdmin{Email: "half@acme.test", GivenName: "H", FamilyName: "H", Password: goodPassword},
	}
	_, err := first.id.SignUp(ctxBg, req)
	wantCode(t, err, codes.Internal)
	if dir.count() != 1 {
		t.Fatalf("the company should still be in directory (compensation failed): %d", dir.count())
	}
	first.stop()
	// The answer of a second sign-up was lost on its way back: directory
	// created the company, identity heard nothing.
	dir.mu.Lock()
	dir.noDelete, dir.loseAnswer = false, true
	dir.mu.Unlock()
	second := newEnv(t, withDataDir(data), withDirectory(dir))
	lost := &identityv1.SignUpRequest{
		Company: &identityv1.SignUpCompany{LegalName: "Lost", Kind: operator, Country: "FR", RegistrationNumber: "552100554"},
		Admin:   &identityv1.SignUpAdmin{Email: "lost@acme.test", GivenName: "L", FamilyName: "L", Password: goodPassword},
	}
	_, err = second.id.SignUp(ctxBg, lost)
	wantCode(t, err, codes.Unavailable)
	dir.mu.Lock()
	dir.loseAnswer = false
	dir.mu.Unlock()
	if dir.count() != 2 {
		t.Fatalf("directory holds %d companies, want 2 orphans", dir.count())
	}
	second.stop()
	// Restarted after the sign-ups expired: both are undone at start.
	third := newEnv(t, withDataDir(data), withDirectory(dir), withClockAt(time.Now().Add(2*time.Minute)))
	waitFor(t, "orphan companies deleted", func() bool { return dir.count() == 0 })
	third.stop()
	fourth := newEnv(t, withDataDir(data), withDirectory(dir))
	if _, err := fourth.id.SignUp(ctxBg, req); err != nil {
		t.Fatalf("the number signs up again: %v", err)
	}
	if _, err := fourth.id.SignUp(ctxBg, lost); err != nil {
		t.Fatalf("the lost one signs up again: %v", err)
	}
}

// TestSignUpFailingOnlyInDirectoryLeavesNothing: a definitive refusal by
// directory created nothing, and leaves no pending sign-up to recover.
func TestSignUpFailingOnlyInDirectoryLeavesNothing(t *testing.T) {
	e := newEnv(t)
	_, err := e.id.SignUp(ctxBg, &identityv1.SignUpRequest{
		Company: &identityv1.SignUpCompany{LegalName: "Bad", Kind: operator, Country: "FR", RegistrationNumber: "000"},
		Admin:   &identityv1.SignUpAdmin{Email: "bad@acme.test", GivenName: "B", FamilyName: "B", Password: goodPassword},
	})
	wantCode(t, err, codes.InvalidArgument)
	e.clock.Advance(2 * time.Minute)
	if err := e.svc.RecoverSignUps(ctxBg); err != nil {
		t.Fatal(err)
	}
	if e.dir.count() != 0 || e.dir.created() != 0 {
		t.Fatalf("recovery replayed a refused sign-up: %d companies, %d created", e.dir.count(), e.dir.created())
	}
}

// TestSecretsNeverRestInClear: issue 7 point 8. TOTP secrets (pending and
// confirmed) and signing-key seeds reach the data file only sealed; a wrong
// key cannot start identity on it, and no key at all is refused.
func TestSecretsNeverRestInClear(t *testing.T) {
	data := t.TempDir()
	e := newEnv(t, withDataDir(data), withClockAt(time.Now().Add(-2*time.Minute)))
	a := e.signUp(operator, "ada@acme.test")
	enr, err := e.id.EnrollTotp(a.ctx(), &identityv1.EnrollTotpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := decodeSecret(enr.GetSecret())
	file := filepath.Join(data, "identity", "identity.db")
	assertNotIn := func(what string, secret []byte) {
		t.Helper()
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range [][]byte{secret, []byte(base64.StdEncoding.EncodeToString(secret)), []byte(enr.GetSecret())} {
			if bytes.Contains(raw, form) {
				t.Fatalf("%s found in clear in the data file", what)
			}
		}
	}
	assertNotIn("pending TOTP secret", secret)
	if _, err := e.id.ConfirmTotp(a.ctx(), &identityv1.ConfirmTotpRequest{Code: e.code(secret), Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	assertNotIn("TOTP secret", secret)
	e.stop()
	store, err := boltstore.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	var keys []*domain.SigningKey
	_ = store.View(ctxBg, func(tx domain.Tx) error { keys, err = tx.SigningKeys(); return err })
	_ = store.Close()
	if len(keys) == 0 {
		t.Fatal("no signing key stored")
	}
	for _, k := range keys {
		if len(k.Seed) != 0 || len(k.SealedSeed) == 0 {
			t.Fatalf("key %s stored with a clear seed", k.ID)
		}
	}
	// Another key cannot open them: identity refuses to start.
	wrong := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(wrong, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.ParseConfig([]string{"--data-dir", data, "--secret-key-file", wrong, "--metrics-addr", "", "--identity-addr", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Run(ctx, cfg, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "secret key") {
		t.Fatalf("identity started with a key that does not open its secrets: %v", err)
	}
	if _, err := app.ParseConfig([]string{"--data-dir", data, "--secret-key-file", ""}); err == nil || !strings.Contains(err.Error(), "secret-key-file") {
		t.Fatalf("identity accepts to run without a secret key: %v", err)
	}
}

// TestClearSecretsOfAnOlderFileAreSealed: a file written before sealing
// (clear TOTP secret, clear key seed) works after the upgrade, sealed.
func TestClearSecretsOfAnOlderFileAreSealed(t *testing.T) {
	data := t.TempDir()
	e := newEnv(t, withDataDir(data), withClockAt(time.Now().Add(-2*time.Minute)))
	a := e.signUp(operator, "ada@acme.test")
	secret := e.enrolTOTP(a)
	e.stop()
	// Rewrite the records as the older version stored them.
	file := filepath.Join(data, "identity", "identity.db")
	store, err := boltstore.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	err = store.Update(ctxBg, func(tx domain.Tx) error {
		l, err := tx.LoginByEmail("ada@acme.test")
		if err != nil {
			return err
		}
		l.TOTPSecret, l.TOTPSealed = secret, nil
		return tx.PutLogin(l)
	})
	_ = store.Close()
	if err != nil {
		t.Fatal(err)
	}
	// ... and without the marker the sealing left (an older file has none).
	db, err := bolt.Open(file, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("flag:secrets_sealed_v1")) }); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	e2 := newEnv(t, withDataDir(data), withClockAt(e.clock.Now().Add(time.Minute)))
	if _, err := e2.id.Login(ctxBg, &identityv1.LoginRequest{Email: "ada@acme.test", Password: goodPassword, TotpCode: e2.code(secret)}); err != nil {
		t.Fatalf("sign-in with the older file's authenticator: %v", err)
	}
	e2.stop()
	store, _ = boltstore.Open(file)
	defer store.Close()
	_ = store.View(ctxBg, func(tx domain.Tx) error {
		l, err := tx.LoginByEmail("ada@acme.test")
		if err != nil || len(l.TOTPSecret) != 0 || len(l.TOTPSealed) == 0 {
			t.Fatalf("not sealed at start: %+v %v", l, err)
		}
		return nil
	})
}

// TestRequiringTwoFactorLimitsTokensAtOnce: issue 7 point 9, R-ID-8. When
// an Administrator requires two-factor, the tokens members without an
// authenticator already hold are limited to enrolment at once; an enrolled
// member's are not.
func TestRequiringTwoFactorLimitsTokensAtOnce(t *testing.T) {
	e := newEnv(t, withClockAt(time.Now().Add(-2*time.Minute)))
	a := e.signUp(operator, "ada@acme.test")
	e.enrolTOTP(a)
	b := e.invite(a, "bob@acme.test", power)
	w, cancel := e.watch(0)
	defer cancel()
	if _, err := e.id.ListUsers(b.ctx(), &identityv1.ListUsersRequest{Parent: a.company}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Millisecond)
	if _, err := e.internal.SyncCompany(ctxBg, &identityv1.SyncCompanyRequest{Company: a.company, Kind: operator, RequireTwoFactor: true}); err != nil {
		t.Fatal(err)
	}
	ev := w.waitFor(t, identityv1.RevocationEvent_KIND_TWO_FACTOR_REQUIRED)
	if ev.GetUser() != b.user || ev.GetCompany() != a.company {
		t.Fatalf("event %v", ev)
	}
	_, err := e.id.ListUsers(b.ctx(), &identityv1.ListUsersRequest{Parent: a.company})
	if reason(err) != "TOTP_ENROLLMENT_REQUIRED" {
		t.Fatalf("an unenrolled member's old token: %v", err)
	}
	if _, err := e.id.EnrollTotp(b.ctx(), &identityv1.EnrollTotpRequest{}); err != nil {
		t.Fatalf("enrolment stays open: %v", err)
	}
	if _, err := e.id.ListUsers(a.ctx(), &identityv1.ListUsersRequest{Parent: a.company}); err != nil {
		t.Fatalf("an enrolled member: %v", err)
	}
	// Other services apply the same feed: a remote verifier agrees.
	remote := auth.NewVerifier(auth.NewRemoteKeys(e.id), nil)
	remote.Revocations().Apply(ev)
	if p, err := remote.Verify(ctxBg, b.access); err != nil || !p.TOTPPending {
		t.Fatalf("remote verifier: %+v %v", p, err)
	}
}

// TestSignInRightAfterReactivation: a token issued in the same second as a
// revocation, after it, is accepted (issue 7 point 9: iat had whole seconds).
func TestSignInRightAfterReactivation(t *testing.T) {
	e := newEnv(t, withClockAt(time.Now().Truncate(time.Second).Add(-time.Minute)))
	a := e.signUp(operator, "ada@acme.test")
	b := e.invite(a, "bob@acme.test", standard)
	e.clock.Advance(100 * time.Millisecond)
	if _, err := e.id.DeactivateUser(a.ctx(), &identityv1.DeactivateUserRequest{Name: b.member}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(100 * time.Millisecond)
	if _, err := e.id.ActivateUser(a.ctx(), &identityv1.ActivateUserRequest{Name: b.member}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(100 * time.Millisecond)
	r, err := e.login(b.email, a.company)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.id.GetMe(bearer(r.GetAccessToken()), &identityv1.GetMeRequest{}); err != nil {
		t.Fatalf("a token issued 100 ms after the deactivation, same second: %v", err)
	}
}

// TestPlatformAdministratorsClaim: R-ID-11. The logins in
// VIGIL_PLATFORM_ADMINS (compared normalized) carry the claim in every
// token, whatever company they sign in to, once they have proven they hold
// the e-mail (a link sent to it was used); others never. A sign-up proves
// nothing of its e-mail: whoever signs up first with a listed address
// would otherwise be a platform administrator.
func TestPlatformAdministratorsClaim(t *testing.T) {
	e := newEnv(t, withPlatformAdmins(" Boss@Vigil.Test ", "other@vigil.test"))
	boss := e.signUp(operator, "boss@vigil.test")
	ada := e.signUp(supplier, "ada@acme.test")
	verify := func(tok string) auth.Principal {
		p, err := e.svc.Verifier().Verify(ctxBg, tok)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if verify(boss.access).PlatformAdmin || verify(ada.access).PlatformAdmin {
		t.Fatal("claim on sign-up tokens, before the e-mail is proven")
	}
	if r, err := e.login("boss@vigil.test", ""); err != nil || verify(r.GetAccessToken()).PlatformAdmin {
		t.Fatalf("claim before the e-mail is proven: %v", err)
	}
	// The owner of the address uses a reset link: proven.
	if _, err := e.id.RequestPasswordReset(ctxBg, &identityv1.RequestPasswordResetRequest{Email: "boss@vigil.test"}); err != nil {
		t.Fatal(err)
	}
	link := linkToken(t, e.notify.next(t, "boss@vigil.test", notifyv1.Template_TEMPLATE_PASSWORD_RESET))
	if _, err := e.id.ResetPassword(ctxBg, &identityv1.ResetPasswordRequest{Token: link, NewPassword: goodPassword}); err != nil {
		t.Fatal(err)
	}
	r, err := e.login("boss@vigil.test", "")
	if err != nil || !verify(r.GetAccessToken()).PlatformAdmin {
		t.Fatalf("login: %v", err)
	}
	ref, err := e.id.Refresh(ctxBg, &identityv1.RefreshRequest{RefreshToken: r.GetRefreshToken()})
	if err != nil || !verify(ref.GetAccessToken()).PlatformAdmin {
		t.Fatalf("refresh: %v", err)
	}
}

// waitFor polls check for up to 10 s.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
