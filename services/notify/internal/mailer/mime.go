// Package mailer turns a rendered notify.Email into an RFC 5322 message and
// delivers it: over SMTP (go-smtp's client: STARTTLS or implicit TLS, AUTH
// PLAIN, pooled connections), or, when no SMTP server is configured, as .eml
// files in a folder. Both implement notify.Sender.
package mailer

import (
	"bytes"
	"fmt"
	"io"
	"net/mail"
	"strings"

	gomail "github.com/emersion/go-message/mail"

	"github.com/vigil/vigil/services/notify/internal/notify"
)

// Compose builds the MIME message of e from the given From address:
// multipart/alternative with a text/plain and a text/html part, quoted-
// printable, headers RFC 2047-encoded where they are not ASCII. Every header
// value is a single line: names and subjects were refused or folded before
// (and go-message encodes what remains), so no header can be injected.
func Compose(from *mail.Address, e notify.Email, msgIDDomain string) ([]byte, error) {
	var h gomail.Header
	h.SetDate(e.Date)
	h.SetAddressList("From", []*gomail.Address{{Name: from.Name, Address: from.Address}})
	h.SetAddressList("To", []*gomail.Address{{Name: singleLine(e.To.Name), Address: e.To.Email}})
	h.SetSubject(singleLine(e.Subject))
	h.SetMessageID(e.MessageID + "@" + msgIDDomain)
	h.Set("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	h.Set("Content-Language", e.To.Language)

	var buf bytes.Buffer
	mw, err := gomail.CreateInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	if err := writePart(mw, "text/plain", e.Text); err != nil {
		return nil, err
	}
	if err := writePart(mw, "text/html", e.HTML); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return buf.Bytes(), nil
}

func writePart(mw *gomail.InlineWriter, contentType, body string) error {
	var ph gomail.InlineHeader
	ph.SetContentType(contentType, map[string]string{"charset": "utf-8"})
	ph.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreatePart(ph)
	if err != nil {
		return fmt.Errorf("compose %s: %w", contentType, err)
	}
	if _, err := io.WriteString(w, body); err != nil {
		return fmt.Errorf("compose %s: %w", contentType, err)
	}
	return w.Close()
}

// singleLine replaces line breaks and other control characters by spaces:
// a last guard, the domain refuses them in names and templates fold subjects.
func singleLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// domainOf returns the domain of an address, for Message-IDs.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "vigil.localhost"
}
