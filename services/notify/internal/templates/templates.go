// Package templates renders notify's e-mails: a subject, a text part and an
// HTML part per template and language, from files embedded in the binary and
// parsed once at start. The HTML part is html/template, so every value from
// the data or the recipient is escaped; subjects are folded to one line.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"math"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"unicode"
	"unicode/utf8"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/runtime/errs"
)

//go:embed files/*.txt files/*.html
var files embed.FS

// Kind is the type of one data field.
type Kind int

// The kinds a data field can have.
const (
	String     Kind = iota // a non-empty string when required
	URL                    // an absolute http or https URL
	Number                 // a JSON number
	StringList             // a list of strings
)

// Field is one data field a template renders.
type Field struct {
	Name     string
	Kind     Kind
	Required bool
}

// Limits on data values (the whole data is bounded by notify.MaxDataBytes).
const (
	maxStringRunes = 10000
	maxURLBytes    = 2000
	maxListItems   = 500
	maxSubject     = 250
)

// Catalog lists every template with the data fields it accepts. A field not
// listed is refused, so that a caller's typo fails loudly instead of
// rendering an empty value.
var Catalog = map[notify.Template][]Field{
	notify.TemplateInvitation: {
		{"link", URL, true}, {"company_name", String, true}, {"inviter_name", String, true},
	},
	notify.TemplatePasswordReset: {
		{"link", URL, true},
	},
	notify.TemplateReviewNewUser: {
		{"company_name", String, true}, {"customer_name", String, true},
		{"new_user_name", String, true}, {"new_user_email", String, true}, {"link", URL, false},
	},
	notify.TemplateDocumentRejected: {
		{"customer_name", String, true}, {"document_type", String, true}, {"reason", String, true},
		{"document_name", String, false}, {"employee_name", String, false}, {"link", URL, false},
	},
	notify.TemplateDocumentUpdateRequest: {
		{"customer_name", String, true}, {"document_types", StringList, false},
		{"message", String, false}, {"link", URL, false},
	},
	notify.TemplateExpiryReminder: {
		{"document_type", String, true}, {"valid_until", String, true}, {"days_left", Number, true},
		{"employee_name", String, false}, {"company_name", String, false}, {"link", URL, false},
	},
	// The weekly digest's data is provisional: the issue that builds the
	// digest job may extend it.
	notify.TemplateWeeklyDigest: {
		{"company_name", String, true}, {"lines", StringList, false},
		{"compliant_count", Number, false}, {"total_count", Number, false}, {"link", URL, false},
	},
	TemplateWebhookDisabled: {
		{Name: "webhook_url", Kind: String, Required: true}, {Name: "reason", Kind: String, Required: true},
		{Name: "link", Kind: URL},
	},
}

// TemplateWebhookDisabled tells a company's Administrators that one of its
// webhooks failed for 3 days and was disabled (R-NOTIF-6). Notify enqueues
// it itself, in process, so it has no value in the proto Template enum.
const TemplateWebhookDisabled notify.Template = "webhook_disabled"

// Renderer renders the catalog's templates; it implements notify.Renderer.
type Renderer struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

var funcs = map[string]any{
	"num":      formatNumber,
	"positive": func(v any) bool { f, _ := toFloat(v); return f > 0 },
}

// Load parses every embedded template and checks that each template of the
// catalog has a subject, a text and an HTML part in every language.
func Load() (*Renderer, error) {
	r := &Renderer{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, lang := range notify.Languages {
		tt, err := texttemplate.New(lang).Funcs(funcs).Option("missingkey=error").ParseFS(files, "files/"+lang+".txt")
		if err != nil {
			return nil, fmt.Errorf("templates %s text: %w", lang, err)
		}
		ht, err := htmltemplate.New(lang).Funcs(funcs).Option("missingkey=error").ParseFS(files, "files/layout.html", "files/"+lang+".html")
		if err != nil {
			return nil, fmt.Errorf("templates %s html: %w", lang, err)
		}
		for t := range Catalog {
			for _, part := range []string{".subject", ".text"} {
				if tt.Lookup(string(t)+part) == nil {
					return nil, fmt.Errorf("templates %s: %s%s is missing", lang, t, part)
				}
			}
			if ht.Lookup(string(t)+".html") == nil {
				return nil, fmt.Errorf("templates %s: %s.html is missing", lang, t)
			}
		}
		r.text[lang], r.html[lang] = tt, ht
	}
	return r, nil
}

// Check validates data for template t; see notify.Renderer.
func (r *Renderer) Check(t notify.Template, data map[string]any) error {
	fields, ok := Catalog[t]
	if !ok {
		return errs.InvalidArgument("template", "unknown template %q", t)
	}
	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.Name] = true
		v, present := data[f.Name]
		if !present || v == nil {
			if f.Required {
				return errs.InvalidArgument("data."+f.Name, "required by template %s", t)
			}
			continue
		}
		if err := checkValue(f, v); err != nil {
			return errs.InvalidArgument("data."+f.Name, "%s", err.Error())
		}
	}
	for k := range data {
		if !known[k] {
			return errs.InvalidArgument("data."+k, "not a field of template %s", t)
		}
	}
	return nil
}

func checkValue(f Field, v any) error {
	switch f.Kind {
	case String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a string")
		}
		if f.Required && strings.TrimSpace(s) == "" {
			return fmt.Errorf("must not be empty")
		}
		if utf8.RuneCountInString(s) > maxStringRunes || !utf8.ValidString(s) {
			return fmt.Errorf("at most %d characters of valid UTF-8", maxStringRunes)
		}
	case URL:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a string")
		}
		if !f.Required && s == "" {
			return nil
		}
		u, err := url.Parse(s)
		if err != nil || len(s) > maxURLBytes || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
			return fmt.Errorf("must be an absolute http or https URL of at most %d bytes", maxURLBytes)
		}
	case Number:
		if _, ok := toFloat(v); !ok {
			return fmt.Errorf("must be a number")
		}
	case StringList:
		l, ok := v.([]any)
		if !ok {
			if ls, ok2 := v.([]string); ok2 {
				l = make([]any, len(ls))
				for i, s := range ls {
					l[i] = s
				}
			} else {
				return fmt.Errorf("must be a list of strings")
			}
		}
		if len(l) > maxListItems {
			return fmt.Errorf("at most %d items", maxListItems)
		}
		for _, item := range l {
			s, ok := item.(string)
			if !ok || utf8.RuneCountInString(s) > maxStringRunes {
				return fmt.Errorf("must be a list of strings")
			}
		}
	}
	return nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// formatNumber prints integers without a decimal point.
func formatNumber(v any) string {
	f, ok := toFloat(v)
	if !ok {
		return ""
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// view is what a template sees: the recipient, and every field of the
// template's data (absent optional fields as their zero value).
type view struct {
	Name  string
	Email string
	Lang  string
	Data  map[string]any
}

// Render renders template t for recipient rcpt in lang; see notify.Renderer.
func (r *Renderer) Render(t notify.Template, lang string, rcpt notify.Recipient, data map[string]any) (notify.Rendered, error) {
	if err := r.Check(t, data); err != nil {
		return notify.Rendered{}, err
	}
	if lang == "" {
		lang = notify.DefaultLanguage
	}
	tt, ok := r.text[lang]
	if !ok {
		return notify.Rendered{}, errs.InvalidArgument("language", "unsupported language %q", lang)
	}
	ht := r.html[lang]
	v := view{Name: rcpt.Name, Email: rcpt.Email, Lang: lang, Data: map[string]any{}}
	for _, f := range Catalog[t] {
		val, ok := data[f.Name]
		if !ok || val == nil {
			switch f.Kind {
			case Number:
				val = float64(0)
			case StringList:
				val = []any{}
			default:
				val = ""
			}
		}
		v.Data[f.Name] = val
	}
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, string(t)+".subject", v); err != nil {
		return notify.Rendered{}, fmt.Errorf("render %s.subject: %w", t, err)
	}
	if err := tt.ExecuteTemplate(&text, string(t)+".text", v); err != nil {
		return notify.Rendered{}, fmt.Errorf("render %s.text: %w", t, err)
	}
	if err := ht.ExecuteTemplate(&html, string(t)+".html", v); err != nil {
		return notify.Rendered{}, fmt.Errorf("render %s.html: %w", t, err)
	}
	return notify.Rendered{
		Subject: oneLine(subject.String()),
		Text:    strings.TrimSpace(text.String()) + "\n",
		HTML:    html.String(),
	}, nil
}

// oneLine folds s into a single header-safe line: every run of white space
// or control characters (line breaks included) becomes one space, and the
// result is cut at maxSubject characters. No header injection can survive it.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= maxSubject {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
