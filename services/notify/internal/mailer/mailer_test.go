package mailer_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/vigil/vigil/services/notify/internal/mailer"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
)

var email = notify.Email{
	MessageID: notify.DeliveryID("0123456789abcdefghijklmnop", 3),
	To:        notify.Recipient{Email: "zoe@example.com", Name: "Zoé Dupont", Language: "fr"},
	Subject:   "Réinitialisation de votre mot de passe",
	Text:      "Bonjour Zoé,\n\nhttps://vigil.test/reset?token=abc\n",
	HTML:      "<p>Bonjour Zoé,</p>",
	Date:      time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC),
}

func TestComposeIsMultipartAlternative(t *testing.T) {
	from, _ := mail.ParseAddress("Vigil <no-reply@vigil.test>")
	raw, err := mailer.Compose(from, email, "vigil.test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := r.Header.Subject()
	to, _ := r.Header.AddressList("To")
	id, _ := r.Header.MessageID()
	ct, _, _ := r.Header.ContentType()
	if subject != email.Subject || len(to) != 1 || to[0].Name != "Zoé Dupont" || to[0].Address != "zoe@example.com" ||
		id != email.MessageID+"@vigil.test" || ct != "multipart/alternative" {
		t.Fatalf("headers: subject %q, to %v, id %q, type %q", subject, to, id, ct)
	}
	var types []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h := p.Header.(*gomail.InlineHeader)
		typ, params, _ := h.ContentType()
		body, _ := io.ReadAll(p.Body)
		types = append(types, typ)
		if params["charset"] != "utf-8" || !strings.Contains(string(body), "Bonjour Zoé") {
			t.Errorf("%s part: charset %q, body %q", typ, params["charset"], body)
		}
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v", types)
	}
	// Every header line is 7-bit: the non-ASCII subject is RFC 2047-encoded.
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("8-bit header line %q", line)
			}
		}
	}
}

func TestComposeCannotInjectHeaders(t *testing.T) {
	from, _ := mail.ParseAddress("no-reply@vigil.test")
	e := email
	e.To.Name = "Eve\r\nBcc: victim@example.com"
	e.Subject = "Hi\r\nBcc: victim@example.com"
	raw, err := mailer.Compose(from, e, "vigil.test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if bcc := m.Header.Get("Bcc"); bcc != "" {
		t.Fatalf("injected Bcc header: %q", bcc)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(m.Header.Get("Subject"))
	if strings.ContainsAny(subj, "\r\n") {
		t.Fatalf("subject kept a line break: %q", subj)
	}
}

func newSMTP(t *testing.T, cfg mailer.SMTPConfig) *mailer.SMTP {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Vigil <no-reply@vigil.test>"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	s, err := mailer.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSMTPWithSTARTTLSAndAuth(t *testing.T) {
	serverTLS, clientTLS := smtptest.SelfSigned(t)
	srv := smtptest.Start(t, smtptest.Options{TLS: serverTLS, Username: "vigil", Password: "s3cret"})
	s := newSMTP(t, mailer.SMTPConfig{Addr: srv.Addr, TLS: mailer.TLSStartTLS, TLSConfig: clientTLS, Username: "vigil", Password: "s3cret"})
	for range 3 { // the second and third reuse the connection
		resp, err := s.Send(context.Background(), email)
		if err != nil || !strings.HasPrefix(resp, "250") {
			t.Fatalf("Send = %q, %v", resp, err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 3 || msgs[0].From != "no-reply@vigil.test" || msgs[0].To[0] != "zoe@example.com" {
		t.Fatalf("received %+v", msgs)
	}

	bad := newSMTP(t, mailer.SMTPConfig{Addr: srv.Addr, TLS: mailer.TLSStartTLS, TLSConfig: clientTLS, Username: "vigil", Password: "wrong"})
	if _, err := bad.Send(context.Background(), email); err == nil || notify.IsPermanent(err) {
		t.Fatalf("wrong password: %v; want a temporary error (configuration, not the message)", err)
	}
	untrusted := newSMTP(t, mailer.SMTPConfig{Addr: srv.Addr, TLS: mailer.TLSStartTLS, Username: "vigil", Password: "s3cret"})
	if _, err := untrusted.Send(context.Background(), email); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	serverTLS, clientTLS := smtptest.SelfSigned(t)
	srv := smtptest.Start(t, smtptest.Options{TLS: serverTLS, ImplicitTLS: true})
	s := newSMTP(t, mailer.SMTPConfig{Addr: srv.Addr, TLS: mailer.TLSImplicit, TLSConfig: clientTLS})
	if _, err := s.Send(context.Background(), email); err != nil || srv.Len() != 1 {
		t.Fatalf("Send = %v, received %d", err, srv.Len())
	}
}

func TestSMTPRefusesPlaintextWhenSTARTTLSIsRequired(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSMTP(t, mailer.SMTPConfig{Addr: srv.Addr, TLS: mailer.TLSStartTLS})
	if _, err := s.Send(context.Background(), email); err == nil || srv.Len() != 0 {
		t.Fatalf("sent over plaintext: %v", err)
	}
}

func TestSMTPClassifiesAnswers(t *testing.T) {
	spam := &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "message refused"}
	cases := []struct {
		name                     string
		opts                     smtptest.Options
		permanent, undeliverable bool
	}{
		{"4xx at RCPT", smtptest.Options{RejectRcpt: func(int, string) error { return smtptest.Temporary }}, false, false},
		// A bounce: the address itself is refused (suppressed, reported).
		{"5xx at RCPT", smtptest.Options{RejectRcpt: func(int, string) error { return smtptest.Permanent }}, true, true},
		{"4xx at DATA", smtptest.Options{RejectData: func(int) error { return smtptest.Temporary }}, false, false},
		{"5.1.1 at DATA", smtptest.Options{RejectData: func(int) error { return smtptest.Permanent }}, true, true},
		// The message, not the address, is refused: a dead letter only.
		{"5.7.1 at DATA", smtptest.Options{RejectData: func(int) error { return spam }}, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, c.opts)
			_, err := newSMTP(t, mailer.SMTPConfig{Addr: srv.Addr}).Send(context.Background(), email)
			if err == nil || notify.IsPermanent(err) != c.permanent || notify.IsUndeliverable(err) != c.undeliverable {
				t.Fatalf("err = %v, permanent = %v, undeliverable = %v; want %v, %v", err, notify.IsPermanent(err), notify.IsUndeliverable(err), c.permanent, c.undeliverable)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		_, err := newSMTP(t, mailer.SMTPConfig{Addr: smtptest.FreeAddr(t)}).Send(context.Background(), email)
		if err == nil || notify.IsPermanent(err) {
			t.Fatalf("err = %v; want temporary", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{DataHook: func(smtptest.Message) { time.Sleep(time.Second) }})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := newSMTP(t, mailer.SMTPConfig{Addr: srv.Addr}).Send(ctx, email)
		if err == nil || notify.IsPermanent(err) || time.Since(start) > 800*time.Millisecond {
			t.Fatalf("err = %v after %v; want a prompt temporary error", err, time.Since(start))
		}
	})
}

func TestSMTPReconnectsAfterServerDropsIdleConnection(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSMTP(t, mailer.SMTPConfig{Addr: srv.Addr})
	if _, err := s.Send(context.Background(), email); err != nil {
		t.Fatal(err)
	}
	// The server restarts: the pooled connection is dead.
	_ = srv.Close()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), email); err != nil {
		t.Fatalf("send on a dropped pooled connection: %v", err)
	}
	if srv.Len() != 2 {
		t.Fatalf("received %d", srv.Len())
	}
}

func TestFilesWritesOneEMLPerMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox-mail")
	f, err := mailer.NewFiles(dir, "Vigil <no-reply@vigil.test>")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // a resend rewrites the same file
		if _, err := f.Send(context.Background(), email); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != email.MessageID+".eml" {
		t.Fatalf("folder holds %v", entries)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err != nil || m.Header.Get("To") == "" {
		t.Fatalf("not a message: %v", err)
	}
	bad := email
	bad.MessageID = "../escape"
	if _, err := f.Send(context.Background(), bad); !notify.IsPermanent(err) {
		t.Fatalf("a path as message id: %v", err)
	}
}
