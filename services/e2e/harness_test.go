package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil/vigil/services/e2e/stack"
)

// suite is a running stack for one test, with HTTP helpers.
type suite struct {
	t *testing.T
	*stack.Stack
	http *http.Client
}

// startSuite starts every binary on free loopback ports with a fresh data
// folder (or the given one, to test restarts) and stops them at cleanup.
func startSuite(t *testing.T, dataDir string, env ...string) *suite {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var s *stack.Stack
	for attempt := 1; ; attempt++ {
		opts := stack.Options{BinDir: binDir, DataDir: dataDir, Env: env}
		if err := opts.FreePorts(); err != nil {
			t.Fatal(err)
		}
		var err error
		s, err = stack.Start(ctx, opts)
		if err == nil {
			break
		}
		// A free port can be taken by another socket between FreePorts
		// and the process's listen: pick others and start again.
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("a port was taken; starting again: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping the suite: %v", err)
		}
	})
	return &suite{t: t, Stack: s, http: &http.Client{Timeout: 10 * time.Second}}
}

// response is an HTTP answer with its body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// do sends a request; body may be nil, a []byte/string (sent as is) or any
// value (JSON-encoded). token, when set, is sent as a Bearer token.
func (s *suite) do(method, path string, body any, token string) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// expect fails the test unless the answer has the given HTTP status.
func (s *suite) expect(r response, status int, what string) response {
	s.t.Helper()
	if r.Status != status {
		s.t.Fatalf("%s: HTTP %d, want %d: %s", what, r.Status, status, r.Body)
	}
	return r
}
