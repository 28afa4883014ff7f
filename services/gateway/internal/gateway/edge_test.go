package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vigil/vigil/services/runtime/config"
)

// call sends one request to the test gateway and returns the answer with its body read.
func (g *testGateway) call(t *testing.T, method, path string, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// accessLines waits for n access log lines (the line is written once the
// handler returns, which may be after the client has read the answer).
func (g *testGateway) accessLines(t *testing.T, n int) []observer.LoggedEntry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := g.logs.FilterMessage("http").AllUntimed()
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(time.Millisecond)
	}
}

func withOrigins(origins ...string) func(*Config, *[]grpc.ServerOption) {
	return func(c *Config, _ *[]grpc.ServerOption) { c.CORSAllowedOrigins = origins }
}

// TestCORS: issue 12 point 2 — a preflight from a listed origin gets the
// methods and headers, one from any other origin is refused and never sees
// an Access-Control-* header (credentials above all).
func TestCORS(t *testing.T) {
	g := newTestGateway(t, withOrigins("https://app.example.com"))
	preflight := func(origin, method, headers string) *http.Response {
		resp, _ := g.call(t, "OPTIONS", "/v1/me", "", "Origin", origin,
			"Access-Control-Request-Method", method, "Access-Control-Request-Headers", headers)
		return resp
	}

	t.Run("allowed origin", func(t *testing.T) {
		resp := preflight("https://app.example.com", "PATCH", "authorization, content-type, x-request-id, if-none-match")
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			h.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || h.Get("Access-Control-Max-Age") == "" {
			t.Fatalf("preflight: %d %v", resp.StatusCode, h)
		}
		if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Fatalf("preflight answers vary by Origin: %v", h.Values("Vary"))
		}
		// The real request then exposes the headers a page needs.
		resp, _ = g.call(t, "GET", "/v1/me", "", "Origin", "https://app.example.com")
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
			t.Fatalf("actual request: %v", resp.Header)
		}
	})

	t.Run("unknown origin", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.test", "null", "http://app.example.com"} {
			resp := preflight(origin, "GET", "authorization")
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" ||
				resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("preflight from %s: %d %v", origin, resp.StatusCode, resp.Header)
			}
			resp, _ = g.call(t, "GET", "/v1/me", "", "Origin", origin)
			for k := range resp.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Fatalf("answer to %s carries %s", origin, k)
				}
			}
		}
	})

	t.Run("method or header not allowed", func(t *testing.T) {
		if resp := preflight("https://app.example.com", "TRACE", ""); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("TRACE: %d", resp.StatusCode)
		}
		resp := preflight("https://app.example.com", "GET", "x-evil")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("unknown header: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("none configured", func(t *testing.T) {
		g := newTestGateway(t)
		resp, _ := g.call(t, "OPTIONS", "/v1/me", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("no origin is allowed by default: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestCORSOriginsAreChecked(t *testing.T) {
	for _, bad := range []string{"app.example.com", "https://app.example.com/path", "ftp://x", "https://", "https://u@x"} {
		if _, err := newCORS([]string{bad}); err == nil {
			t.Errorf("origin %q must be refused", bad)
		}
	}
	if p, err := newCORS([]string{"HTTPS://App.Example.com/"}); err != nil || !p.allowed("https://app.example.com") {
		t.Fatalf("origins are compared normalized: %v", err)
	}
}

// TestMethodNotAllowed: issue 12 point 3 — a path served for other methods
// answers 405 with Allow (not 501); an unknown path 404.
func TestMethodNotAllowed(t *testing.T) {
	g := newTestGateway(t)
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/v1/auth:login", "POST"},
		{"DELETE", "/v1/me", "GET, PATCH"},
		{"POST", "/v1/companies/c1/users/u1", "GET, PATCH, DELETE"},
		{"GET", "/v1/companies/c1/documents", "GET"}, // allowed: not a 405
		{"PATCH", "/v1/companies/c1/documents", "GET, POST"},
		{"POST", "/healthz", "GET"},
		{"DELETE", "/.well-known/jwks.json", "GET"},
	} {
		resp, body := g.call(t, tc.method, tc.path, "")
		if tc.method == "GET" {
			if resp.StatusCode == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: 405", tc.method, tc.path)
			}
			continue
		}
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow ||
			!strings.Contains(body, `"code":12`) {
			t.Errorf("%s %s: %d Allow=%q %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
	if resp, body := g.call(t, "GET", "/v1/nothing/here", ""); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "/v1/nothing/here") {
		t.Fatalf("unknown path: %d %s", resp.StatusCode, body)
	}
}

// TestTooManyRequestsCarriesRetryAfter: issue 12 point 3 — 429 says when to
// retry: the service's RetryInfo rounded up, else the default.
func TestTooManyRequestsCarriesRetryAfter(t *testing.T) {
	g := newTestGateway(t)
	st, _ := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(2500 * time.Millisecond)})
	g.identity.loginErr = st.Err()
	resp, _ := g.call(t, "POST", "/v1/auth:login", `{"email":"a@b.c"}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("with RetryInfo: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	g.identity.loginErr = status.Error(codes.ResourceExhausted, "busy")
	resp, _ = g.call(t, "POST", "/v1/auth:login", `{"email":"a@b.c"}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("without RetryInfo: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestOneBodyBound: issue 7 point 9 — a body the gateway lets through but a
// service refuses for its size answers 413, not 429; and the gateway's
// default bound is the services' gRPC bound.
func TestOneBodyBound(t *testing.T) {
	g := newTestGateway(t, func(c *Config, o *[]grpc.ServerOption) {
		c.MaxBodyBytes = 1 << 20
		*o = append(*o, grpc.MaxRecvMsgSize(64<<10))
	})
	body := `{"email":"a@b.c","password":"` + strings.Repeat("x", 100<<10) + `"}`
	resp, raw := g.call(t, "POST", "/v1/auth:login", body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Retry-After") != "" || !strings.Contains(raw, "too large") {
		t.Fatalf("oversize for the service: %d %v %s", resp.StatusCode, resp.Header, raw)
	}
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBodyBytes != 4<<20 {
		t.Fatalf("default body bound %d, want the services' 4 MiB gRPC bound", cfg.MaxBodyBytes)
	}
}

// TestETag: issue 12 point 3 — single-resource reads carry an ETag and
// answer 304 to If-None-Match; a change gives a new tag; binary downloads
// stream without one.
func TestETag(t *testing.T) {
	g := newTestGateway(t)
	resp, body := g.call(t, "GET", "/v1/companies/c1/users/u1", "")
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !strings.HasPrefix(tag, `"`) || !strings.Contains(body, "Ada") {
		t.Fatalf("first read: %d %q %s", resp.StatusCode, tag, body)
	}
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		resp, body = g.call(t, "GET", "/v1/companies/c1/users/u1", "", "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("ETag") != tag {
			t.Fatalf("If-None-Match %s: %d %q %q", inm, resp.StatusCode, resp.Header.Get("ETag"), body)
		}
	}
	g.identity.mu.Lock()
	g.identity.me.GivenName = "Augusta"
	g.identity.mu.Unlock()
	resp, body = g.call(t, "GET", "/v1/companies/c1/users/u1", "", "If-None-Match", tag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == tag || !strings.Contains(body, "Augusta") {
		t.Fatalf("after a change: %d %q %s", resp.StatusCode, resp.Header.Get("ETag"), body)
	}
	if resp, _ := g.call(t, "GET", "/v1/companies/c1/users/nobody", "", "If-None-Match", "*"); resp.StatusCode != 404 || resp.Header.Get("ETag") != "" {
		t.Fatalf("errors carry no tag: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestETagLetsFilesStream: answers that are not JSON (document downloads,
// CSV exports) pass through as they are written, never held back to be
// hashed (R-VAULT-4: memory does not grow with a file).
func TestETagLetsFilesStream(t *testing.T) {
	rec := httptest.NewRecorder()
	h := withETag(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write([]byte("%PDF-"))
		if rec.Body.String() != "%PDF-" {
			t.Errorf("the first chunk was held back: %q", rec.Body.String())
		}
		_, _ = w.Write([]byte("1.7"))
	}))
	h.ServeHTTP(rec, httpRequest(t, "GET", "/v1/companies/c1/documents/d1/content"))
	if rec.Body.String() != "%PDF-1.7" || rec.Header().Get("ETag") != "" {
		t.Fatalf("%q %v", rec.Body.String(), rec.Header())
	}
}

// TestRequestID: issue 12 point 3 — a well-formed X-Request-Id is kept and
// reaches the service; anything else is replaced, and the replacement is
// what the service sees.
func TestRequestID(t *testing.T) {
	g := newTestGateway(t)
	for _, tc := range []struct {
		sent string
		kept bool
	}{
		{"req-123_ABC.x", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"has space", false},
		{"new\nline", false},
		{"é", false},
	} {
		req, _ := http.NewRequest("GET", g.URL+"/v1/me", nil)
		req.Header["X-Request-Id"] = []string{tc.sent}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// net/http refuses to send some invalid header values itself.
			continue
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		upstream := strings.Join(g.identity.lastMetadata().Get("x-request-id"), ",")
		if tc.kept && got != tc.sent || !tc.kept && (got == tc.sent || len(got) != 32) {
			t.Errorf("sent %q: answered %q", tc.sent, got)
		}
		if upstream != got {
			t.Errorf("sent %q: the service saw %q, the caller %q", tc.sent, upstream, got)
		}
	}
}

func bearer(sub string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"` + sub + `","cmp":"companies/c1"}`))
	return "Bearer eyJhbGciOiJFZERTQSJ9." + payload + ".c2lnbmF0dXJl"
}

// TestAccessLog: issue 12 point 3 — one line per request with method, route
// pattern, status, duration, bytes, request id, user and trace id; never
// the token; off with --access-log=false.
func TestAccessLog(t *testing.T) {
	g := newTestGateway(t)
	token := bearer("users/u1")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, body := g.call(t, "GET", "/v1/companies/c1/users/u1", "", "Authorization", token,
		"X-Request-Id", "log-test-1", "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	lines := g.accessLines(t, 1)
	if len(lines) != 1 {
		t.Fatalf("%d access log lines for one request", len(lines))
	}
	f := lines[0].ContextMap()
	if f["method"] != "GET" || f["route"] != "/v1/{name=companies/*/users/*}" || f["status"] != int64(200) ||
		f["bytes"] != int64(len(body)) || f["request_id"] != "log-test-1" || f["user"] != "users/u1" ||
		f["trace_id"] != traceID || f["duration"] == nil || lines[0].Level != zap.InfoLevel {
		t.Fatalf("access log line: %v (answer %d, %d bytes)", f, resp.StatusCode, len(body))
	}
	for _, e := range g.logs.AllUntimed() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "c2lnbmF0dXJl") {
				t.Fatalf("a token reached the log: %v", e.ContextMap())
			}
		}
	}

	g.logs.TakeAll()
	g.call(t, "GET", "/healthz", "")
	g.call(t, "GET", "/nowhere", "", "Authorization", "Bearer not-a-jwt")
	lines = g.accessLines(t, 2)
	if len(lines) != 2 || lines[0].Level != zap.DebugLevel || lines[1].ContextMap()["route"] != "unmatched" ||
		lines[1].ContextMap()["user"] != nil {
		t.Fatalf("probe and unmatched lines: %v", lines)
	}

	off := newTestGateway(t, func(c *Config, _ *[]grpc.ServerOption) { c.AccessLog = false })
	off.call(t, "GET", "/v1/me", "")
	time.Sleep(100 * time.Millisecond) // the line would be written just after the answer
	if n := off.logs.FilterMessage("http").Len(); n != 0 {
		t.Fatalf("--access-log=false still wrote %d lines", n)
	}
}

// TestTraceContextReachesServices: issue 12 point 5 — the services get W3C
// trace context: the caller's trace when it sent one, a new one otherwise,
// and the access log names the same trace.
func TestTraceContextReachesServices(t *testing.T) {
	g := newTestGateway(t)
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	g.call(t, "GET", "/v1/me", "", "traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	tp := strings.Join(g.identity.lastMetadata().Get("traceparent"), ",")
	if !strings.HasPrefix(tp, "00-"+traceID+"-") || strings.Contains(tp, "b7ad6b7169203331") {
		t.Fatalf("the service got traceparent %q: want the caller's trace, a child span", tp)
	}
	g.logs.TakeAll()
	g.call(t, "GET", "/v1/me", "")
	tp = strings.Join(g.identity.lastMetadata().Get("traceparent"), ",")
	logged, _ := g.accessLines(t, 1)[0].ContextMap()["trace_id"].(string)
	if len(tp) != 55 || logged == "" || tp[3:35] != logged {
		t.Fatalf("new trace: service got %q, log says %q", tp, logged)
	}
}

// TestNoTracingWithoutAnEndpoint: without VIGIL_OTLP_ENDPOINT nothing is
// traced: no trace context reaches the services, no trace id is logged.
func TestNoTracingWithoutAnEndpoint(t *testing.T) {
	g := newTestGateway(t, func(c *Config, _ *[]grpc.ServerOption) { c.OTLPEndpoint = "" })
	g.call(t, "GET", "/v1/me", "")
	if tp := g.identity.lastMetadata().Get("traceparent"); len(tp) != 0 {
		t.Fatalf("the service got traceparent %v", tp)
	}
	if line := g.accessLines(t, 1)[0].ContextMap(); line["trace_id"] != nil {
		t.Fatalf("trace id logged: %v", line)
	}
}

// TestJWKSWellKnown: issue 12 point 3 — the key set is also where JOSE
// libraries look first.
func TestJWKSWellKnown(t *testing.T) {
	g := newTestGateway(t)
	r1, keys := g.call(t, "GET", "/v1/auth/keys", "")
	r2, wellKnown := g.call(t, "GET", "/.well-known/jwks.json", "")
	if r1.StatusCode != 200 || r2.StatusCode != 200 || keys != wellKnown || !strings.Contains(keys, `"kid":"k1"`) ||
		r2.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("keys %d %s, well-known %d %s", r1.StatusCode, keys, r2.StatusCode, wellKnown)
	}
}

// TestMetricsOffThePublicPort: issue 12 point 7.
func TestMetricsOffThePublicPort(t *testing.T) {
	on := newTestGateway(t)
	if resp, body := on.call(t, "GET", "/metrics", ""); resp.StatusCode != 200 || !strings.Contains(body, "vigil_gateway_http_requests_in_flight") {
		t.Fatalf("default: /metrics on the public port: %d", resp.StatusCode)
	}
	off := newTestGateway(t, func(c *Config, _ *[]grpc.ServerOption) { c.MetricsAddr = "127.0.0.1:0" })
	if resp, _ := off.call(t, "GET", "/metrics", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("with --metrics-addr: /metrics on the public port answers %d", resp.StatusCode)
	}
}

// TestInvalidUTF8NamesTheField: issue 7 point 9 — 400 naming the
// parameter, not 500.
func TestInvalidUTF8NamesTheField(t *testing.T) {
	g := newTestGateway(t)
	for path, field := range map[string]string{
		"/v1/companies/c1/users/%FF":                   "name",
		"/v1/documentTypes?company=companies%2F%C3%28": "company",
		"/v1/documentTypes?%FF=1":                      `xff`,
		"/v1/companies/c1/documents/%FE%FF/content":    "document",
	} {
		resp, body := g.call(t, "GET", path, "")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, field) || !strings.Contains(body, "UTF-8") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

// TestErrorsSayWhatToFix: issue 12 point 4.
func TestErrorsSayWhatToFix(t *testing.T) {
	g := newTestGateway(t)
	for _, tc := range []struct {
		name, method, path, body string
		want                     []string
	}{
		{"truncated object", "POST", "/v1/auth:login", "{\n  \"email\": \"a@b.c\",\n  \"password\": \"x\"",
			[]string{"line 3, column 18", "object opened at line 1, column 1", "expected a value, ',' or '}'"}},
		{"unterminated string", "POST", "/v1/auth:login", `{"email": "a@b.c`,
			[]string{"string that starts at line 1, column 11", `closing '"'`}},
		{"syntax error", "POST", "/v1/auth:login", "{\"email\" \"a\"}",
			[]string{"line 1, column 10", "after object key"}},
		{"trailing data", "POST", "/v1/auth:login", `{"email": "a"} x`,
			[]string{"line 1, column 16", "after the JSON value"}},
		{"unknown field", "POST", "/v1/auth:login", `{"emial": "a"}`,
			[]string{"line 1, column 2", `unknown field "emial"`}},
		{"invalid enum in body", "POST", "/v1/companies:signup", `{"company": {"legalName": "X", "kind": "OPERATOR"}}`,
			[]string{"company.kind", `"OPERATOR"`, "COMPANY_KIND_OPERATOR, COMPANY_KIND_SUPPLIER", "line 1, column"}},
		{"invalid enum in query", "GET", "/v1/documentTypes?subject=EMPLOYEE", "",
			[]string{"subject", `"EMPLOYEE"`, "DOCUMENT_SUBJECT_COMPANY, DOCUMENT_SUBJECT_EMPLOYEE"}},
		{"invalid number in query", "GET", "/v1/documentTypes?pageSize=ten", "",
			[]string{"pageSize", `"ten"`}},
	} {
		resp, body := g.call(t, tc.method, tc.path, tc.body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d %s", tc.name, resp.StatusCode, body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, strings.ReplaceAll(w, `"`, `\"`)) {
				t.Errorf("%s: %s lacks %s", tc.name, body, w)
			}
		}
	}
	// A valid enum passes.
	if resp, body := g.call(t, "POST", "/v1/companies:signup", `{"company": {"kind": "COMPANY_KIND_SUPPLIER"}}`); resp.StatusCode != 200 {
		t.Fatalf("valid enum: %d %s", resp.StatusCode, body)
	}
}

// TestTokenAnswersAreNotStored: issue 7 point 9.
func TestTokenAnswersAreNotStored(t *testing.T) {
	g := newTestGateway(t)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/auth:login", `{}`},
		{"POST", "/v1/companies:signup", `{}`},
		{"GET", "/v1/me", ""},
		{"POST", "/v1/me/totp:enroll", `{}`},
		{"POST", "/v1/auth:refresh", `{}`},
	} {
		if resp, _ := g.call(t, tc.method, tc.path, tc.body); resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", tc.method, tc.path, resp.Header.Get("Cache-Control"))
		}
	}
	if resp, _ := g.call(t, "GET", "/v1/documentTypes", ""); resp.Header.Get("Cache-Control") != "" {
		t.Errorf("the catalog may be cached: %q", resp.Header.Get("Cache-Control"))
	}
}

func testServer(t *testing.T, cfg *Config, h http.Handler) string {
	t.Helper()
	lis, err := listen("127.0.0.1:0", cfg.MaxConnections)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(cfg, h, newMetrics(), zap.NewNop())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return lis.Addr().String()
}

// TestSlowClientsAreCut: issue 7 point 5 — a client that trickles its
// headers is disconnected at the header timeout, and past the connection
// bound newcomers wait instead of exhausting descriptors.
func TestSlowClientsAreCut(t *testing.T) {
	cfg := &Config{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, IdleTimeout: time.Second,
		MaxHeaderBytes: 4 << 10, MaxConnections: 2}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	addr := testServer(t, cfg, ok)

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = slow.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(slow); err != nil {
		t.Fatalf("the slow client was not disconnected: %v", err)
	}

	// Two connections hold both slots: a third request waits for one.
	hold := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("GET / HTTP/1.1\r\n"))
		return c
	}
	a, b := hold(), hold()
	defer b.Close()
	client := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get("http://" + addr + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("a third connection was served past --max-connections=2")
	}
	a.Close()
	client.Timeout = 5 * time.Second
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("once a slot is free: %v", err)
	}
	resp.Body.Close()

	// Oversized headers are refused.
	big, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	big.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	if resp, err := client.Do(big); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %v %v", resp, err)
	}
}

func TestConfigDefaultsAndBounds(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AccessLog || cfg.ReadHeaderTimeout <= 0 || cfg.ReadTimeout <= 0 || cfg.IdleTimeout <= 0 ||
		cfg.MaxHeaderBytes <= 0 || cfg.MaxConnections <= 0 || cfg.MetricsAddr != "" || len(cfg.CORSAllowedOrigins) != 0 ||
		cfg.GCPercent != config.DefaultGCPercent["gateway"] {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg, err := ParseConfig([]string{"--access-log=false", "--cors-allowed-origins", "https://a.test,https://b.test"}); err != nil ||
		cfg.AccessLog || len(cfg.CORSAllowedOrigins) != 2 {
		t.Fatalf("flags: %+v %v", cfg, err)
	}
	for _, args := range [][]string{{"--cors-allowed-origins", "a.test"}, {"--max-connections", "0"}, {"--read-timeout", "1s"}, {"--gc-percent", "5"}} {
		if _, err := ParseConfig(args); err == nil {
			t.Errorf("%v must be refused", args)
		}
	}
	if got := connectionLimit(1<<30, zap.NewNop()); got >= 1<<30 {
		t.Errorf("max-connections is not capped below the open-file limit: %d", got)
	}
}

// TestUploadDeadlineNeedsAController: the deadline extension tolerates
// writers that cannot set one (it is best effort for tests and wrappers).
func TestUploadDeadlineNeedsAController(t *testing.T) {
	h := withUploadDeadline(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }), time.Minute)
	rec := &statusRecorder{ResponseWriter: discardResponse{}}
	h.ServeHTTP(rec, httpRequest(t, "POST", "/v1/companies/c1/documents"))
	if rec.status() != 204 {
		t.Fatal(rec.status())
	}
}

type discardResponse struct{ discardWriter }

func httpRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequestWithContext(context.Background(), method, "http://x"+path, bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
