package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"time"
)

// Poster makes one delivery attempt: it POSTs body with header to url and
// returns the answer's status code, or an error when there was no answer.
type Poster interface {
	Post(ctx context.Context, url string, header http.Header, body []byte) (code int, err error)
}

// ClientOptions configure the HTTP client of deliveries.
type ClientOptions struct {
	// Guard checks every address dialled.
	Guard Guard
	// RootCAs are the CAs endpoints' certificates must chain to (the
	// system's plus the operator's WebhookCAFile); nil means the system's.
	RootCAs *x509.CertPool
	// Timeout bounds one attempt, from dialling to the last byte read.
	Timeout time.Duration
	// PerHost bounds the connections to one host.
	PerHost int
}

// maxResponseBytes is how much of an answer is read: the status is all
// that counts, and a hostile endpoint answering 1 GB costs 4 KiB.
const maxResponseBytes = 4 << 10

// Client is the delivery's HTTP client: bounded in time and memory, never
// following redirects (a 3xx is a failed attempt: a redirect could lead to
// a forbidden address, and the signature is for the registered URL), never
// using a proxy from the environment (the guard checks the very address
// dialled), and refusing forbidden addresses at dial time.
type Client struct {
	http    *http.Client
	timeout time.Duration
}

// NewClient builds the client.
func NewClient(o ClientOptions) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.PerHost <= 0 {
		o.PerHost = 4
	}
	dialer := &net.Dialer{Timeout: min(o.Timeout, 5*time.Second), KeepAlive: 30 * time.Second, Control: o.Guard.Control}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    min(o.Timeout, 5*time.Second),
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    o.PerHost,
		MaxConnsPerHost:        o.PerHost,
		IdleConnTimeout:        90 * time.Second,
		DisableCompression:     true,
		ForceAttemptHTTP2:      true,
	}
	return &Client{
		timeout: o.Timeout,
		http: &http.Client{
			Transport:     transport,
			Timeout:       o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Post implements Poster.
func (c *Client) Post(ctx context.Context, url string, header http.Header, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("the endpoint URL cannot be parsed")
	}
	req.Header = header
	resp, err := c.http.Do(req)
	if err == nil && ctx.Err() != nil {
		// The answer came as the deadline passed: net/http may still hand
		// over a response that the endpoint wrote only when it saw the
		// connection end (an endpoint silent until then). Not an answer in time.
		resp.Body.Close()
		resp, err = nil, ctx.Err()
	}
	if err != nil {
		// The error is logged and kept as the delivery's last error: it
		// names what failed, never the URL, whose query may hold the
		// integration's credential (`?code=…`).
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var forbidden *ForbiddenAddressError
		if errors.As(err, &forbidden) {
			return 0, forbidden
		}
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return 0, fmt.Errorf("no answer within %s", c.timeout)
		}
		return 0, err
	}
	defer resp.Body.Close()
	// Read a little, so that a small answer leaves the connection reusable;
	// anything longer is cut when the body is closed.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	return resp.StatusCode, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }
