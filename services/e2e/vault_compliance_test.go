package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vaultMail waits for an e-mail to `to` whose text contains want (notify
// writes .eml files under the data folder without an SMTP server).
func (s *suite) vaultMail(dataDir, to, want string) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		found := false
		_ = filepath.Walk(dataDir, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(p, ".eml") || found {
				return nil
			}
			raw, _ := os.ReadFile(p)
			text := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(raw))
			found = strings.Contains(text, to) && strings.Contains(text, want)
			return nil
		})
		if found {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("no e-mail to %s saying %q under %s", to, want, dataDir)
}

// vaultWorld is two customers and two suppliers, linked C1–S1, C2–S1, C1–S2.
type vaultWorld struct {
	c1, c2, s1, s2                   string
	c1Admin, c1Restricted, c2Admin   account
	s1Admin, s1Power, s1Standard     account
	s1Restricted, s2Admin, strangerA account
	stranger                         string
}

func vaultID(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// register makes customer register supplier by its number (R-DIR-3); it
// reports false when directory does not link suppliers (yet).
func (s *suite) vaultRegister(customer string, admin account, number, email string) bool {
	s.t.Helper()
	r := s.do("POST", "/v1/"+customer+"/suppliers", map[string]any{"legalName": "Supplier " + number, "country": "FR", "registrationNumber": number,
		"contact": map[string]any{"email": email, "givenName": "Contact", "familyName": "Person"}}, admin.token)
	if r.Status == 501 {
		return false
	}
	s.expect(r, 200, "register supplier "+number)
	return true
}

func (s *suite) vaultWorld(dataDir string) vaultWorld {
	t := s.t
	w := vaultWorld{}
	w.s1, w.s1Admin = s.signUp("COMPANY_KIND_SUPPLIER", vaultSiren(11), "ada@sun.test")
	w.s2, w.s2Admin = s.signUp("COMPANY_KIND_SUPPLIER", vaultSiren(12), "bob@moon.test")
	w.c1, w.c1Admin = s.signUp("COMPANY_KIND_OPERATOR", vaultSiren(13), "cleo@acme.test")
	w.c2, w.c2Admin = s.signUp("COMPANY_KIND_OPERATOR", vaultSiren(14), "dan@beta.test")
	w.stranger, w.strangerA = s.signUp("COMPANY_KIND_OPERATOR", vaultSiren(15), "eve@stranger.test")
	if !s.vaultRegister(w.c1, w.c1Admin, vaultSiren(11), "ref1@sun.test") {
		t.Skip("directory does not register suppliers on this branch (issue 8 builds it); the customers' side of the vault needs it")
	}
	s.vaultRegister(w.c2, w.c2Admin, vaultSiren(11), "ref2@sun.test")
	s.vaultRegister(w.c1, w.c1Admin, vaultSiren(12), "ref3@moon.test")
	w.s1Power = s.invite(dataDir, w.s1, w.s1Admin, "pat@sun.test", "ROLE_POWER_USER")
	w.s1Standard = s.invite(dataDir, w.s1, w.s1Admin, "sam@sun.test", "ROLE_STANDARD_USER")
	w.s1Restricted = s.invite(dataDir, w.s1, w.s1Admin, "ray@sun.test", "ROLE_RESTRICTED_USER")
	w.c1Restricted = s.invite(dataDir, w.c1, w.c1Admin, "rita@acme.test", "")
	return w
}

// vaultStatus reads a customer's entry statuses for a supplier, by type.
func (s *suite) vaultStatus(customer, supplier string, token string) (map[string]string, response) {
	r := s.do("GET", "/v1/"+customer+"/suppliers/"+vaultID(supplier)+"/compliance", nil, token)
	out := map[string]string{}
	if r.Status != 200 {
		return out, r
	}
	for _, e := range list(r.JSON(s.t), "entries") {
		out[strings.TrimPrefix(str(e, "documentType"), "documentTypes/")] = strings.TrimPrefix(str(e, "status"), "COMPLIANCE_STATUS_")
	}
	return out, r
}

// vaultWait waits (one second, R-VAULT-6's "visible within one second")
// until a customer sees want for a type.
func (s *suite) vaultWait(customer, supplier, docType, want, token string) {
	s.t.Helper()
	var got map[string]string
	var r response
	deadline := time.Now().Add(time.Second)
	for {
		got, r = s.vaultStatus(customer, supplier, token)
		if got[docType] == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s for %s: %v (HTTP %d %s), want %s %s within a second", supplier, customer, got, r.Status, r.Body, docType, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVaultCustomers: issue 9 points 2, 6, 7 and issue 10's done-when
// through the gateway, two customers and two suppliers.
func TestVaultCustomers(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir)
	w := s.vaultWorld(dataDir)
	require := func(c string, a account, body map[string]any) map[string]any {
		return s.expect(s.do("POST", "/v1/"+c+"/requirements", body, a.token), 200, "requirement").JSON(t)
	}
	allOf := func(docType string) map[string]any {
		return map[string]any{"documentType": "documentTypes/" + docType, "scope": "REQUIREMENT_SCOPE_ALL_SUPPLIERS"}
	}

	t.Run("requirements: who may set them (R-VAULT-2, R-DIR-10)", func(t *testing.T) {
		body := allOf("URSSAF_VIGILANCE")
		before := string(s.do("GET", "/v1/"+w.c1+"/requirements", nil, w.c1Admin.token).Body)
		for _, who := range []account{w.c1Restricted, w.c2Admin, w.s1Admin} {
			s.expect(s.do("POST", "/v1/"+w.c1+"/requirements", body, who.token), 403, "requirement by "+who.email)
		}
		s.expect(s.do("POST", "/v1/"+w.c1+"/requirements", map[string]any{"documentType": "documentTypes/URSSAF_VIGILANCE"}, w.c1Admin.token), 400, "no scope")
		if after := string(s.do("GET", "/v1/"+w.c1+"/requirements", nil, w.c1Admin.token).Body); after != before {
			t.Fatal("refused requirements were stored")
		}
		require(w.c1, w.c1Admin, body)
		require(w.c2, w.c2Admin, body)
		require(w.c2, w.c2Admin, map[string]any{"documentType": "documentTypes/KBIS_EXTRACT", "scope": "REQUIREMENT_SCOPE_NAMED_SUPPLIERS", "suppliers": []string{w.s1}})
	})

	// MISSING, then VALID (issue 10's done-when).
	s.vaultWait(w.c1, w.s1, "URSSAF_VIGILANCE", "MISSING", w.c1Admin.token)
	s.vaultWait(w.c2, w.s1, "KBIS_EXTRACT", "MISSING", w.c2Admin.token)
	urssafBytes := vaultPDF("urssaf", 50_000)
	up := func(docType, until string, data []byte) map[string]any {
		return s.expect(s.vaultUpload(w.s1, vaultMeta(docType, w.s1, vaultDay(-200), until), docType+".pdf", "application/pdf", bytes.NewReader(data), w.s1Power.token), 200, "upload "+docType).JSON(t)
	}
	urssaf := up("URSSAF_VIGILANCE", vaultDay(100), urssafBytes)
	kbis := up("KBIS_EXTRACT", vaultDay(100), vaultPDF("kbis", 2000))
	tax := up("TAX_COMPLIANCE", vaultDay(100), vaultPDF("tax", 2000))
	s.vaultWait(w.c1, w.s1, "URSSAF_VIGILANCE", "VALID", w.c1Admin.token)
	s.vaultWait(w.c2, w.s1, "URSSAF_VIGILANCE", "VALID", w.c2Admin.token)

	t.Run("who sees which document (R-VAULT-3)", func(t *testing.T) {
		docs := func(c string, a account) []string {
			var out []string
			for _, d := range list(s.expect(s.do("GET", "/v1/"+c+"/suppliers/"+vaultID(w.s1)+"/documents", nil, a.token), 200, "collected").JSON(t), "documents") {
				out = append(out, str(d, "documentType"))
			}
			return out
		}
		if got := docs(w.c1, w.c1Admin); len(got) != 1 || got[0] != "documentTypes/URSSAF_VIGILANCE" {
			t.Fatalf("C1 collects URSSAF only: %v", got)
		}
		if got := docs(w.c2, w.c2Admin); len(got) != 2 {
			t.Fatalf("C2 collects URSSAF and KBIS: %v", got)
		}
		cust := "/v1/" + w.c1 + "/suppliers/" + vaultID(w.s1) + "/documents/"
		s.expect(s.vaultGet(cust+vaultID(str(tax, "name"))+"/content", w.c1Admin.token, nil), 404, "a type no one collects")
		s.expect(s.vaultGet(cust+vaultID(str(kbis, "name"))+"/content", w.c1Admin.token, nil), 404, "a type another customer collects")
		s.expect(s.vaultGet(cust+vaultID(str(urssaf, "name"))+"/content", w.c2Admin.token, nil), 403, "another customer's route")
		s.expect(s.vaultGet(cust+vaultID(str(urssaf, "name"))+"/content", w.c1Restricted.token, nil), 403, "a Restricted user without the grant")
		s.expect(s.do("GET", "/v1/"+w.stranger+"/suppliers/"+vaultID(w.s1)+"/documents", nil, w.strangerA.token), 404, "an unrelated customer")
		s.expect(s.do("GET", "/v1/"+w.s2+"/suppliers/"+vaultID(w.s1)+"/documents", nil, w.s2Admin.token), 403, "a supplier reading another supplier")
		r := s.expect(s.vaultGet(cust+vaultID(str(urssaf, "name"))+"/content", w.c1Admin.token, nil), 200, "C1 downloads")
		if !bytes.Equal(r.Body, urssafBytes) {
			t.Fatal("the customer downloads the same bytes")
		}
		// R-DIR-10: a grant opens the suppliers area to a Restricted user.
		s.expect(s.do("POST", "/v1/"+w.c1+"/grants", map[string]any{"user": w.c1Restricted.user, "scope": "GRANT_SCOPE_SUPPLIERS", "level": "GRANT_LEVEL_VIEW"}, w.c1Admin.token), 200, "grant")
		eventually(t, "the grant takes effect", func() bool {
			return s.vaultGet(cust+vaultID(str(urssaf, "name"))+"/content", w.c1Restricted.token, nil).Status == 200
		})
	})

	t.Run("the access log (R-VAULT-8)", func(t *testing.T) {
		log := "/v1/" + str(urssaf, "name") + "/accessLog"
		r := s.expect(s.do("GET", log, nil, w.s1Admin.token), 200, "access log").JSON(t)
		entries := list(r, "entries")
		if len(entries) != 2 || str(entries[0], "company") != w.c1 || str(entries[0], "user") != w.c1Restricted.user {
			t.Fatalf("two downloads by C1, newest first: %v", r)
		}
		for _, who := range []account{w.s1Power, w.c1Admin} {
			s.expect(s.do("GET", log, nil, who.token), 403, "access log read by "+who.email)
		}
	})

	// EXPIRING_SOON, then EXPIRED with a document already expired.
	up("URSSAF_VIGILANCE", vaultDay(10), vaultPDF("soon", 3000))
	s.vaultWait(w.c1, w.s1, "URSSAF_VIGILANCE", "EXPIRING_SOON", w.c1Admin.token)
	up("URSSAF_VIGILANCE", vaultDay(-1), vaultPDF("expired", 3000))
	s.vaultWait(w.c1, w.s1, "URSSAF_VIGILANCE", "EXPIRED", w.c1Admin.token)
	good := up("URSSAF_VIGILANCE", vaultDay(150), vaultPDF("good", 3000))
	s.vaultWait(w.c1, w.s1, "URSSAF_VIGILANCE", "VALID", w.c1Admin.token)

	t.Run("rejection for one customer only (R-VAULT-7)", func(t *testing.T) {
		path := "/v1/" + w.c1 + "/suppliers/" + vaultID(w.s1) + "/documents/" + vaultID(str(good, "name")) + ":reject"
		s.expect(s.do("POST", path, map[string]any{"reason": "x"}, w.c1Restricted.token), 403, "a viewer rejects")
		s.expect(s.do("POST", path, map[string]any{"reason": "x"}, w.c2Admin.token), 403, "another customer rejects in C1's name")
		s.expect(s.do("POST", path, map[string]any{}, w.c1Admin.token), 400, "no reason")
		taxPath := "/v1/" + w.c1 + "/suppliers/" + vaultID(w.s1) + "/documents/" + vaultID(str(tax, "name")) + ":reject"
		s.expect(s.do("POST", taxPath, map[string]any{"reason": "x"}, w.c1Admin.token), 404, "a document C1 does not collect")
		if st, _ := s.vaultStatus(w.c1, w.s1, w.c1Admin.token); st["URSSAF_VIGILANCE"] != "VALID" {
			t.Fatalf("refused rejections changed the status: %v", st)
		}
		s.expect(s.do("POST", path, map[string]any{"reason": "Not signed"}, w.c1Admin.token), 200, "reject")
		s.expect(s.do("POST", path, map[string]any{"reason": "again"}, w.c1Admin.token), 409, "reject twice")
		s.vaultWait(w.c1, w.s1, "URSSAF_VIGILANCE", "REJECTED", w.c1Admin.token)
		s.vaultWait(w.c2, w.s1, "URSSAF_VIGILANCE", "VALID", w.c2Admin.token)
		d := s.expect(s.do("GET", "/v1/"+str(good, "name"), nil, w.s1Standard.token), 200, "the supplier reads it").JSON(t)
		if rs := list(d, "rejections"); len(rs) != 1 || str(rs[0], "reason") != "Not signed" {
			t.Fatalf("rejections listed on the document: %v", d)
		}
		// The supplier's users who may upload it are e-mailed (R-VAULT-7).
		s.vaultMail(dataDir, w.s1Power.email, "Not signed")
	})

	t.Run("lists, the supplier's view, the CSV export (issue 10 points 3, 4, 7)", func(t *testing.T) {
		l := s.expect(s.do("GET", "/v1/"+w.c1+"/compliance", nil, w.c1Admin.token), 200, "C1's list").JSON(t)
		tot, _ := l["totals"].(map[string]any)
		if sums := list(l, "summaries"); len(sums) != 2 || tot["nonCompliantCount"] != float64(2) {
			t.Fatalf("C1's suppliers: S1 rejected, S2 missing: %v", l)
		}
		s.expect(s.do("GET", "/v1/"+w.c1+"/compliance?statusFilter=whatever", nil, w.c1Admin.token), 400, "an unknown filter")
		s.expect(s.do("GET", "/v1/"+w.c1+"/compliance?orderBy=whatever", nil, w.c1Admin.token), 400, "an unknown order")
		s.expect(s.do("GET", "/v1/"+w.c1+"/compliance", nil, w.s1Admin.token), 403, "a supplier reads C1's list")
		mine := s.expect(s.do("GET", "/v1/"+w.s1+"/compliance", nil, w.s1Standard.token), 200, "S1's view").JSON(t)
		if len(list(mine, "summaries")) != 2 {
			t.Fatalf("S1 sees one summary per customer: %v", mine)
		}
		s.expect(s.do("GET", "/v1/"+w.s1+"/customers/"+vaultID(w.c2)+"/compliance", nil, w.s1Standard.token), 200, "S1's detail for C2")
		r := s.expect(s.vaultGet("/v1/"+w.c1+"/compliance:export", w.c1Admin.token, nil), 200, "CSV")
		if !strings.HasPrefix(string(r.Body), "\ufeffsupplier,") || strings.Count(string(r.Body), "\n") != 3 {
			t.Fatalf("CSV:\n%s", r.Body)
		}
		s.expect(s.vaultGet("/v1/"+w.c1+"/compliance:export", w.c2Admin.token, nil), 403, "another customer's CSV")
	})

	t.Run("document requests (R-NOTIF-3)", func(t *testing.T) {
		path := "/v1/" + w.c1 + "/suppliers/" + vaultID(w.s1) + ":requestDocuments"
		s.expect(s.do("POST", path, map[string]any{"message": "x"}, w.c1Restricted.token), 403, "a viewer requests")
		s.expect(s.do("POST", path, map[string]any{"message": "Please renew"}, w.c1Admin.token), 200, "request")
		// No reference has accepted its invitation yet: the Administrators.
		s.vaultMail(dataDir, w.s1Admin.email, "Please renew")
		r := s.expect(s.do("POST", path, map[string]any{}, w.c1Admin.token), 429, "a second request within the hour")
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After: %v", r.Header)
		}
	})

	t.Run("the relationship ends: visibility ends within a second (R-VAULT-3)", func(t *testing.T) {
		s.expect(s.do("DELETE", "/v1/"+w.c1+"/suppliers/"+vaultID(w.s1), nil, w.c1Admin.token), 200, "unlink")
		eventually(t, "C1 no longer sees S1's documents", func() bool {
			return s.do("GET", "/v1/"+w.c1+"/suppliers/"+vaultID(w.s1)+"/documents", nil, w.c1Admin.token).Status == 404
		})
		s.expect(s.do("GET", "/v1/"+w.c1+"/suppliers/"+vaultID(w.s1)+"/compliance", nil, w.c1Admin.token), 404, "compliance after unlinking")
		s.vaultWait(w.c2, w.s1, "URSSAF_VIGILANCE", "VALID", w.c2Admin.token)
	})
}
