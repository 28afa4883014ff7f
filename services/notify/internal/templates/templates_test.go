package templates

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/runtime/errs"
)

// Sample data for every template of the catalog.
var samples = map[notify.Template]map[string]any{
	notify.TemplateInvitation:    {"link": "https://vigil.example/invitation?token=abc", "company_name": "Acme SAS", "inviter_name": "Alice Martin"},
	notify.TemplatePasswordReset: {"link": "https://vigil.example/reset-password?token=xyz"},
	notify.TemplateReviewNewUser: {"company_name": "Acme SAS", "customer_name": "Big Buyer", "new_user_name": "Bob Durand", "new_user_email": "bob@acme.example"},
	notify.TemplateDocumentRejected: {
		"customer_name": "Big Buyer", "document_type": "URSSAF_VIGILANCE", "reason": "Expired stamp",
		"document_name": "urssaf.pdf", "employee_name": "", "link": "https://vigil.example/documents",
	},
	notify.TemplateDocumentUpdateRequest: {"customer_name": "Big Buyer", "document_types": []any{"URSSAF_VIGILANCE", "KBIS"}, "message": "Before Friday please"},
	notify.TemplateExpiryReminder:        {"document_type": "KBIS", "valid_until": "2025-03-01", "days_left": float64(7), "employee_name": "Chloé", "customer_names": []any{"Big Buyer"}},
	notify.TemplateWeeklyDigest:          operatorDigest,
	TemplateWebhookDisabled:              {"webhook_url": "https://erp.example/vigil", "reason": "every delivery failed since 2025-03-01T10:00:00Z", "link": "https://vigil.example"},
}

// operatorDigest is an operator's weekly digest as the job builds it.
var operatorDigest = map[string]any{
	"company_name": "Big Buyer", "kind": "operator", "week": "2025-W11", "as_of": "2025-03-10",
	"total_count": 5, "compliant_count": 3, "not_compliant_count": 2, "expiring_count": 4,
	"groups": []any{
		map[string]any{"name": "Acme SAS", "link": "https://vigil.example/companies/b/suppliers/a", "items": []any{
			map[string]any{"document_type": "URSSAF attestation", "status": "missing"},
			map[string]any{"document_type": "Safety training", "status": "expired", "valid_until": "2025-03-01", "employees": 3},
			map[string]any{"document_type": "Insurance", "status": "rejected", "reason": "Unreadable scan"},
		}, "more_items": 2},
		map[string]any{"name": "Durand BTP", "compliant": true, "items": []any{
			map[string]any{"document_type": "Kbis", "status": "expiring_soon", "valid_until": "2025-03-20"},
		}},
	},
	"link": "https://vigil.example/companies/b/compliance",
}

// supplierDigest is a supplier's.
var supplierDigest = map[string]any{
	"company_name": "Acme SAS", "kind": "supplier", "total_count": 2, "compliant_count": 1, "not_compliant_count": 1, "expiring_count": 1,
	"groups": []any{
		map[string]any{"name": "Big Buyer", "items": []any{map[string]any{"document_type": "URSSAF attestation", "status": "missing"}}},
	},
	"more_groups": 3,
}

func mustLoad(t *testing.T) *Renderer {
	t.Helper()
	r, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEveryTemplateRendersInEveryLanguage(t *testing.T) {
	r := mustLoad(t)
	for tmpl := range Catalog {
		data, ok := samples[tmpl]
		if !ok {
			t.Fatalf("no sample data for %s", tmpl)
		}
		for _, lang := range notify.Languages {
			t.Run(string(tmpl)+"/"+lang, func(t *testing.T) {
				out, err := r.Render(tmpl, lang, notify.Recipient{Email: "x@example.com", Name: "Zoé Dupont", Language: lang}, data)
				if err != nil {
					t.Fatal(err)
				}
				if out.Subject == "" || strings.ContainsAny(out.Subject, "\r\n") {
					t.Errorf("subject %q", out.Subject)
				}
				for _, part := range []string{out.Text, out.HTML} {
					if !strings.Contains(part, "Zoé Dupont") {
						t.Errorf("recipient name missing from\n%s", part)
					}
					if strings.Contains(part, "<no value>") || strings.Contains(part, "%!") {
						t.Errorf("unfilled value in\n%s", part)
					}
				}
				if !strings.Contains(out.HTML, `lang="`+lang+`"`) {
					t.Errorf("html lang attribute missing")
				}
				greeting := map[string]string{"en": "Hello", "fr": "Bonjour"}[lang]
				if !strings.HasPrefix(out.Text, greeting) {
					t.Errorf("text does not start with %q:\n%s", greeting, out.Text)
				}
				for k, v := range data {
					formatted := map[string]bool{"link": true, "valid_until": true, "as_of": true, "kind": true, "week": true}
					if s, ok := v.(string); ok && s != "" && !formatted[k] && !strings.Contains(out.Text, s) {
						t.Errorf("text lacks %s=%q", k, s)
					}
				}
			})
		}
	}
}

func TestHTMLEscapesUserData(t *testing.T) {
	r := mustLoad(t)
	data := map[string]any{
		"link":         "https://vigil.example/invitation?token=a&b=<c>",
		"company_name": `<script>alert(1)</script>`,
		"inviter_name": `"Eve" <img src=x onerror=alert(1)>`,
	}
	out, err := r.Render(notify.TemplateInvitation, "en", notify.Recipient{Email: "x@example.com", Name: "<b>Mallory</b>"}, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", "<b>Mallory"} {
		if strings.Contains(out.HTML, bad) {
			t.Errorf("HTML contains unescaped %q", bad)
		}
	}
	if !strings.Contains(out.HTML, "&lt;script&gt;") {
		t.Errorf("HTML lacks the escaped company name")
	}
}

func TestSubjectCannotCarryHeaders(t *testing.T) {
	r := mustLoad(t)
	data := map[string]any{"link": "https://vigil.example/i", "company_name": "Acme\r\nBcc: victim@example.com", "inviter_name": "A\nB"}
	out, err := r.Render(notify.TemplateInvitation, "en", notify.Recipient{Email: "x@example.com"}, data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.Subject, "\r\n") {
		t.Fatalf("subject has a line break: %q", out.Subject)
	}
	if want := "A B invites you to join Acme Bcc: victim@example.com on Vigil"; out.Subject != want {
		t.Errorf("subject %q, want %q", out.Subject, want)
	}
}

func TestCheckNamesTheField(t *testing.T) {
	r := mustLoad(t)
	cases := []struct {
		name  string
		tmpl  notify.Template
		data  map[string]any
		field string
	}{
		{"unknown template", "nope", nil, "template"},
		{"missing link", notify.TemplatePasswordReset, nil, "data.link"},
		{"missing inviter", notify.TemplateInvitation, map[string]any{"link": "https://x.example", "company_name": "A"}, "data.inviter_name"},
		{"blank required", notify.TemplateInvitation, map[string]any{"link": "https://x.example", "company_name": " ", "inviter_name": "I"}, "data.company_name"},
		{"javascript link", notify.TemplatePasswordReset, map[string]any{"link": "javascript:alert(1)"}, "data.link"},
		{"relative link", notify.TemplatePasswordReset, map[string]any{"link": "/reset"}, "data.link"},
		{"link with user info", notify.TemplatePasswordReset, map[string]any{"link": "https://a:b@x.example/"}, "data.link"},
		{"number as string", notify.TemplateExpiryReminder, map[string]any{"document_type": "K", "valid_until": "2025-01-01", "days_left": "7"}, "data.days_left"},
		{"string instead of list", notify.TemplateDocumentUpdateRequest, map[string]any{"customer_name": "C", "document_types": "KBIS"}, "data.document_types"},
		{"list of numbers", notify.TemplateDocumentUpdateRequest, map[string]any{"customer_name": "C", "document_types": []any{1.0}}, "data.document_types"},
		{"unknown field", notify.TemplatePasswordReset, map[string]any{"link": "https://x.example", "extra": "x"}, "data.extra"},
		{"too long", notify.TemplateReviewNewUser, map[string]any{"company_name": strings.Repeat("a", maxStringRunes+1), "customer_name": "c", "new_user_name": "n", "new_user_email": "e"}, "data.company_name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := r.Check(c.tmpl, c.data)
			var de *errs.Error
			if !errors.As(err, &de) || de.Kind != errs.KindInvalidArgument || de.Field != c.field {
				t.Fatalf("Check = %v, want INVALID_ARGUMENT on %s", err, c.field)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"  a \r\n b\t\tc  ":      "a b c",
		"x\u2028y":               "x y",
		strings.Repeat("é", 300): strings.Repeat("é", maxSubject) + "…",
		"":                       "",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// secretSample fills every field of a template with sample data; Secret
// links carry a token.
const secretToken = "SECRET-TOKEN-4f1c9a"

func sampleWithSecrets(tmpl notify.Template) map[string]any {
	data := map[string]any{}
	for k, v := range samples[tmpl] {
		data[k] = v
	}
	for _, f := range Catalog[tmpl] {
		if f.Secret {
			data[f.Name] = "https://vigil.example/" + f.Name + "?token=" + secretToken
		}
	}
	return data
}

// TestInboxNeverShowsASecret (issue 7, point 1; R-ID-6): the in-app entry
// of every template, in every language, says what happened without the
// link or its token, while the e-mail carries it.
func TestInboxNeverShowsASecret(t *testing.T) {
	r := mustLoad(t)
	secretTemplates := 0
	for tmpl := range Catalog {
		data := sampleWithSecrets(tmpl)
		if len(r.SecretFields(tmpl)) > 0 {
			secretTemplates++
		}
		for _, lang := range notify.Languages {
			rcpt := notify.Recipient{Email: "zoe@example.com", Name: "Zoé", Language: lang}
			inbox, err := r.RenderInbox(tmpl, lang, rcpt, data)
			if err != nil {
				t.Fatalf("%s/%s: %v", tmpl, lang, err)
			}
			for _, part := range []string{inbox.Subject, inbox.Text, inbox.HTML} {
				if strings.Contains(part, secretToken) || strings.Contains(strings.ToLower(part), "token=") {
					t.Errorf("%s/%s: the inbox shows a secret:\n%s", tmpl, lang, part)
				}
			}
			if strings.TrimSpace(inbox.Text) == "" || inbox.Subject == "" {
				t.Errorf("%s/%s: empty inbox entry", tmpl, lang)
			}
			mail, err := r.Render(tmpl, lang, rcpt, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.SecretFields(tmpl)) > 0 && (!strings.Contains(mail.Text, secretToken) || !strings.Contains(mail.HTML, secretToken)) {
				t.Errorf("%s/%s: the e-mail lacks its link", tmpl, lang)
			}
			// The inbox works from what the store keeps: no secret at all.
			if _, err := r.RenderInbox(tmpl, lang, rcpt, samplesWithout(data, r.SecretFields(tmpl))); err != nil {
				t.Errorf("%s/%s: inbox without the secrets: %v", tmpl, lang, err)
			}
		}
	}
	if secretTemplates != 2 {
		t.Fatalf("%d templates hold a secret; want invitation and password_reset", secretTemplates)
	}
}

func samplesWithout(data map[string]any, drop []string) map[string]any {
	out := map[string]any{}
	for k, v := range data {
		out[k] = v
	}
	for _, k := range drop {
		delete(out, k)
	}
	return out
}

// TestTokenLinksOnlyInSecretFields: a link carrying a token in any other
// field (which the inbox shows) is refused, naming the field.
func TestTokenLinksOnlyInSecretFields(t *testing.T) {
	r := mustLoad(t)
	checked := 0
	for tmpl, fields := range Catalog {
		for _, f := range fields {
			if f.Kind != URL || f.Secret {
				continue
			}
			for _, link := range []string{"https://vigil.example/x?token=abc", "https://vigil.example/x?reset_token=abc", "https://vigil.example/x#token=abc"} {
				data := sampleWithSecrets(tmpl)
				data[f.Name] = link
				err := r.Check(tmpl, data)
				var de *errs.Error
				if !errors.As(err, &de) || de.Field != "data."+f.Name {
					t.Errorf("%s.%s = %q: Check = %v, want INVALID_ARGUMENT on data.%s", tmpl, f.Name, link, err, f.Name)
				}
			}
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("only %d link fields checked", checked)
	}
}

func TestWeeklyDigest(t *testing.T) {
	r := mustLoad(t)
	cases := []struct {
		name, lang string
		data       map[string]any
		want       []string
	}{
		{"operator/en", "en", operatorDigest, []string{"Suppliers with requirements: 5", "compliant: 3", "not compliant: 2",
			"expiring within 30 days: 4", "Acme SAS", "URSSAF attestation: missing", "Safety training (3 employees): expired on 1 March 2025",
			"Insurance: rejected (Unreadable scan)", "and 2 more", "Durand BTP (compliant)", "Kbis: expires on 20 March 2025", "on 10 March 2025"}},
		{"operator/fr", "fr", operatorDigest, []string{"Fournisseurs soumis à des exigences : 5", "conformes : 3", "non conformes : 2",
			"URSSAF attestation : manquant", "Safety training (3 salariés) : expiré le 1 mars 2025", "Insurance : refusé (Unreadable scan)",
			"et 2 de plus", "Durand BTP (conforme)", "au 10 mars 2025"}},
		{"supplier/en", "en", supplierDigest, []string{"Customers who collect your documents: 2", "you are compliant for: 1",
			"you are not compliant for: 1", "Big Buyer", "URSSAF attestation: missing", "And 3 more."}},
		{"supplier/fr", "fr", supplierDigest, []string{"Clients qui demandent vos documents : 2", "vous êtes conforme pour : 1",
			"Big Buyer", "URSSAF attestation : manquant", "Et 3 de plus."}},
		{"empty operator", "en", map[string]any{"company_name": "New Co", "kind": "operator"}, []string{"None of your suppliers has a document to provide yet."}},
		{"empty supplier", "fr", map[string]any{"company_name": "New Co", "kind": "supplier"}, []string{"Aucun client ne vous demande encore de documents."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := r.Render(notify.TemplateWeeklyDigest, c.lang, notify.Recipient{Email: "x@example.com", Name: "Zoé"}, c.data)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(out.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, out.Text)
				}
			}
			if strings.Contains(out.Text, "<no value>") || strings.Contains(out.HTML, "<no value>") {
				t.Errorf("unfilled value")
			}
		})
	}
	bad := map[string]map[string]any{
		"data.kind":                         {"company_name": "C", "kind": "other"},
		"data.groups[0].items[0].status":    {"company_name": "C", "kind": "operator", "groups": []any{map[string]any{"name": "S", "items": []any{map[string]any{"document_type": "K", "status": "lost"}}}}},
		"data.groups[0].name":               {"company_name": "C", "kind": "operator", "groups": []any{map[string]any{"items": []any{}}}},
		"data.groups[0].extra":              {"company_name": "C", "kind": "operator", "groups": []any{map[string]any{"name": "S", "extra": 1.0}}},
		"data.groups[0]":                    {"company_name": "C", "kind": "operator", "groups": []any{"not an object"}},
		"data.groups[0].items[0].employees": {"company_name": "C", "kind": "operator", "groups": []any{map[string]any{"name": "S", "items": []any{map[string]any{"document_type": "K", "status": "missing", "employees": "3"}}}}},
	}
	for field, data := range bad {
		err := r.Check(notify.TemplateWeeklyDigest, data)
		var de *errs.Error
		if !errors.As(err, &de) || de.Field != field {
			t.Errorf("Check = %v, want INVALID_ARGUMENT on %s", err, field)
		}
	}
}

func TestExpiryReminderCountsTheDaysLeft(t *testing.T) {
	r := mustLoad(t)
	for _, c := range []struct {
		days       float64
		lang, subj string
	}{
		{30, "en", "Expires in 30 days: KBIS"}, {1, "en", "Expires in 1 day: KBIS"}, {0, "en", "Expires today: KBIS"},
		{-2, "en", "Expired: KBIS"}, {7, "fr", "Expire dans 7 jours : KBIS"}, {0, "fr", "Expire aujourd'hui : KBIS"},
	} {
		out, err := r.Render(notify.TemplateExpiryReminder, c.lang, notify.Recipient{Email: "x@example.com"},
			map[string]any{"document_type": "KBIS", "valid_until": "2025-03-01", "days_left": c.days})
		if err != nil {
			t.Fatal(err)
		}
		if out.Subject != c.subj {
			t.Errorf("days_left %v in %s: subject %q, want %q", c.days, c.lang, out.Subject, c.subj)
		}
	}
}

// TestRenderSharedIsRender: the shared rendering of every template, in every
// language, personalised for names that need escaping, is byte for byte
// what Render makes, the first time and from the cache.
func TestRenderSharedIsRender(t *testing.T) {
	r := mustLoad(t)
	names := []notify.Recipient{
		{Email: "zoe@example.com", Name: "Zoé Dupont"},
		{Email: "o'hara+tag@example.com", Name: `<b>"O'Hara" & Co + 1</b>`},
		{Email: "x@example.com"},
	}
	for tmpl := range Catalog {
		data := samples[tmpl]
		for _, lang := range notify.Languages {
			for i, rcpt := range names {
				rcpt.Language = lang
				want, err := r.Render(tmpl, lang, rcpt, data)
				if err != nil {
					t.Fatal(err)
				}
				got, err := r.RenderShared("n1", tmpl, lang, rcpt, data)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("%s/%s, recipient %d: shared rendering differs:\n%q\n%q", tmpl, lang, i, got, want)
				}
			}
		}
	}
}
