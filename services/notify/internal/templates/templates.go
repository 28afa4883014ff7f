// Package templates renders notify's e-mails: a subject, a text part and an
// HTML part per template and language, from files embedded in the binary and
// parsed once at start. The HTML part is html/template, so every value from
// the data or the recipient is escaped; subjects are folded to one line.
//
// Secrets reach people only by e-mail (R-ID-6, issue 7): a template's
// single-use link is a Secret field, which notify keeps sealed and drops
// once sent; the in-app inbox renders a template's "inbox" part without any
// Secret field, and a link carrying a token is refused in any other field.
package templates

import (
	"bytes"
	"container/list"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
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
	Bool                   // true or false
	ObjectList             // a list of objects, each with the Field's Fields
)

// Field is one data field a template renders.
type Field struct {
	Name     string
	Kind     Kind
	Required bool
	// Secret marks a value that reaches the recipient only by e-mail (a
	// single-use link, R-ID-6): notify keeps it encrypted until the e-mail
	// is sent and then drops it, and the in-app inbox never shows it (its
	// template has an "inbox" part, which renders without it).
	Secret bool
	// Values, when set, are the only strings a String field may hold.
	Values []string
	// Fields are the fields of each object of an ObjectList.
	Fields []Field
	// MaxItems bounds a list (default maxListItems).
	MaxItems int
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
		{Name: "link", Kind: URL, Required: true, Secret: true}, {Name: "company_name", Kind: String, Required: true},
		{Name: "inviter_name", Kind: String, Required: true},
	},
	notify.TemplatePasswordReset: {
		{Name: "link", Kind: URL, Required: true, Secret: true},
	},
	notify.TemplateReviewNewUser: {
		{Name: "company_name", Kind: String, Required: true}, {Name: "customer_name", Kind: String, Required: true},
		{Name: "new_user_name", Kind: String, Required: true}, {Name: "new_user_email", Kind: String, Required: true},
		{Name: "link", Kind: URL},
	},
	notify.TemplateDocumentRejected: {
		{Name: "customer_name", Kind: String, Required: true}, {Name: "document_type", Kind: String, Required: true},
		{Name: "reason", Kind: String, Required: true}, {Name: "document_name", Kind: String},
		{Name: "employee_name", Kind: String}, {Name: "link", Kind: URL},
	},
	notify.TemplateDocumentUpdateRequest: {
		{Name: "customer_name", Kind: String, Required: true}, {Name: "document_types", Kind: StringList},
		{Name: "message", Kind: String}, {Name: "link", Kind: URL},
	},
	// R-NOTIF-2. days_left counts from the day the reminder is sent: a
	// reminder sent late (a catch-up after downtime) says how many days are
	// really left, or that the document already expired (negative).
	notify.TemplateExpiryReminder: {
		{Name: "document_type", Kind: String, Required: true}, {Name: "valid_until", Kind: String, Required: true},
		{Name: "days_left", Kind: Number, Required: true}, {Name: "employee_name", Kind: String},
		{Name: "company_name", Kind: String}, {Name: "customer_names", Kind: StringList, MaxItems: 50},
		{Name: "link", Kind: URL},
	},
	// R-NOTIF-1. kind says which half the digest is: an operator's
	// suppliers (total = suppliers with requirements, groups = the worst
	// suppliers) or a supplier's customers (total = customers with
	// requirements, groups = the customers, least compliant first). Each
	// group lists what is missing, expired, rejected or expiring; employee
	// documents are counted per type and status (employees).
	notify.TemplateWeeklyDigest: {
		{Name: "company_name", Kind: String, Required: true},
		{Name: "kind", Kind: String, Required: true, Values: []string{"operator", "supplier"}},
		{Name: "week", Kind: String}, {Name: "as_of", Kind: String},
		{Name: "total_count", Kind: Number}, {Name: "compliant_count", Kind: Number},
		{Name: "not_compliant_count", Kind: Number}, {Name: "expiring_count", Kind: Number},
		{Name: "groups", Kind: ObjectList, MaxItems: 50, Fields: []Field{
			{Name: "name", Kind: String, Required: true}, {Name: "compliant", Kind: Bool}, {Name: "link", Kind: URL},
			{Name: "items", Kind: ObjectList, MaxItems: 50, Fields: []Field{
				{Name: "document_type", Kind: String, Required: true},
				{Name: "status", Kind: String, Required: true, Values: []string{"missing", "expired", "expiring_soon", "rejected"}},
				{Name: "valid_until", Kind: String}, {Name: "reason", Kind: String}, {Name: "employees", Kind: Number},
			}},
			{Name: "more_items", Kind: Number},
		}},
		{Name: "more_groups", Kind: Number},
		{Name: "link", Kind: URL},
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

// SecretFields lists the Secret fields of template t (see Field.Secret).
func (r *Renderer) SecretFields(t notify.Template) []string {
	var out []string
	for _, f := range Catalog[t] {
		if f.Secret {
			out = append(out, f.Name)
		}
	}
	return out
}

// Renderer renders the catalog's templates; it implements notify.Renderer.
type Renderer struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template

	// shared caches renders of data that many recipients share (RenderShared).
	sharedMu sync.Mutex
	shared   map[string]*list.Element
	lru      *list.List
	// nameMark and emailMark stand for the recipient in a shared render:
	// random per process, so that no data can contain them.
	nameMark, emailMark string
}

// sharedCap bounds the renders kept by RenderShared.
const sharedCap = 256

type sharedEntry struct {
	key string
	out notify.Rendered
}

var funcs = map[string]any{
	"num":      formatNumber,
	"positive": func(v any) bool { f, _ := toFloat(v); return f > 0 },
	"negative": func(v any) bool { f, _ := toFloat(v); return f < 0 },
	"one":      func(v any) bool { f, _ := toFloat(v); return f == 1 },
	"date":     formatDate,
}

// hasSecret reports whether template t has a Secret field.
func hasSecret(t notify.Template) bool {
	for _, f := range Catalog[t] {
		if f.Secret {
			return true
		}
	}
	return false
}

// Load parses every embedded template and checks that each template of the
// catalog has a subject, a text and an HTML part in every language, and an
// inbox part when it holds a secret.
func Load() (*Renderer, error) {
	var mark [12]byte
	_, _ = rand.Read(mark[:])
	r := &Renderer{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{},
		shared: map[string]*list.Element{}, lru: list.New(),
		nameMark: "vigilname" + hex.EncodeToString(mark[:6]), emailMark: "vigilemail" + hex.EncodeToString(mark[6:])}
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
			parts := []string{".subject", ".text"}
			if hasSecret(t) {
				parts = append(parts, ".inbox")
			}
			for _, part := range parts {
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
	if err := checkObject(fields, data, "data.", false); err != nil {
		return err
	}
	return nil
}

// checkObject validates the fields of one object (the data, or one item of
// an ObjectList) and refuses keys that are not fields. With skipSecret, the
// Secret fields are not required (the inbox renders without them).
func checkObject(fields []Field, obj map[string]any, prefix string, skipSecret bool) error {
	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.Name] = true
		v, present := obj[f.Name]
		if !present || v == nil {
			if f.Required && !(skipSecret && f.Secret) {
				return errs.InvalidArgument(prefix+f.Name, "required")
			}
			continue
		}
		if err := checkValue(f, v, prefix+f.Name, skipSecret); err != nil {
			return err
		}
	}
	for k := range obj {
		if !known[k] {
			return errs.InvalidArgument(prefix+k, "not a field of this template")
		}
	}
	return nil
}

func checkValue(f Field, v any, path string, skipSecret bool) error {
	bad := func(format string, args ...any) error { return errs.InvalidArgument(path, format, args...) }
	maxItems := f.MaxItems
	if maxItems <= 0 {
		maxItems = maxListItems
	}
	switch f.Kind {
	case String:
		s, ok := v.(string)
		if !ok {
			return bad("must be a string")
		}
		if f.Required && strings.TrimSpace(s) == "" {
			return bad("must not be empty")
		}
		if utf8.RuneCountInString(s) > maxStringRunes || !utf8.ValidString(s) {
			return bad("at most %d characters of valid UTF-8", maxStringRunes)
		}
		if len(f.Values) > 0 && !slices.Contains(f.Values, s) {
			return bad("must be one of %s", strings.Join(f.Values, ", "))
		}
	case URL:
		s, ok := v.(string)
		if !ok {
			return bad("must be a string")
		}
		if !f.Required && s == "" {
			return nil
		}
		u, err := url.Parse(s)
		if err != nil || len(s) > maxURLBytes || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
			return bad("must be an absolute http or https URL of at most %d bytes", maxURLBytes)
		}
		// A link that carries a token is a secret (R-ID-6): it may travel
		// only in a Secret field, which the inbox never shows.
		if !f.Secret && carriesToken(u) {
			return bad("a link with a token may only be sent in a template's secret link")
		}
	case Number:
		if _, ok := toFloat(v); !ok {
			return bad("must be a number")
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			return bad("must be true or false")
		}
	case StringList:
		l, ok := asList(v)
		if !ok {
			return bad("must be a list of strings")
		}
		if len(l) > maxItems {
			return bad("at most %d items", maxItems)
		}
		for _, item := range l {
			s, ok := item.(string)
			if !ok || utf8.RuneCountInString(s) > maxStringRunes || !utf8.ValidString(s) {
				return bad("must be a list of strings")
			}
		}
	case ObjectList:
		l, ok := asList(v)
		if !ok {
			return bad("must be a list of objects")
		}
		if len(l) > maxItems {
			return bad("at most %d items", maxItems)
		}
		for i, item := range l {
			obj, ok := item.(map[string]any)
			if !ok {
				return errs.InvalidArgument(fmt.Sprintf("%s[%d]", path, i), "must be an object")
			}
			if err := checkObject(f.Fields, obj, fmt.Sprintf("%s[%d].", path, i), skipSecret); err != nil {
				return err
			}
		}
	}
	return nil
}

// carriesToken reports whether a link has a query parameter or fragment
// that names a token (token=, reset_token=, …).
func carriesToken(u *url.URL) bool {
	for k := range u.Query() {
		if strings.Contains(strings.ToLower(k), "token") {
			return true
		}
	}
	return strings.Contains(strings.ToLower(u.Fragment), "token")
}

// asList accepts the shapes a list takes in memory: []any (from JSON or
// structpb), []string and []map[string]any (built in Go).
func asList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(l))
		for i, m := range l {
			out[i] = m
		}
		return out, true
	}
	return nil, false
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

var monthsFR = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// formatDate writes a YYYY-MM-DD date the way a reader of lang expects
// (`3 March 2025`, `3 mars 2025`); anything else is written as it is.
func formatDate(lang string, v any) string {
	s, _ := v.(string)
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	if lang == "fr" {
		return fmt.Sprintf("%d %s %d", d.Day(), monthsFR[d.Month()-1], d.Year())
	}
	return d.Format("2 January 2006")
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
	return r.render(t, lang, rcpt, data, false)
}

// RenderShared is Render for data that many recipients share (a company's
// weekly digest, sent to each of its members): the message is rendered once
// per key (the notification the data belongs to), template and language,
// with marks where the recipient's name and address go, and each recipient
// gets a copy with them filled in, escaped as the HTML part needs. The
// output is the same as Render's (a test holds them together); the last
// sharedCap renders are kept.
func (r *Renderer) RenderShared(key string, t notify.Template, lang string, rcpt notify.Recipient, data map[string]any) (notify.Rendered, error) {
	if key == "" || hasSecret(t) {
		return r.Render(t, lang, rcpt, data)
	}
	if lang == "" {
		lang = notify.DefaultLanguage
	}
	// Templates test whether there is a name (or address): each case is
	// its own rendering.
	marked := notify.Recipient{Language: lang}
	if rcpt.Name != "" {
		marked.Name = r.nameMark
	}
	if rcpt.Email != "" {
		marked.Email = r.emailMark
	}
	k := fmt.Sprintf("%s\x00%s\x00%s\x00%t%t", key, t, lang, rcpt.Name != "", rcpt.Email != "")
	r.sharedMu.Lock()
	el, ok := r.shared[k]
	if ok {
		r.lru.MoveToFront(el)
	}
	r.sharedMu.Unlock()
	var out notify.Rendered
	if ok {
		out = el.Value.(*sharedEntry).out
	} else {
		var err error
		if out, err = r.Render(t, lang, marked, data); err != nil {
			return notify.Rendered{}, err
		}
		r.sharedMu.Lock()
		if _, dup := r.shared[k]; !dup {
			r.shared[k] = r.lru.PushFront(&sharedEntry{key: k, out: out})
			if r.lru.Len() > sharedCap {
				oldest := r.lru.Back()
				r.lru.Remove(oldest)
				delete(r.shared, oldest.Value.(*sharedEntry).key)
			}
		}
		r.sharedMu.Unlock()
	}
	plain := strings.NewReplacer(r.nameMark, rcpt.Name, r.emailMark, rcpt.Email)
	escaped := strings.NewReplacer(r.nameMark, escapeHTML(rcpt.Name), r.emailMark, escapeHTML(rcpt.Email))
	return notify.Rendered{
		Subject: oneLine(plain.Replace(out.Subject)),
		Text:    plain.Replace(out.Text),
		HTML:    escaped.Replace(out.HTML),
	}, nil
}

// htmlText escapes a value as html/template does in text context.
var htmlText = htmltemplate.Must(htmltemplate.New("text").Parse("{{.}}"))

func escapeHTML(s string) string {
	var b strings.Builder
	if err := htmlText.Execute(&b, s); err != nil {
		return htmltemplate.HTMLEscapeString(s)
	}
	return b.String()
}

// RenderInbox renders the in-app inbox entry of template t: the subject and
// the text, or the "inbox" part of a template with a Secret field. Secret
// fields are removed from the data before anything is rendered, so that no
// template, however written, can put a secret into the inbox (issue 7, R-ID-6).
func (r *Renderer) RenderInbox(t notify.Template, lang string, rcpt notify.Recipient, data map[string]any) (notify.Rendered, error) {
	fields, ok := Catalog[t]
	if !ok {
		return notify.Rendered{}, errs.InvalidArgument("template", "unknown template %q", t)
	}
	public := make(map[string]any, len(data))
	for k, v := range data {
		public[k] = v
	}
	for _, f := range fields {
		if f.Secret {
			delete(public, f.Name)
		}
	}
	if err := checkObject(fields, public, "data.", true); err != nil {
		return notify.Rendered{}, err
	}
	return r.render(t, lang, rcpt, public, true)
}

func (r *Renderer) render(t notify.Template, lang string, rcpt notify.Recipient, data map[string]any, inbox bool) (notify.Rendered, error) {
	if lang == "" {
		lang = notify.DefaultLanguage
	}
	tt, ok := r.text[lang]
	if !ok {
		return notify.Rendered{}, errs.InvalidArgument("language", "unsupported language %q", lang)
	}
	ht := r.html[lang]
	v := view{Name: rcpt.Name, Email: rcpt.Email, Lang: lang, Data: withDefaults(Catalog[t], data)}
	var subject, text bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, string(t)+".subject", v); err != nil {
		return notify.Rendered{}, fmt.Errorf("render %s.subject: %w", t, err)
	}
	body := string(t) + ".text"
	if inbox && hasSecret(t) {
		body = string(t) + ".inbox"
	}
	if err := tt.ExecuteTemplate(&text, body, v); err != nil {
		return notify.Rendered{}, fmt.Errorf("render %s: %w", body, err)
	}
	out := notify.Rendered{Subject: oneLine(subject.String()), Text: strings.TrimSpace(text.String()) + "\n"}
	if inbox {
		return out, nil
	}
	var html bytes.Buffer
	if err := ht.ExecuteTemplate(&html, string(t)+".html", v); err != nil {
		return notify.Rendered{}, fmt.Errorf("render %s.html: %w", t, err)
	}
	out.HTML = html.String()
	return out, nil
}

// withDefaults returns obj with every field present: absent optional fields
// get their kind's zero value, and the objects of lists are completed too,
// so that templates can test any field (missingkey=error stays strict about
// names that are not fields at all).
func withDefaults(fields []Field, obj map[string]any) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		val, ok := obj[f.Name]
		if !ok || val == nil {
			switch f.Kind {
			case Number:
				val = float64(0)
			case Bool:
				val = false
			case StringList, ObjectList:
				val = []any{}
			default:
				val = ""
			}
		} else if f.Kind == ObjectList {
			l, _ := asList(val)
			items := make([]any, len(l))
			for i, item := range l {
				m, _ := item.(map[string]any)
				items[i] = withDefaults(f.Fields, m)
			}
			val = items
		}
		out[f.Name] = val
	}
	return out
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
