package e2e

// A real SMTP server (github.com/emersion/go-smtp, the one notify's own
// tests use) in the test process, for the end-to-end tests of notify: the
// suite delivers to it over SMTP (VIGIL_SMTP_ADDR) and the tests read what
// arrived, decoded.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
)

// mail is one message received, decoded.
type mail struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// mailbox is a running SMTP server that keeps what it accepts; RCPT TO an
// address in reject gets a permanent 550 5.1.1.
type mailbox struct {
	Addr   string
	srv    *smtp.Server
	mu     sync.Mutex
	mails  []mail
	reject map[string]bool
}

func startMailbox(t *testing.T, reject ...string) *mailbox {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mailbox{Addr: lis.Addr().String(), reject: map[string]bool{}}
	for _, r := range reject {
		m.reject[strings.ToLower(r)] = true
	}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }))
	m.srv.Domain = "e2e.localhost"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	m.srv.AllowInsecureAuth = true
	go func() { _ = m.srv.Serve(lis) }()
	t.Cleanup(func() { _ = m.srv.Close() })
	return m
}

type mailSession struct {
	m  *mailbox
	to []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.m.reject[strings.ToLower(to)] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	d, err := decodeMail(raw)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	for _, to := range s.to {
		d.To = strings.ToLower(to)
		s.m.mails = append(s.m.mails, d)
	}
	return nil
}

func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

func decodeMail(raw []byte) (mail, error) {
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return mail{}, err
	}
	var d mail
	if d.Subject, err = r.Header.Subject(); err != nil {
		return mail{}, err
	}
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return d, nil
		}
		if err != nil {
			return mail{}, err
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			return mail{}, err
		}
		if h, ok := p.Header.(*gomail.InlineHeader); ok {
			switch ct, _, _ := h.ContentType(); ct {
			case "text/plain":
				d.Text = string(body)
			case "text/html":
				d.HTML = string(body)
			}
		}
	}
}

// to returns the messages received for an address.
func (m *mailbox) to(addr string) []mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mail
	for _, d := range m.mails {
		if d.To == strings.ToLower(addr) {
			out = append(out, d)
		}
	}
	return out
}

// waitTo waits until addr has received n messages and returns them.
func (m *mailbox) waitTo(t *testing.T, addr string, n int) []mail {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := m.to(addr)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d e-mails to %s, want %d: %+v", len(got), addr, n, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
