// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) in
// process for tests and benchmarks: it records what it accepts, and can
// answer 4xx or 5xx, require AUTH and STARTTLS, be down and come back.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From      string
	To        []string
	Data      []byte
	MessageID string // without angle brackets
}

// Options shape the server's behaviour. The hooks get the 1-based count of
// transactions that reached that command (across connections).
type Options struct {
	// Addr to listen on; empty picks a free loopback port.
	Addr string
	// RejectRcpt answers RCPT TO with the returned error (nil accepts).
	RejectRcpt func(n int, to string) error
	// RejectData answers the final dot with the returned error (nil accepts).
	RejectData func(n int) error
	// DataHook, when set, runs before the final dot is answered (tests block
	// here to stop notify mid-delivery).
	DataHook func(msg Message)
	// Username and Password require AUTH PLAIN.
	Username, Password string
	// TLS offers STARTTLS (or, with ImplicitTLS, TLS from the first byte).
	TLS         *tls.Config
	ImplicitTLS bool
	// Quiet drops go-smtp's error log (benchmarks).
	Quiet bool
}

// Server is a running test SMTP server.
type Server struct {
	Addr string

	opts Options
	srv  *smtp.Server
	lis  net.Listener

	mu       sync.Mutex
	msgs     []Message
	count    map[string]int
	rcptN    int
	dataN    int
	authFail int
	changed  chan struct{}
}

// Temporary is a 4xx answer; Permanent a 5xx one.
var (
	Temporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	Permanent = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
)

// Start starts a server; it stops when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts, count: map[string]int{}, changed: make(chan struct{})}
	if err := s.listen(opts.Addr); err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// FreeAddr returns a loopback address nothing listens on (yet).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func (s *Server) listen(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a previous run may linger briefly
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	if s.opts.ImplicitTLS && s.opts.TLS != nil {
		lis = tls.NewListener(lis, s.opts.TLS)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "smtptest.localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 4 << 20
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = s.opts.TLS == nil
	if s.opts.TLS != nil && !s.opts.ImplicitTLS {
		srv.TLSConfig = s.opts.TLS
	}
	if s.opts.Quiet {
		srv.ErrorLog = nopLogger{}
	}
	s.srv, s.lis, s.Addr = srv, lis, lis.Addr().String()
	go func() { _ = srv.Serve(lis) }()
	return nil
}

// Close stops the server (the address stops answering: connection refused).
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	return err
}

// Restart listens again on the same address.
func (s *Server) Restart() error { return s.listen(s.Addr) }

// Messages returns a copy of what was accepted, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is how many times a message whose Message-ID's left part is
// messageID (notify's delivery ID) was accepted.
func (s *Server) Count(messageID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[messageID]
}

// Counts returns a copy of the acceptance count of each Message-ID left part.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.count))
	for k, v := range s.count {
		out[k] = v
	}
	return out
}

// Len is the number of accepted messages.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// WaitFor waits until at least n messages were accepted; false on timeout.
func (s *Server) WaitFor(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got, ch := len(s.msgs), s.changed
		s.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// DataAttempts is how many transactions reached the final dot (accepted or not).
func (s *Server) DataAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataN
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			ss.s.mu.Lock()
			ss.s.authFail++
			ss.s.mu.Unlock()
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	ss.s.rcptN++
	n := ss.s.rcptN
	ss.s.mu.Unlock()
	if f := ss.s.opts.RejectRcpt; f != nil {
		if err := f(n, to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data}
	if m, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		msg.MessageID = strings.Trim(m.Header.Get("Message-Id"), "<> ")
	}
	ss.s.mu.Lock()
	ss.s.dataN++
	n := ss.s.dataN
	ss.s.mu.Unlock()
	if f := ss.s.opts.DataHook; f != nil {
		f(msg)
	}
	if f := ss.s.opts.RejectData; f != nil {
		if err := f(n); err != nil {
			return err
		}
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, msg)
	local, _, _ := strings.Cut(msg.MessageID, "@")
	ss.s.count[local]++
	close(ss.s.changed)
	ss.s.changed = make(chan struct{})
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// SelfSigned returns a server TLS config for 127.0.0.1 and localhost, and a
// client config that trusts it.
func SelfSigned(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}

// Decoded is a message's subject, recipient and text part, decoded.
type Decoded struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Decode reads the message as notify composes it (multipart/alternative,
// quoted-printable, RFC 2047 headers).
func (m Message) Decode() (Decoded, error) {
	r, err := gomail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		return Decoded{}, err
	}
	var d Decoded
	if d.Subject, err = r.Header.Subject(); err != nil {
		return Decoded{}, err
	}
	if to, err := r.Header.AddressList("To"); err == nil && len(to) > 0 {
		d.To = to[0].Address
	}
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return d, nil
		}
		if err != nil {
			return Decoded{}, err
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			return Decoded{}, err
		}
		if h, ok := p.Header.(*gomail.InlineHeader); ok {
			ct, _, _ := h.ContentType()
			switch ct {
			case "text/plain":
				d.Text = string(body)
			case "text/html":
				d.HTML = string(body)
			}
		}
	}
}

// DecodedTo returns the decoded messages sent to an address, in order.
func (s *Server) DecodedTo(tb testing.TB, to string) []Decoded {
	tb.Helper()
	var out []Decoded
	for _, m := range s.Messages() {
		for _, rcpt := range m.To {
			if strings.EqualFold(rcpt, to) {
				d, err := m.Decode()
				if err != nil {
					tb.Fatalf("decode a message to %s: %v", to, err)
				}
				out = append(out, d)
			}
		}
	}
	return out
}
