package e2e

// Notify end to end (issues 7.1, 7.8 and 11): the real binaries behind the
// gateway, delivering to a real SMTP server (notify_mail_test.go). The
// weekly digest and the reminders need directory's, identity's and vault's
// parts of the contract (ListCompanies, ListMembers, suppliers,
// requirements, uploads, BatchGetComplianceDigests, ListExpiringForReminders)
// and identity's platform administrators: where one is not implemented yet,
// the check that needs it is skipped, saying which (notify's side is proven
// against fakes in services/notify/internal/app/jobs_test.go).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// notifySkipIfMissing skips the test when r says a dependency is not implemented
// yet: HTTP 501 (gRPC UNIMPLEMENTED), or a job run failing because an
// upstream method is unimplemented. Any other failure is left to the caller.
func notifySkipIfMissing(t *testing.T, r response, dependency string) {
	t.Helper()
	body := string(r.Body)
	if r.Status == http.StatusNotImplemented ||
		r.Status == http.StatusServiceUnavailable && strings.Contains(body, "does not implement this method yet") {
		t.Skipf("%s is not implemented yet (HTTP %d: %s); this check runs once it lands", dependency, r.Status, notifyFirstLine(body))
	}
}

func notifyFirstLine(s string) string {
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.SplitN(s, "\n", 2)[0]
}

// notifyPlatformAdmin returns a token of a login listed in VIGIL_PLATFORM_ADMINS,
// or skips when identity does not mark it yet (issue 11, point 4).
func (s *suite) notifyPlatformAdmin(t *testing.T, a account) string {
	t.Helper()
	r := s.expect(s.login(a.email, a.password), 200, "platform administrator login")
	token := r.JSON(t)["accessToken"].(string)
	if got := s.do("GET", "/v1/jobs", nil, token); got.Status == http.StatusForbidden {
		t.Skipf("identity does not put VIGIL_PLATFORM_ADMINS in access tokens yet (issue 11.4): %s", notifyFirstLine(string(got.Body)))
	}
	return token
}

func notifyToday() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }

func TestNotifyJobs(t *testing.T) {
	mb := startSMTPMailbox(t, "bounce@supplier.test")
	dataDir := t.TempDir()
	// The scheduler is off: the runs below are by hand, so that a test run
	// on a Monday is not raced by the scheduled digest.
	s := startSuite(t, dataDir, "VIGIL_SMTP_ADDR="+mb.Addr, "VIGIL_PLATFORM_ADMINS=root@vigil.test", "VIGIL_NOTIFY_SCHEDULER=false")
	opCo, olga := s.signUp("COMPANY_KIND_OPERATOR", sirets[0], "olga@buyer.test")
	supCo, sam := s.signUp("COMPANY_KIND_SUPPLIER", sirets[1], "sam@supplier.test")
	_, root := s.signUp("COMPANY_KIND_OPERATOR", sirets[2], "root@vigil.test")
	// Platform rights apply once the listed e-mail is proven by a link sent
	// to it (R-ID-11): a sign-up alone proves nothing.
	s.expect(s.do("POST", "/v1/auth:requestPasswordReset", map[string]any{"email": root.email}, ""), 200, "root's reset request")
	resetMail := mb.waitTo(t, root.email, 1)
	link := regexp.MustCompile(`/reset-password\?token=([A-Za-z0-9_\-.~]+)`).FindStringSubmatch(resetMail[len(resetMail)-1].Text)
	if link == nil {
		t.Fatalf("no reset link in %q", resetMail[len(resetMail)-1].Text)
	}
	s.expect(s.do("POST", "/v1/auth:resetPassword", map[string]any{"token": link[1], "newPassword": root.password}, ""), 200, "root proves its e-mail")

	t.Run("jobs and dead letters refuse everyone but platform administrators", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/jobs", nil},
			{"GET", "/v1/jobs/weekly-digest", nil},
			{"POST", "/v1/jobs/weekly-digest:run", map[string]any{"date": notifyToday().Format(time.DateOnly)}},
			{"POST", "/v1/jobs/expiry-reminders:run", map[string]any{}},
			{"GET", "/v1/deadLetters", nil},
		} {
			s.expect(s.do(c.method, c.path, c.body, ""), 401, "anonymous "+c.method+" "+c.path)
			// An operator's and a supplier's Administrator: no company may.
			s.expect(s.do(c.method, c.path, c.body, olga.token), 403, "operator admin "+c.method+" "+c.path)
			s.expect(s.do(c.method, c.path, c.body, sam.token), 403, "supplier admin "+c.method+" "+c.path)
		}
		time.Sleep(300 * time.Millisecond)
		for _, who := range []string{olga.email, sam.email} {
			for _, m := range mb.to(who) {
				if strings.Contains(m.Subject, "compliance") || strings.Contains(m.Subject, "conformité") || strings.Contains(m.Subject, "Expire") {
					t.Fatalf("a refused run sent %q", m.Subject)
				}
			}
		}
	})

	t.Run("a password reset's link is in the e-mail only (issue 7.1, 7.8)", func(t *testing.T) {
		s.expect(s.do("POST", "/v1/auth:requestPasswordReset", map[string]any{"email": sam.email}, ""), 200, "request a reset")
		var link string
		re := regexp.MustCompile(`/reset-password\?token=([A-Za-z0-9_\-.~]+)`)
		deadline := time.Now().Add(15 * time.Second)
		for link == "" && time.Now().Before(deadline) {
			for _, m := range mb.to(sam.email) {
				if sm := re.FindStringSubmatch(m.Text); sm != nil {
					link = sm[1]
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		if link == "" {
			t.Fatalf("no reset e-mail with a link to %s: %+v", sam.email, mb.to(sam.email))
		}
		inbox := s.expect(s.do("GET", "/v1/me/notifications", nil, sam.token), 200, "inbox").JSON(t)
		found := false
		for _, n := range inbox["notifications"].([]any) {
			n := n.(map[string]any)
			body := fmt.Sprint(n["subject"], n["body"])
			if strings.Contains(body, link) || strings.Contains(body, "token=") {
				t.Fatalf("the inbox shows the reset link: %s", body)
			}
			found = found || n["template"] == "TEMPLATE_PASSWORD_RESET"
		}
		if !found {
			t.Fatalf("no reset entry in the inbox: %v", inbox)
		}
		raw, err := os.ReadFile(filepath.Join(dataDir, "notify", "notify.db"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(link)) {
			t.Fatal("the reset token is in clear in notify's data file")
		}
	})

	t.Run("notify's product metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + s.MetricsAddr("notify") + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		for _, want := range []string{`vigil_notify_outbox_depth{channel="email"}`, `vigil_notify_outbox_oldest_age_seconds{channel="email"}`,
			`vigil_notify_deliveries_total{channel="email",result="sent"}`, `vigil_notify_dead_letters{channel="email"}`} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("a platform administrator lists jobs and dead letters", func(t *testing.T) {
		// An invitation to an address the SMTP server refuses: a dead letter.
		s.expect(s.do("POST", "/v1/"+supCo+"/users", map[string]any{"email": "bounce@supplier.test", "givenName": "B", "familyName": "Ounce"}, sam.token), 200, "invite")
		token := s.notifyPlatformAdmin(t, root)
		jobs := s.expect(s.do("GET", "/v1/jobs", nil, token), 200, "list jobs").JSON(t)
		names := map[string]bool{}
		for _, j := range jobs["jobs"].([]any) {
			j := j.(map[string]any)
			names[j["name"].(string)] = true
			if j["schedule"] == "" || j["nextRunTime"] == nil {
				t.Errorf("job %v", j)
			}
		}
		if !names["jobs/weekly-digest"] || !names["jobs/expiry-reminders"] {
			t.Fatalf("jobs %v", jobs)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			dl := s.expect(s.do("GET", "/v1/deadLetters", nil, token), 200, "list dead letters").JSON(t)
			if list, _ := dl["deadLetters"].([]any); len(list) > 0 {
				d := list[0].(map[string]any)
				if d["email"] != "bounce@supplier.test" || !strings.Contains(fmt.Sprint(d["lastError"]), "550") {
					t.Fatalf("dead letter %v", d)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no dead letter listed")
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.expect(s.do("POST", "/v1/jobs/weekly-digest:run", map[string]any{"date": "12/03/2025"}, token), 400, "bad date")
		r := s.expect(s.do("POST", "/v1/jobs/expiry-reminders:run", map[string]any{"date": notifyToday().AddDate(0, 0, 3).Format(time.DateOnly)}, token), 400, "future date")
		if !strings.Contains(string(r.Body), "date") {
			t.Fatalf("the refusal does not name the date: %s", r.Body)
		}
		s.expect(s.do("POST", "/v1/jobs/nope:run", map[string]any{}, token), 404, "unknown job")
	})

	t.Run("weekly digest: operator and supplier, French for a French user (R-NOTIF-1)", func(t *testing.T) {
		token := s.notifyPlatformAdmin(t, root)
		s.expect(s.do("PATCH", "/v1/me?updateMask=language", map[string]any{"language": "fr"}, olga.token), 200, "olga reads French")
		r := s.do("POST", "/v1/"+opCo+"/suppliers", map[string]any{"legalName": "ACME " + sirets[1], "country": "FR", "registrationNumber": sirets[1],
			"contact": map[string]any{"email": sam.email, "givenName": "Sam", "familyName": "Supplier"}}, olga.token)
		notifySkipIfMissing(t, r, "directory's suppliers (R-DIR-3)")
		s.expect(r, 200, "register the supplier")
		docType := s.notifyDocumentType(t, olga.token)
		r = s.do("POST", "/v1/"+opCo+"/requirements", map[string]any{"documentType": docType, "scope": "REQUIREMENT_SCOPE_ALL_SUPPLIERS"}, olga.token)
		notifySkipIfMissing(t, r, "vault's requirements (R-VAULT-2)")
		s.expect(r, 200, "require a document")

		date := notifyToday().Format(time.DateOnly)
		// Earlier subtests mailed these people too: wait for one more each.
		olgaHad, samHad := len(mb.to(olga.email)), len(mb.to(sam.email))
		r = s.do("POST", "/v1/jobs/weekly-digest:run", map[string]any{"date": date}, token)
		notifySkipIfMissing(t, r, "the digest's data sources (directory ListCompanies, identity ListMembers, vault BatchGetComplianceDigests)")
		run := s.expect(r, 200, "run the weekly digest").JSON(t)["lastRun"].(map[string]any)
		if fmt.Sprint(run["date"]) != date || run["manual"] != true || notifyCount(run["sentCount"]) < 3 {
			t.Fatalf("run %v; want at least olga, sam and root", run)
		}
		op := mb.waitTo(t, olga.email, olgaHad+1)
		digest := notifyMail(t, op, "État de conformité de la semaine")
		for _, want := range []string{"Fournisseurs soumis à des exigences : 1", "conformes : 0", "non conformes : 1", "ACME " + sirets[1], "manquant"} {
			if !strings.Contains(digest.Text, want) {
				t.Errorf("olga's digest lacks %q:\n%s", want, digest.Text)
			}
		}
		sup := notifyMail(t, mb.waitTo(t, sam.email, samHad+1), "Weekly compliance status")
		for _, want := range []string{"Customers who collect your documents: 1", "you are not compliant for: 1", "ACME " + sirets[0], "missing"} {
			if !strings.Contains(sup.Text, want) {
				t.Errorf("sam's digest lacks %q:\n%s", want, sup.Text)
			}
		}
		before := len(mb.to(olga.email)) + len(mb.to(sam.email))
		again := s.expect(s.do("POST", "/v1/jobs/weekly-digest:run", map[string]any{"date": date}, token), 200, "run again").JSON(t)["lastRun"].(map[string]any)
		if notifyCount(again["sentCount"]) != 0 || notifyCount(again["alreadySentCount"]) < 3 {
			t.Fatalf("second run %v; want nothing sent", again)
		}
		time.Sleep(500 * time.Millisecond)
		if after := len(mb.to(olga.email)) + len(mb.to(sam.email)); after != before {
			t.Fatalf("%d e-mails after the second run, want %d", after, before)
		}
	})

	t.Run("a document expiring in 7 days is reminded once (R-NOTIF-2)", func(t *testing.T) {
		token := s.notifyPlatformAdmin(t, root)
		docType := s.notifyDocumentType(t, sam.token)
		validUntil := notifyToday().AddDate(0, 0, 7).Format(time.DateOnly)
		r := s.notifyUpload(t, supCo, sam.token, map[string]any{"documentType": docType, "subject": supCo, "fileName": "kbis.pdf",
			"validFrom": notifyToday().AddDate(0, -1, 0).Format(time.DateOnly), "validUntil": validUntil})
		notifySkipIfMissing(t, r, "vault's uploads (R-VAULT-4)")
		s.expect(r, 200, "upload")
		date := notifyToday().Format(time.DateOnly)
		r = s.do("POST", "/v1/jobs/expiry-reminders:run", map[string]any{"date": date}, token)
		notifySkipIfMissing(t, r, "the reminders' data sources (vault ListExpiringForReminders, identity ListMembers)")
		run := s.expect(r, 200, "run the reminders").JSON(t)["lastRun"].(map[string]any)
		if notifyCount(run["sentCount"]) < 1 {
			t.Fatalf("run %v", run)
		}
		var reminder receivedMail
		deadline := time.Now().Add(15 * time.Second)
		for reminder.Subject == "" {
			for _, m := range mb.to(sam.email) {
				if strings.HasPrefix(m.Subject, "Expires in 7 days") {
					reminder = m
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no 7-day reminder to %s: %+v", sam.email, mb.to(sam.email))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(reminder.Text, "It expires in 7 days") {
			t.Errorf("reminder:\n%s", reminder.Text)
		}
		before := len(mb.to(sam.email))
		again := s.expect(s.do("POST", "/v1/jobs/expiry-reminders:run", map[string]any{"date": date}, token), 200, "run again").JSON(t)["lastRun"].(map[string]any)
		if notifyCount(again["sentCount"]) != 0 || notifyCount(again["alreadySentCount"]) < 1 {
			t.Fatalf("second run %v; want nothing sent", again)
		}
		time.Sleep(500 * time.Millisecond)
		if after := len(mb.to(sam.email)); after != before {
			t.Fatalf("%d e-mails to %s after the second run, want %d", after, sam.email, before)
		}
	})
}

func notifyCount(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case nil:
		return 0 // proto3 JSON leaves zero counts out
	}
	return -1
}

func notifyMail(t *testing.T, mails []receivedMail, subject string) receivedMail {
	t.Helper()
	for _, m := range mails {
		if strings.HasPrefix(m.Subject, subject) {
			return m
		}
	}
	t.Fatalf("no e-mail %q among %+v", subject, mails)
	return receivedMail{}
}

// notifyDocumentType is a platform document type about the company itself.
func (s *suite) notifyDocumentType(t *testing.T, token string) string {
	t.Helper()
	r := s.do("GET", "/v1/documentTypes?pageSize=100", nil, token)
	notifySkipIfMissing(t, r, "vault's document types (R-VAULT-1)")
	for _, dt := range s.expect(r, 200, "document types").JSON(t)["documentTypes"].([]any) {
		dt := dt.(map[string]any)
		if dt["subject"] == "DOCUMENT_SUBJECT_COMPANY" {
			return dt["name"].(string)
		}
	}
	t.Fatal("no company document type in the catalog")
	return ""
}

// notifyUpload sends a small PDF as POST /v1/{company}/documents (multipart:
// metadata JSON, then the file, named as metadata's fileName).
func (s *suite) notifyUpload(t *testing.T, company, token string, metadata map[string]any) response {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	meta, _ := json.Marshal(metadata)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="metadata"`)
	h.Set("Content-Type", "application/json")
	part, _ := w.CreatePart(h)
	_, _ = part.Write(meta)
	fileName, _ := metadata["fileName"].(string)
	file, _ := w.CreateFormFile("file", fileName)
	_, _ = file.Write([]byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"))
	_ = w.Close()
	req, err := http.NewRequest("POST", s.URL+"/v1/"+company+"/documents", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}
