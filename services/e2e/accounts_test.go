package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// account is a signed-in user of the suite.
type account struct {
	email, password string
	token           string
	user            string // companies/{c}/users/{u}
}

const password = "correct horse battery staple"

var registrationSeq = 0

// sirets are valid (Luhn) SIRET numbers, one per company a test creates.
var sirets = []string{"73282932000074", "55210055400013", "44306184100047", "38012986646850", "40483304800022"}

func (s *suite) signUp(kind, siret, email string) (company string, admin account) {
	s.t.Helper()
	r := s.expect(s.do("POST", "/v1/companies:signup", map[string]any{
		"company": map[string]any{"legalName": "ACME " + siret, "kind": kind, "country": "FR", "registrationNumber": siret},
		"admin":   map[string]any{"email": email, "givenName": "Ada", "familyName": "Admin", "password": password},
	}, ""), 200, "sign-up").JSON(s.t)
	company, _ = r["company"].(string)
	user, _ := r["user"].(map[string]any)
	admin = account{email: email, password: password, token: r["accessToken"].(string)}
	if name, ok := user["name"].(string); ok {
		admin.user = name
	}
	if company == "" || admin.token == "" {
		s.t.Fatalf("sign-up answer lacks company or token: %v", r)
	}
	return company, admin
}

func (s *suite) login(email, pw string) response {
	s.t.Helper()
	return s.do("POST", "/v1/auth:login", map[string]any{"email": email, "password": pw}, "")
}

// mailLink waits for the e-mail to `to` that carries a link to path
// (invitation, reset-password) and returns the token of the newest one
// (notify names files by time-ordered ids). Without an SMTP server notify
// writes each message as an .eml file under the data folder.
func (s *suite) mailLink(dataDir, to, path string) string {
	s.t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(path) + `\?token=([A-Za-z0-9_\-.~]+)`)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var token string
		_ = filepath.Walk(dataDir, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(p, ".eml") {
				return nil
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			// Undo quoted-printable soft breaks and '=' escapes.
			text := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(raw))
			if !strings.Contains(strings.ToLower(text), strings.ToLower(to)) {
				return nil
			}
			if m := re.FindStringSubmatch(text); m != nil {
				token = m[1]
			}
			return nil
		})
		if token != "" {
			return token
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("no e-mail to %s with a %s link under %s", to, path, dataDir)
	return ""
}

// invite makes the admin add a user with role, and the invitee accept.
func (s *suite) invite(dataDir, company string, admin account, email, role string) account {
	s.t.Helper()
	body := map[string]any{"email": email, "givenName": "Test", "familyName": strings.Split(email, "@")[0]}
	if role != "" {
		body["role"] = role
	}
	u := s.expect(s.do("POST", "/v1/"+company+"/users", body, admin.token), 200, "invite "+email).JSON(s.t)
	token := s.mailLink(dataDir, email, "/invitation")
	r := s.expect(s.do("POST", "/v1/auth:acceptInvitation", map[string]any{"token": token, "password": password}, ""), 200, "accept invitation").JSON(s.t)
	if _, ok := r["accessToken"].(string); !ok {
		lr := s.expect(s.login(email, password), 200, "login after invitation").JSON(s.t)
		r = lr
	}
	return account{email: email, password: password, token: r["accessToken"].(string), user: u["name"].(string)}
}

// eventually retries check for up to one second (R-ID-7's bound).
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		if check() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within one second", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAccounts walks identity and company accounts end to end through the
// gateway: sign-up, sign-in, the R-ID-3 matrix for every permission that
// identity and directory serve, R-ID-2, R-ID-7 and a restart.
func TestAccounts(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir)
	company, admin := s.signUp("COMPANY_KIND_SUPPLIER", sirets[0], "ada@acme.test")

	t.Run("sign-up refusals", func(t *testing.T) {
		r := s.do("POST", "/v1/companies:signup", map[string]any{
			"company": map[string]any{"legalName": "Again", "kind": "COMPANY_KIND_OPERATOR", "country": "FR", "registrationNumber": sirets[0]},
			"admin":   map[string]any{"email": "other@acme.test", "givenName": "O", "familyName": "O", "password": password},
		}, "")
		s.expect(r, 409, "R-DIR-1: second sign-up with the same number")
		if s.login("other@acme.test", password).Status != 401 {
			t.Fatal("a refused sign-up must leave no user behind")
		}
		r = s.do("POST", "/v1/companies:signup", map[string]any{
			"company": map[string]any{"legalName": "Bad", "kind": "COMPANY_KIND_OPERATOR", "country": "FR", "registrationNumber": "73282932000075"},
			"admin":   map[string]any{"email": "bad@acme.test", "givenName": "B", "familyName": "B", "password": password},
		}, "")
		if body := s.expect(r, 400, "R-DIR-1: SIRET failing Luhn").JSON(t); !strings.Contains(fmt.Sprint(body["message"]), "registration") {
			t.Fatalf("the message must name the field: %v", body["message"])
		}
		r = s.do("POST", "/v1/companies:signup", map[string]any{
			"company": map[string]any{"legalName": "Short", "kind": "COMPANY_KIND_OPERATOR", "country": "FR", "registrationNumber": sirets[1]},
			"admin":   map[string]any{"email": "short@acme.test", "givenName": "S", "familyName": "S", "password": "short"},
		}, "")
		s.expect(r, 400, "R-ID-5: password under 12 characters")
	})

	t.Run("sign-in", func(t *testing.T) {
		r := s.expect(s.login("ada@acme.test", password), 200, "login").JSON(t)
		for _, k := range []string{"accessToken", "refreshToken", "expiresIn", "user", "memberships"} {
			if r[k] == nil {
				t.Errorf("login answer lacks %s: %v", k, r)
			}
		}
		wrong := s.login("ada@acme.test", "wrong password!!")
		unknown := s.login("nobody@acme.test", "wrong password!!")
		if wrong.Status != 401 || unknown.Status != 401 || wrong.JSON(t)["message"] != unknown.JSON(t)["message"] {
			t.Fatalf("R-ID-5: wrong password and unknown e-mail must answer alike: %s / %s", wrong.Body, unknown.Body)
		}
		me := s.expect(s.do("GET", "/v1/me", nil, admin.token), 200, "me").JSON(t)
		if me["email"] != "ada@acme.test" || me["role"] != "ROLE_ADMINISTRATOR" || me["name"] != admin.user {
			t.Fatalf("R-ID-1: the first user is the Administrator; me = %v", me)
		}
		s.expect(s.do("GET", "/v1/me", nil, ""), 401, "no token")
		s.expect(s.do("GET", "/v1/me", nil, admin.token+"x"), 401, "tampered token")
	})

	power := s.invite(dataDir, company, admin, "pat@acme.test", "ROLE_POWER_USER")
	standard := s.invite(dataDir, company, admin, "sam@acme.test", "ROLE_STANDARD_USER")
	restricted := s.invite(dataDir, company, admin, "rita@acme.test", "ROLE_RESTRICTED_USER")
	def := s.invite(dataDir, company, admin, "dee@acme.test", "")

	t.Run("R-ID-1 default role of a supplier", func(t *testing.T) {
		u := s.expect(s.do("GET", "/v1/"+def.user, nil, admin.token), 200, "get user").JSON(t)
		if u["role"] != "ROLE_POWER_USER" {
			t.Fatalf("a supplier's new user is a Power user, got %v", u["role"])
		}
	})

	// One allowed and one refused call for each permission served so far;
	// each refused call is re-read to prove it changed nothing.
	t.Run("R-ID-3 through the gateway", func(t *testing.T) {
		cases := []struct {
			permission      string
			allowed, denied account
			method, path    string
			body            func() any
			reread          string
		}{
			{"view user accounts", power, standard, "GET", "/v1/" + company + "/users", nil, ""},
			{"add users", admin, power, "POST", "/v1/" + company + "/users",
				func() any {
					return map[string]any{"email": fmt.Sprintf("new%d@acme.test", time.Now().UnixNano()), "givenName": "N", "familyName": "N"}
				}, ""},
			{"edit user data", admin, power, "PATCH", "/v1/" + restricted.user,
				func() any { return map[string]any{"function": fmt.Sprint("buyer ", time.Now().UnixNano())} }, "/v1/" + restricted.user},
			{"send a password reset", admin, power, "POST", "/v1/" + restricted.user + ":sendPasswordReset", func() any { return map[string]any{} }, ""},
			{"(de)activate a user", admin, power, "POST", "/v1/" + def.user + ":activate", func() any { return map[string]any{} }, "/v1/" + def.user},
			{"edit company master data", power, standard, "PATCH", "/v1/" + company,
				func() any {
					return map[string]any{"address": map[string]any{"city": fmt.Sprint("Lyon ", time.Now().UnixNano())}}
				}, "/v1/" + company},
			{"read master data (every member)", restricted, account{}, "GET", "/v1/" + company, nil, ""},
		}
		for _, c := range cases {
			t.Run(c.permission, func(t *testing.T) {
				var body any
				if c.body != nil {
					body = c.body()
				}
				s.expect(s.do(c.method, c.path, body, c.allowed.token), 200, c.permission+" allowed")
				if c.denied.token == "" {
					return
				}
				var before []byte
				if c.reread != "" {
					before = s.expect(s.do("GET", c.reread, nil, admin.token), 200, "re-read").Body
				}
				if c.body != nil {
					body = c.body()
				}
				s.expect(s.do(c.method, c.path, body, c.denied.token), 403, c.permission+" refused")
				if c.reread != "" {
					after := s.expect(s.do("GET", c.reread, nil, admin.token), 200, "re-read").Body
					if string(after) != string(before) {
						t.Fatalf("a refused call changed the resource:\n%s\n%s", before, after)
					}
				}
			})
		}
	})

	t.Run("R-ID-4 a membership in A gives nothing in B", func(t *testing.T) {
		other, otherAdmin := s.signUp("COMPANY_KIND_OPERATOR", sirets[2], "olga@other.test")
		s.expect(s.do("GET", "/v1/"+other+"/users", nil, admin.token), 403, "A's admin lists B's users")
		s.expect(s.do("PATCH", "/v1/"+other, map[string]any{"legalName": "Hijacked"}, admin.token), 403, "A's admin edits B")
		s.expect(s.do("GET", "/v1/"+company+"/users", nil, otherAdmin.token), 403, "B's admin lists A's users")
	})

	t.Run("R-ID-2 the last administrator stays", func(t *testing.T) {
		s.expect(s.do("POST", "/v1/"+admin.user+":deactivate", map[string]any{}, admin.token), 400, "deactivate the last administrator")
		s.expect(s.do("PATCH", "/v1/"+admin.user, map[string]any{"role": "ROLE_POWER_USER"}, admin.token), 400, "demote the last administrator")
		s.expect(s.do("DELETE", "/v1/"+admin.user, nil, admin.token), 400, "delete the last administrator")
	})

	t.Run("R-ID-7 within one second on every service", func(t *testing.T) {
		s.expect(s.do("GET", "/v1/"+company, nil, standard.token), 200, "standard reads the company")
		s.expect(s.do("POST", "/v1/"+standard.user+":deactivate", map[string]any{}, admin.token), 200, "deactivate")
		eventually(t, "a deactivated user's call to directory is refused", func() bool {
			return s.do("GET", "/v1/"+company, nil, standard.token).Status == 401
		})
		if s.login(standard.email, standard.password).Status == 200 {
			t.Fatal("a deactivated user cannot sign in")
		}
		s.expect(s.do("PATCH", "/v1/"+company, map[string]any{"legalName": "ACME Power"}, power.token), 200, "power edits master data")
		s.expect(s.do("PATCH", "/v1/"+power.user, map[string]any{"role": "ROLE_STANDARD_USER"}, admin.token), 200, "demote power")
		eventually(t, "a demoted user loses the permission on directory", func() bool {
			return s.do("PATCH", "/v1/"+company, map[string]any{"legalName": "ACME Demoted"}, power.token).Status == 403
		})
		eventually(t, "a demoted user loses the permission on identity", func() bool {
			return s.do("GET", "/v1/"+company+"/users", nil, power.token).Status == 403
		})
	})

	t.Run("data survives a restart", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s2 := startSuite(t, dataDir)
		s2.expect(s2.login("ada@acme.test", password), 200, "login after restart")
		s2.expect(s2.login(restricted.email, password), 200, "invited user after restart")
	})
}
