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
	notify.TemplateExpiryReminder:        {"document_type": "KBIS", "valid_until": "2025-03-01", "days_left": float64(7), "employee_name": "Chloé"},
	notify.TemplateWeeklyDigest:          {"company_name": "Acme SAS", "lines": []any{"Big Buyer: 2 missing"}, "compliant_count": float64(3), "total_count": float64(5)},
	TemplateWebhookDisabled:              {"webhook_url": "https://erp.example/vigil", "reason": "every delivery failed since 2025-03-01T10:00:00Z", "link": "https://vigil.example"},
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
					if s, ok := v.(string); ok && s != "" && k != "link" && !strings.Contains(out.Text, s) {
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
