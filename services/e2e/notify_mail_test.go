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

// receivedMail is one message received, decoded.
type receivedMail struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// smtpMailbox is a running SMTP server that keeps what it accepts; RCPT TO an
// address in reject gets a permanent 550 5.1.1.
type smtpMailbox struct {
	Addr   string
	srv    *smtp.Server
	mu     sync.Mutex
	mails  []receivedMail
	reject map[string]bool
}

func startSMTPMailbox(t *testing.T, reject ...string) *smtpMailbox {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &smtpMailbox{Addr: lis.Addr().String(), reject: map[string]bool{}}
	for _, r := range reject {
		m.reject[strings.ToLower(r)] = true
	}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpMailSession{m: m}, nil }))
	m.srv.Domain = "e2e.localhost"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	m.srv.AllowInsecureAuth = true
	go func() { _ = m.srv.Serve(lis) }()
	t.Cleanup(func() { _ = m.srv.Close() })
	return m
}

type smtpMailSession struct {
	m  *smtpMailbox
	to []string
}

func (s *smtpMailSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *smtpMailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.m.reject[strings.ToLower(to)] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such smtpMailbox"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpMailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	d, err := decodeReceivedMail(raw)
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

func (s *smtpMailSession) Reset()        { s.to = nil }
func (s *smtpMailSession) Logout() error { return nil }

func decodeReceivedMail(raw []byte) (receivedMail, error) {
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return receivedMail{}, err
	}
	var d receivedMail
	if d.Subject, err = r.Header.Subject(); err != nil {
		return receivedMail{}, err
	}
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return d, nil
		}
		if err != nil {
			return receivedMail{}, err
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			return receivedMail{}, err
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
func (m *smtpMailbox) to(addr string) []receivedMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []receivedMail
	for _, d := range m.mails {
		if d.To == strings.ToLower(addr) {
			out = append(out, d)
		}
	}
	return out
}

// waitTo waits until addr has received n messages and returns them.
func (m *smtpMailbox) waitTo(t *testing.T, addr string, n int) []receivedMail {
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
