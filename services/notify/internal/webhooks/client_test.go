package webhooks

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tlsServer is a local HTTPS endpoint and the CA pool that trusts it.
func tlsServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

// TestDialTimeCheckDefeatsRebinding: a name that resolved to a public
// address when the endpoint was registered, and to loopback when the
// delivery dials (DNS rebinding), is refused at connection time: the
// resolved address is what the guard checks.
func TestDialTimeCheckDefeatsRebinding(t *testing.T) {
	var hits atomic.Int32
	srv, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	url := "https://localhost" + port + "/hook"
	// At registration the name resolves to a public address: accepted.
	rebinding := fakeResolver{"localhost": {"93.184.216.34"}}
	if err := checkURL(context.Background(), url, "webhook.url", rebinding, false); err != nil {
		t.Fatalf("registration: %v", err)
	}
	// At delivery the system resolver says 127.0.0.1: refused before any byte.
	c := NewClient(ClientOptions{RootCAs: pool, Timeout: 2 * time.Second})
	code, err := c.Post(context.Background(), url, http.Header{}, []byte("{}"))
	var forbidden *ForbiddenAddressError
	if !errors.As(err, &forbidden) || code != 0 {
		t.Fatalf("Post = %d, %v; want a ForbiddenAddressError", code, err)
	}
	if hits.Load() != 0 {
		t.Fatal("the endpoint was reached")
	}
	// The operator may allow private addresses (tests, on-premises ERPs).
	allowed := NewClient(ClientOptions{Guard: Guard{AllowPrivate: true}, RootCAs: pool, Timeout: 2 * time.Second})
	if code, err := allowed.Post(context.Background(), srv.URL, http.Header{}, []byte("{}")); err != nil || code != 200 {
		t.Fatalf("allowed private: %d %v", code, err)
	}
}

// TestHostileEndpoints: an endpoint that never answers, answers 1 GB, or
// redirects elsewhere costs a bounded time and a few KiB, and is a failure.
func TestHostileEndpoints(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var elsewhere atomic.Int32
	other, _ := tlsServer(t, func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) })
	srv, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/silent":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/huge":
			w.WriteHeader(200)
			chunk := make([]byte, 1<<20)
			for range 1024 { // 1 GiB, unless the client hangs up first
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/redirect":
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		case "/metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect)
		}
	})
	c := NewClient(ClientOptions{Guard: Guard{AllowPrivate: true}, RootCAs: pool, Timeout: 300 * time.Millisecond})

	start := time.Now()
	if code, err := c.Post(context.Background(), srv.URL+"/silent", http.Header{}, nil); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Errorf("silent endpoint: %d %v after %s", code, err, time.Since(start))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("silent endpoint held the attempt %s", d)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start = time.Now()
	code, err := c.Post(context.Background(), srv.URL+"/huge", http.Header{}, nil)
	runtime.ReadMemStats(&after)
	if err != nil || code != 200 {
		t.Errorf("huge answer: %d %v", code, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("huge answer took %s", d)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("reading a 1 GiB answer allocated %d MiB", grew>>20)
	}

	for _, path := range []string{"/redirect", "/metadata"} {
		code, err := c.Post(context.Background(), srv.URL+path, http.Header{}, nil)
		if err != nil || code < 300 || code > 399 {
			t.Errorf("%s: %d %v, want the 3xx itself", path, code, err)
		}
	}
	if elsewhere.Load() != 0 {
		t.Error("a redirect was followed")
	}
}

// TestFailuresDoNotRepeatTheURL: integrations often put a credential in
// the endpoint's query (`?code=…`, `?key=…`); a failed attempt's error is
// logged by notify and kept as the delivery's last error, so it names what
// failed, never the URL.
func TestFailuresDoNotRepeatTheURL(t *testing.T) {
	const secret = "s3cr3t-query-credential"
	srv, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {})
	closed := srv.URL
	srv.Close() // connection refused from now on
	c := NewClient(ClientOptions{Guard: Guard{AllowPrivate: true}, RootCAs: pool, Timeout: 2 * time.Second})
	for _, url := range []string{closed + "/hook?code=" + secret, "https://127.0.0.1:1/hook?key=" + secret} {
		_, err := c.Post(context.Background(), url, http.Header{}, []byte("{}"))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("error %v must not carry the URL", err)
		}
	}
	guarded := NewClient(ClientOptions{RootCAs: pool, Timeout: 2 * time.Second})
	_, err := guarded.Post(context.Background(), closed+"/hook?code="+secret, http.Header{}, []byte("{}"))
	var forbidden *ForbiddenAddressError
	if !errors.As(err, &forbidden) || strings.Contains(err.Error(), secret) {
		t.Fatalf("guard refusal %v", err)
	}
}
