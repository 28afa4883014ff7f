package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/vigil/vigil/services/notify/internal/notify"
)

// TLSMode is how the SMTP connection is protected.
type TLSMode string

// The modes (VIGIL_SMTP_TLS).
const (
	TLSNone     TLSMode = "none"     // plaintext (loopback relays, test servers)
	TLSStartTLS TLSMode = "starttls" // plaintext, then STARTTLS before anything else; refused if not offered
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (port 465)
)

// ParseTLSMode parses a VIGIL_SMTP_TLS value.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(s)); m {
	case TLSNone, TLSStartTLS, TLSImplicit:
		return m, nil
	}
	return "", fmt.Errorf("must be none, starttls or tls, not %q", s)
}

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	Addr     string // host:port
	From     string // "Name <address>" or "address"
	Username string // AUTH PLAIN when set
	Password string
	TLS      TLSMode
	// TLSConfig overrides the client TLS configuration (tests trust their
	// own CA here); nil verifies the server against the system roots.
	TLSConfig *tls.Config

	// Timeout bounds one whole attempt: connecting, TLS, AUTH and the
	// message transaction. Zero means one minute.
	Timeout time.Duration
	// MaxIdle connections are kept open between messages, for IdleTimeout.
	MaxIdle     int
	IdleTimeout time.Duration
}

// SMTP sends e-mails to one SMTP server; it implements notify.Sender.
// Connections are reused across messages (one transaction at a time each)
// and dropped after an error or IdleTimeout.
type SMTP struct {
	cfg    SMTPConfig
	from   *mail.Address
	domain string
	tls    *tls.Config

	mu   sync.Mutex
	idle []*smtpConn
}

type smtpConn struct {
	conn     net.Conn
	client   *smtp.Client
	lastUsed time.Time
}

// NewSMTP validates cfg and returns a sender; it connects lazily.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp-from: %w", err)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp-addr: %w", err)
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSNone
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = 4
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Second
	}
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	return &SMTP{cfg: cfg, from: from, domain: domainOf(from.Address), tls: tc}, nil
}

// stage is where in the exchange an error happened: only the message
// transaction's answers say anything about the message itself.
type stage int

const (
	stageConnect stage = iota // dial, greeting, EHLO, TLS, AUTH
	stageMail
	stageRcpt
	stageData
)

// Send delivers e in one SMTP transaction and returns the server's answer to
// the final dot. A 5xx answer to MAIL, RCPT or DATA is permanent (to RCPT,
// or with an enhanced status 5.1.x, the address is undeliverable); 4xx
// answers, network errors, timeouts and connection-level failures (TLS,
// AUTH: configuration the operator can fix) are temporary.
func (s *SMTP) Send(ctx context.Context, e notify.Email) (string, error) {
	msg, err := Compose(s.from, e, s.domain)
	if err != nil {
		return "", notify.Permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	for try := 0; ; try++ {
		c, reused, err := s.get(ctx)
		if err != nil {
			return "", fmt.Errorf("connect to %s: %w", s.cfg.Addr, err)
		}
		resp, st, err := s.transact(ctx, c, e.To.Email, msg)
		if err == nil {
			s.put(c)
			return resp, nil
		}
		_ = c.conn.Close()
		var se *smtp.SMTPError
		isSMTP := errors.As(err, &se)
		// A pooled connection the server closed while idle fails on MAIL
		// before anything was accepted: retry once on a new connection.
		if reused && st == stageMail && !isSMTP && try == 0 && ctx.Err() == nil {
			continue
		}
		if isSMTP && se.Code >= 500 && st != stageConnect {
			// A 5xx to RCPT, or an enhanced status 5.1.x (bad mailbox or
			// address) at any stage, says the address itself is wrong: a
			// bounce, which suppresses the address (R-NOTIF-1).
			if st == stageRcpt || se.EnhancedCode[0] == 5 && se.EnhancedCode[1] == 1 {
				return "", notify.Undeliverable(err)
			}
			return "", notify.Permanent(err)
		}
		return "", err
	}
}

// transact runs MAIL, RCPT and DATA on c; ctx's end closes the connection,
// which makes the exchange in progress fail. A 250 read before that stands:
// reporting it as a failure would send the message twice. (A connection
// closed that way fails at its next use, which Send retries once.)
func (s *SMTP) transact(ctx context.Context, c *smtpConn, to string, msg []byte) (resp string, st stage, err error) {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	defer stop()
	var opts *smtp.MailOptions
	if !isASCII(s.from.Address) || !isASCII(to) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.client.Mail(s.from.Address, opts); err != nil {
		return "", stageMail, err
	}
	if err := c.client.Rcpt(to, nil); err != nil {
		return "", stageRcpt, err
	}
	w, err := c.client.Data()
	if err != nil {
		return "", stageData, err
	}
	if _, err := w.Write(msg); err != nil {
		return "", stageData, err
	}
	dr, err := w.CloseWithResponse()
	if err != nil {
		return "", stageData, err
	}
	return "250 " + dr.StatusText, stageData, nil
}

// get returns a pooled connection still fresh, or a new one.
func (s *SMTP) get(ctx context.Context) (*smtpConn, bool, error) {
	s.mu.Lock()
	for len(s.idle) > 0 {
		c := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if time.Since(c.lastUsed) < s.cfg.IdleTimeout {
			s.mu.Unlock()
			return c, true, nil
		}
		_ = c.conn.Close()
	}
	s.mu.Unlock()
	c, err := s.dial(ctx)
	return c, false, err
}

func (s *SMTP) put(c *smtpConn) {
	c.lastUsed = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) >= s.cfg.MaxIdle {
		go func() { _ = c.client.Quit() }()
		return
	}
	s.idle = append(s.idle, c)
}

// dial connects, protects and authenticates a new connection.
func (s *SMTP) dial(ctx context.Context) (c *smtpConn, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, err
	}
	// The greeting, EHLO, STARTTLS and AUTH obey ctx too.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		if !stop() && err == nil {
			err = ctx.Err()
		}
		if err != nil {
			_ = conn.Close()
		}
	}()
	var client *smtp.Client
	switch s.cfg.TLS {
	case TLSImplicit:
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		conn = tc
		client = smtp.NewClient(conn)
	case TLSStartTLS:
		client, err = smtp.NewClientStartTLS(conn, s.tls)
		if err != nil {
			return nil, fmt.Errorf("starttls: %w", err)
		}
	default:
		client = smtp.NewClient(conn)
	}
	client.CommandTimeout = s.cfg.Timeout
	client.SubmissionTimeout = s.cfg.Timeout
	// Greet now (again after STARTTLS), so that greeting and EHLO failures
	// count as connection failures, never as answers about the message.
	if err := client.Hello("localhost"); err != nil {
		return nil, fmt.Errorf("hello: %w", err)
	}
	if s.cfg.Username != "" {
		if ok, _ := client.Extension("AUTH"); !ok {
			return nil, errors.New("smtp: the server does not offer AUTH")
		}
		if err := client.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	return &smtpConn{conn: conn, client: client}, nil
}

// Close closes the idle connections.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, c := range idle {
		_ = c.client.Quit()
		_ = c.conn.Close()
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
