package e2e

import (
	"strings"
	"testing"
	"time"
)

// Attacks of the security review of issues 7, 8, 12 and 13, replayed
// through the gateway against the real binaries. Each test was written to
// fail before its fix.

// TestAttackContactOfExistingSupplierUser: any operator can link any
// supplier by its public registration number (R-DIR-3); it must not then
// name one of the supplier's existing users its reference by typing the
// user's e-mail as a new contact, and so read the details the supplier
// never chose to show it (R-DIR-8, R-DIR-6), nor learn from the answer
// whether the e-mail is a user of the supplier.
func TestAttackContactOfExistingSupplierUser(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir)
	a, alice := s.signUp("COMPANY_KIND_OPERATOR", sirets[0], "alice@customer-a.test")
	b, bob := s.signUp("COMPANY_KIND_OPERATOR", sirets[1], "bob@customer-b.test")
	sup, sam := s.signUp("COMPANY_KIND_SUPPLIER", sirets[2], "sam@supplier.test")
	const mobile = "+33 6 11 22 33 44"
	s.expect(s.do("PATCH", "/v1/me?updateMask=mobile,function", map[string]any{"mobile": mobile, "function": "Owner"}, sam.token), 200, "Sam's details")
	supID := strings.TrimPrefix(sup, "companies/")

	// A links the supplier with a contact of its own: fine (R-DIR-5).
	s.expect(s.do("POST", "/v1/"+a+"/suppliers", supplierBody(sirets[2], "x", "carl@supplier.test"), alice.token), 200, "A links S")
	contacts := func(customer string, tok string) string {
		return string(s.expect(s.do("GET", "/v1/"+customer+"/suppliers/"+supID+"/contacts", nil, tok), 200, "contacts").Body)
	}
	leaks := func(body string) bool {
		return strings.Contains(body, mobile) || strings.Contains(body, "Owner") || strings.Contains(body, "Admin")
	}

	t.Run("CreateContact with an existing user's e-mail", func(t *testing.T) {
		r := s.do("POST", "/v1/"+a+"/suppliers/"+supID+"/contacts",
			map[string]any{"email": "sam@supplier.test", "givenName": "Typed", "familyName": "ByAlice"}, alice.token)
		if r.Status != 400 || !strings.Contains(string(r.Body), "contact") || leaks(string(r.Body)) {
			t.Fatalf("the answer shows the supplier's user as the supplier knows it: %d %s", r.Status, r.Body)
		}
		if body := contacts(a, alice.token); strings.Contains(body, "sam@supplier.test") || leaks(body) {
			t.Fatalf("A made the supplier's Administrator its reference and reads its details: %s", body)
		}
	})

	t.Run("CreateSupplier with an existing user's e-mail as contact", func(t *testing.T) {
		s.expect(s.do("POST", "/v1/"+b+"/suppliers", supplierBody(sirets[2], "x", "sam@supplier.test"), bob.token), 200, "B links S")
		// The contact is sent to identity right after the answer; give it
		// the time to land before looking.
		var body string
		for range 30 {
			if body = contacts(b, bob.token); strings.Contains(body, "sam@") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if strings.Contains(body, "sam@supplier.test") || leaks(body) {
			t.Fatalf("B made the supplier's Administrator its reference and reads its details: %s", body)
		}
	})

	t.Run("the supplier still names its references", func(t *testing.T) {
		me := str(s.expect(s.do("GET", "/v1/me", nil, sam.token), 200, "me").JSON(t), "name")
		s.expect(s.do("PATCH", "/v1/"+sup+"/customers/"+strings.TrimPrefix(a, "companies/"), map[string]any{"references": []string{me}}, sam.token),
			200, "S names Sam A's reference")
		body := contacts(a, alice.token)
		if !strings.Contains(body, "sam@supplier.test") || !strings.Contains(body, mobile) {
			t.Fatalf("a reference the supplier named is shown with its details (R-DIR-8): %s", body)
		}
	})
}

// TestAttackStolenTokenEnrolsTOTP: a stolen access token (no password) must
// not turn on two-factor with the thief's authenticator. Once on, the owner
// can neither sign in nor reset the password nor turn it off (each takes a
// code: R-ID-8, issue 7 point 3), and no Administrator may change another
// person's second factor (R-ID-10): the account is lost for good. Turning
// two-factor on takes the password, as turning it off does (ASVS V3.7.1).
func TestAttackStolenTokenEnrolsTOTP(t *testing.T) {
	s := startSuite(t, "")
	_, victim := s.signUp("COMPANY_KIND_OPERATOR", sirets[0], "victim@customer.test")
	stolen := victim.token

	enrol := s.expect(s.do("POST", "/v1/me/totp:enroll", map[string]any{}, stolen), 200, "enrol with a stolen token").JSON(t)
	secret := str(enrol, "secret")
	step := time.Now().Unix() / 30
	r := s.do("POST", "/v1/me/totp:confirm", map[string]any{"code": totpCode(t, secret, step)}, stolen)
	if r.Status == 200 {
		t.Fatalf("a stolen access token turned two-factor on without the password")
	}
	if r.Status != 400 || !strings.Contains(string(r.Body), "password") {
		t.Fatalf("confirm without the password: %d %s, want 400 naming password", r.Status, r.Body)
	}
	r = s.do("POST", "/v1/me/totp:confirm", map[string]any{"code": totpCode(t, secret, step), "password": "not the password!"}, stolen)
	if r.Status != 401 || !strings.Contains(string(r.Body), "password") {
		t.Fatalf("confirm with a wrong password: %d %s, want 401 naming password", r.Status, r.Body)
	}
	// Nothing changed: the owner signs in with the password alone.
	s.expect(s.login(victim.email, password), 200, "the owner still signs in without a code")

	// The owner, who knows the password, turns it on.
	enrol = s.expect(s.do("POST", "/v1/me/totp:enroll", map[string]any{}, victim.token), 200, "enrol").JSON(t)
	secret = str(enrol, "secret")
	s.expect(s.do("POST", "/v1/me/totp:confirm", map[string]any{"code": totpCode(t, secret, step), "password": password}, victim.token), 200, "confirm")
	s.expect(s.login(victim.email, password), 401, "a code is now required")
}

// TestAttackSignUpAsPlatformAdministrator: platform administrators are the
// e-mails the operator lists (R-ID-11), but a sign-up never proves that the
// person holds the e-mail it gives. Whoever signs up first with a listed
// e-mail that has no login yet (the usual state right after installation)
// must not get platform rights (imports for any customer, jobs, dead
// letters): they apply once the e-mail is proven by a link sent to it (an
// accepted invitation, a password reset).
func TestAttackSignUpAsPlatformAdministrator(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir, "VIGIL_PLATFORM_ADMINS=root@platform.test")
	victim, alice := s.signUp("COMPANY_KIND_OPERATOR", sirets[0], "alice@customer.test")
	_, squatter := s.signUp("COMPANY_KIND_OPERATOR", sirets[1], "root@platform.test")

	if c := tokenClaims(t, squatter.token); c["padm"] == true {
		t.Errorf("a sign-up with a listed, unproven e-mail carries platform rights: %v", c)
	}
	before := string(s.expect(s.do("GET", "/v1/"+victim+"/supplierImports", nil, alice.token), 200, "A's imports").Body)
	r := s.do("POST", "/v1/"+victim+"/supplierImports", map[string]any{"csv": "siret;name\n" + siren(7) + ";Squatted\n"}, squatter.token)
	if r.Status != 403 {
		t.Errorf("an unproven platform e-mail ran an import for another customer: %d %s", r.Status, r.Body)
	}
	if after := string(s.do("GET", "/v1/"+victim+"/supplierImports", nil, alice.token).Body); after != before {
		t.Errorf("the refused import changed A's imports:\n%s\n%s", before, after)
	}
	s.expect(s.settled("GET", "/v1/deadLetters", squatter.token), 403, "dead letters with an unproven platform e-mail")

	// The e-mail's owner proves it (a reset link reaches it): platform
	// rights apply from the next sign-in.
	s.expect(s.do("POST", "/v1/auth:requestPasswordReset", map[string]any{"email": "root@platform.test"}, ""), 200, "reset request")
	link := s.mailLink(dataDir, "root@platform.test", "/reset-password")
	const fresh = "the owner's own passphrase"
	s.expect(s.do("POST", "/v1/auth:resetPassword", map[string]any{"token": link, "newPassword": fresh}, ""), 200, "reset")
	owner := str(s.expect(s.login("root@platform.test", fresh), 200, "owner's sign-in").JSON(t), "accessToken")
	if c := tokenClaims(t, owner); c["padm"] != true {
		t.Fatalf("a proven platform e-mail lacks platform rights: %v", c)
	}
	s.expect(s.settled("GET", "/v1/deadLetters", owner), 200, "dead letters with a proven platform e-mail")
}

// settled sends a bodiless request again while a service answers 503 (its
// first fetch of identity's keys may meet a connection still coming up on
// a loaded machine), for up to 5 s.
func (s *suite) settled(method, path, token string) response {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := s.do(method, path, nil, token)
		if r.Status != 503 || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}
