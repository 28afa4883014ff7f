package e2e

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"
)

// totpCode computes the RFC 6238 code (SHA-1, 30 s, 6 digits) of secret at
// the time step `step`, as an authenticator app would.
func totpCode(t *testing.T, secret string, step int64) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		t.Fatalf("secret %q is not base32: %v", secret, err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", code%1_000_000)
}

// TestSecurityFlows: two factors (R-ID-8), password resets (R-ID-6), the
// audit log (R-ID-9) and extended permissions (R-DIR-10) through the gateway.
func TestSecurityFlows(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir)
	company, admin := s.signUp("COMPANY_KIND_OPERATOR", sirets[3], "otto@operator.test")
	power := s.invite(dataDir, company, admin, "paula@operator.test", "ROLE_POWER_USER")
	restricted := s.invite(dataDir, company, admin, "rene@operator.test", "")

	t.Run("R-ID-1 default role of an operator", func(t *testing.T) {
		u := s.expect(s.do("GET", "/v1/"+restricted.user, nil, admin.token), 200, "get user").JSON(t)
		if u["role"] != "ROLE_RESTRICTED_USER" {
			t.Fatalf("an operator's new user is a Restricted user, got %v", u["role"])
		}
	})

	t.Run("R-ID-8 TOTP, each code accepted once", func(t *testing.T) {
		enrol := s.expect(s.do("POST", "/v1/me/totp:enroll", map[string]any{}, power.token), 200, "enrol").JSON(t)
		secret, _ := enrol["secret"].(string)
		if secret == "" || !strings.HasPrefix(fmt.Sprint(enrol["otpauthUrl"]), "otpauth://totp/") {
			t.Fatalf("enrolment answer: %v", enrol)
		}
		step := time.Now().Unix() / 30
		s.expect(s.do("POST", "/v1/me/totp:confirm", map[string]any{"code": totpCode(t, secret, step), "password": password}, power.token), 200, "confirm")
		if r := s.login(power.email, power.password); r.Status != 401 {
			t.Fatalf("login without a code once enrolled: HTTP %d %s", r.Status, r.Body)
		}
		next := totpCode(t, secret, step+1) // one step of tolerance
		login := map[string]any{"email": power.email, "password": power.password, "totpCode": next}
		s.expect(s.do("POST", "/v1/auth:login", login, ""), 200, "login with the next step's code")
		if r := s.do("POST", "/v1/auth:login", login, ""); r.Status == 200 {
			t.Fatal("a TOTP code must be accepted once")
		}
		old := map[string]any{"email": power.email, "password": power.password, "totpCode": totpCode(t, secret, step)}
		if r := s.do("POST", "/v1/auth:login", old, ""); r.Status == 200 {
			t.Fatal("a code older than the last accepted one must be refused")
		}
	})

	t.Run("R-ID-6 password reset, single use, never bypassing 2FA", func(t *testing.T) {
		known := s.expect(s.do("POST", "/v1/auth:requestPasswordReset", map[string]any{"email": restricted.email}, ""), 200, "reset, known e-mail")
		unknown := s.expect(s.do("POST", "/v1/auth:requestPasswordReset", map[string]any{"email": "ghost@operator.test"}, ""), 200, "reset, unknown e-mail")
		if string(known.Body) != string(unknown.Body) {
			t.Fatalf("answers differ: %s / %s", known.Body, unknown.Body)
		}
		token := s.mailLink(dataDir, restricted.email, "/reset-password")
		const newPassword = "a brand new passphrase"
		reset := map[string]any{"token": token, "newPassword": newPassword}
		s.expect(s.do("POST", "/v1/auth:resetPassword", reset, ""), 200, "reset")
		if r := s.do("POST", "/v1/auth:resetPassword", reset, ""); r.Status == 200 {
			t.Fatal("a reset token must be single-use")
		}
		s.expect(s.login(restricted.email, newPassword), 200, "login with the new password")
		s.expect(s.login(restricted.email, restricted.password), 401, "login with the old password")

		s.expect(s.do("POST", "/v1/auth:requestPasswordReset", map[string]any{"email": power.email}, ""), 200, "reset of a 2FA user")
		token = s.mailLink(dataDir, power.email, "/reset-password")
		if r := s.do("POST", "/v1/auth:resetPassword", map[string]any{"token": token, "newPassword": newPassword}, ""); r.Status == 200 {
			t.Fatal("a reset without the second factor must be refused for an enrolled user")
		}
	})

	t.Run("R-ID-9 audit log for Administrators only", func(t *testing.T) {
		r := s.expect(s.do("GET", "/v1/"+company+"/auditEvents", nil, admin.token), 200, "admin reads the audit log").JSON(t)
		events, _ := r["auditEvents"].([]any)
		if len(events) == 0 {
			t.Fatalf("no audit events after invitations and role changes: %v", r)
		}
		s.expect(s.do("GET", "/v1/"+company+"/auditEvents", nil, power.token), 403, "a power user reads the audit log")
	})

	t.Run("R-DIR-10 grants", func(t *testing.T) {
		grant := map[string]any{"user": restricted.user, "scope": "GRANT_SCOPE_SUPPLIERS", "level": "GRANT_LEVEL_VIEW"}
		s.expect(s.do("POST", "/v1/"+company+"/grants", grant, power.token), 403, "a power user grants")
		s.expect(s.do("POST", "/v1/"+company+"/grants", grant, admin.token), 200, "the administrator grants")
		tok := s.expect(s.login(restricted.email, "a brand new passphrase"), 200, "login").JSON(t)["accessToken"].(string)
		perms := s.expect(s.do("GET", "/v1/me/permissions", nil, tok), 200, "own permissions")
		if !strings.Contains(string(perms.Body), "GRANT_SCOPE_SUPPLIERS") {
			t.Fatalf("the grant is not among the effective permissions: %s", perms.Body)
		}
	})

	t.Run("R-ID-8 a company can require two factors", func(t *testing.T) {
		s.expect(s.do("PATCH", "/v1/"+company, map[string]any{"requireTwoFactor": true}, power.token), 403, "a power user requires 2FA")
		s.expect(s.do("PATCH", "/v1/"+company, map[string]any{"requireTwoFactor": true}, admin.token), 200, "the administrator requires 2FA")
		r := s.expect(s.login(restricted.email, "a brand new passphrase"), 200, "login of a user without 2FA").JSON(t)
		if r["totpEnrollmentRequired"] != true {
			t.Fatalf("the answer must say enrolment is required: %v", r)
		}
		tok := r["accessToken"].(string)
		s.expect(s.do("GET", "/v1/"+company, nil, tok), 403, "other calls before enrolment")
		s.expect(s.do("GET", "/v1/me", nil, tok), 200, "own profile before enrolment")
	})
}
