package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// withoutIdentity drops what naturally differs between two added people
// (ids, e-mails, times) from a user answer, to compare the rest.
func withoutIdentity(t *testing.T, r response) string {
	t.Helper()
	m := r.JSON(t)
	for _, k := range []string{"name", "email", "createTime", "updateTime"} {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestIdentitySecurity replays issue 7's attacks on identity through the
// gateway: adding an existing login (R-ID-10), sessions that outlive a
// deactivation (ASVS V7.4.2), and turning two-factor off with a stolen
// token (R-ID-8).
func TestIdentitySecurity(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir)
	acme, ada := s.signUp("COMPANY_KIND_OPERATOR", sirets[0], "ada@acme.test")
	other, olga := s.signUp("COMPANY_KIND_SUPPLIER", sirets[1], "olga@other.test")
	s.expect(s.do("PATCH", "/v1/me?updateMask=function,phone", map[string]any{"function": "CEO", "phone": "+33 1 23 45 67 89"}, ada.token),
		200, "Ada's own details")

	t.Run("R-ID-10 adding an existing login takes its consent and answers alike", func(t *testing.T) {
		add := func(email string) response {
			return s.expect(s.do("POST", "/v1/"+other+"/users", map[string]any{"email": email, "givenName": "Typed", "familyName": "ByOlga"},
				olga.token), 200, "add "+email)
		}
		existing, fresh := add("ada@acme.test"), add("new.person@acme.test")
		if a, b := withoutIdentity(t, existing), withoutIdentity(t, fresh); a != b {
			t.Fatalf("the answer tells whether the e-mail has a login:\n%s\n%s", a, b)
		}
		u := existing.JSON(t)
		if u["state"] != "STATE_INVITED" || u["function"] != nil || u["phone"] != nil {
			t.Fatalf("an existing login is invited and shows nothing of its own: %v", u)
		}
		member := u["name"].(string)
		s.expect(s.do("POST", "/v1/auth:login", map[string]any{"email": "ada@acme.test", "password": password, "company": other}, ""),
			403, "no session in the company before consent")
		// Olga's edits stay in her company.
		s.expect(s.do("PATCH", "/v1/"+member+"?updateMask=givenName,phone", map[string]any{"givenName": "Renamed", "phone": "+33 9 99 99 99 99"},
			olga.token), 200, "Olga edits her company's view of Ada")
		me := s.expect(s.do("GET", "/v1/me", nil, ada.token), 200, "Ada's profile").JSON(t)
		if me["givenName"] != "Ada" || me["phone"] != "+33 1 23 45 67 89" || me["function"] != "CEO" {
			t.Fatalf("another company's Administrator rewrote Ada's details: %v", me)
		}
		audit := s.expect(s.do("GET", "/v1/"+other+"/auditEvents", nil, olga.token), 200, "Olga's audit log")
		if !strings.Contains(string(audit.Body), `"user.update"`) {
			t.Fatalf("the edit is not in the editing company's audit log: %s", audit.Body)
		}
		// Ada consents from her own session.
		token := s.mailLink(dataDir, "ada@acme.test", "/invitation")
		joined := s.expect(s.do("POST", "/v1/auth:acceptInvitation", map[string]any{"token": token}, ada.token), 200, "Ada accepts").JSON(t)
		if joined["company"] != other {
			t.Fatalf("accepting signs in to the inviting company: %v", joined)
		}
		after := s.expect(s.do("GET", "/v1/"+member, nil, olga.token), 200, "re-read").JSON(t)
		if after["state"] != "STATE_ACTIVE" || after["givenName"] != "Renamed" {
			t.Fatalf("after consent: %v", after)
		}
	})

	t.Run("R-ID-10 an invitation never blocks the person's own sign-up", func(t *testing.T) {
		s.expect(s.do("POST", "/v1/"+acme+"/users", map[string]any{"email": "zoe@zoe.test", "givenName": "Zoe", "familyName": "Z"},
			ada.token), 200, "invite Zoe")
		s.signUp("COMPANY_KIND_SUPPLIER", sirets[2], "zoe@zoe.test")
		token := s.mailLink(dataDir, "zoe@zoe.test", "/invitation")
		s.expect(s.do("POST", "/v1/auth:acceptInvitation", map[string]any{"token": token, "password": "not her password!"}, ""),
			401, "accept with a wrong password")
		s.expect(s.do("POST", "/v1/auth:acceptInvitation", map[string]any{"token": token, "password": password}, ""),
			200, "accept with her password")
	})

	t.Run("issue 7 point 4 deactivation ends every session of the membership", func(t *testing.T) {
		bob := s.invite(dataDir, acme, ada, "bob@acme.test", "ROLE_ADMINISTRATOR")
		r := s.expect(s.login(bob.email, password), 200, "Bob signs in").JSON(t)
		refresh := r["refreshToken"].(string)
		s.expect(s.do("POST", "/v1/"+bob.user+":deactivate", map[string]any{}, ada.token), 200, "deactivate Bob")
		s.expect(s.do("POST", "/v1/auth:refresh", map[string]any{"refreshToken": refresh}, ""), 401, "refresh while deactivated")
		s.expect(s.do("POST", "/v1/"+bob.user+":activate", map[string]any{}, ada.token), 200, "reactivate Bob")
		s.expect(s.do("POST", "/v1/auth:refresh", map[string]any{"refreshToken": refresh}, ""), 401, "the old refresh token after reactivation")
		r = s.expect(s.login(bob.email, password), 200, "Bob signs in again").JSON(t)
		refresh = r["refreshToken"].(string)
		s.expect(s.do("DELETE", "/v1/"+bob.user, nil, ada.token), 200, "delete Bob")
		used := s.mailLink(dataDir, bob.email, "/invitation")
		s.expect(s.do("POST", "/v1/"+acme+"/users", map[string]any{"email": bob.email, "givenName": "Bob", "familyName": "B",
			"role": "ROLE_ADMINISTRATOR"}, ada.token), 200, "add Bob again")
		token := s.newMailLink(dataDir, bob.email, "/invitation", used)
		s.expect(s.do("POST", "/v1/auth:acceptInvitation", map[string]any{"token": token, "password": password}, ""), 200, "Bob accepts again")
		s.expect(s.do("POST", "/v1/auth:refresh", map[string]any{"refreshToken": refresh}, ""), 401, "the old refresh token after delete and re-add")
	})

	t.Run("issue 7 point 3 turning two-factor off takes the password and is throttled", func(t *testing.T) {
		pat := s.invite(dataDir, acme, ada, "pat@acme.test", "ROLE_POWER_USER")
		enrol := s.expect(s.do("POST", "/v1/me/totp:enroll", map[string]any{}, pat.token), 200, "enrol").JSON(t)
		secret := enrol["secret"].(string)
		step := time.Now().Unix() / 30
		s.expect(s.do("POST", "/v1/me/totp:confirm", map[string]any{"code": totpCode(t, secret, step), "password": password}, pat.token), 200, "confirm")
		wrong := totpCode(t, secret, step+500)
		if r := s.do("DELETE", "/v1/me/totp?code="+wrong, nil, pat.token); r.Status == 200 {
			t.Fatal("a DELETE with a code alone still turns two-factor off")
		}
		body := s.expect(s.do("DELETE", "/v1/me/totp", map[string]any{"code": totpCode(t, secret, step+1)}, pat.token),
			400, "no password").JSON(t)
		if !strings.Contains(body["message"].(string), "password") {
			t.Fatalf("the message must name the field: %v", body)
		}
		statuses := []int{}
		for i := 0; i < 6; i++ {
			statuses = append(statuses, s.do("POST", "/v1/me/totp:disable", map[string]any{"password": password, "code": wrong}, pat.token).Status)
		}
		if statuses[0] != 401 || statuses[len(statuses)-1] != 429 {
			t.Fatalf("wrong codes must be refused, then throttled: %v", statuses)
		}
		me := s.expect(s.do("GET", "/v1/me", nil, pat.token), 200, "me").JSON(t)
		if me["twoFactorEnabled"] != true {
			t.Fatal("a refused call turned two-factor off")
		}
	})

	t.Run("issue 14 identity's product metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + s.MetricsAddr("identity") + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		for _, want := range []string{`vigil_identity_logins_total{result="success"}`, `vigil_identity_logins_total{result="invalid_credentials"}`,
			"vigil_identity_password_hash_queue", "vigil_identity_password_hash_refused_total"} {
			if !strings.Contains(string(raw), want) {
				t.Fatalf("/metrics lacks %s", want)
			}
		}
	})
}

// newMailLink is mailLink for a second e-mail of the same kind to the same
// address: it waits until the newest link differs from the one used.
func (s *suite) newMailLink(dataDir, to, path, used string) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if tok := s.mailLink(dataDir, to, path); tok != used {
			return tok
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("no new e-mail to %s with a %s link", to, path)
	return ""
}
