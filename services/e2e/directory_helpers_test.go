package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// siren returns the n-th valid SIREN (8 digits and a Luhn check digit),
// from a range no other test uses.
func siren(n int) string { return sirenIn(9, n) }

// sirenIn returns the n-th valid SIREN whose first digit is first: each
// test file keeps to its own first digit.
func sirenIn(first, n int) string {
	base := fmt.Sprintf("%d%07d", first, n)
	for d := 0; d <= 9; d++ {
		s := base + fmt.Sprint(d)
		sum, double := 0, false
		for i := len(s) - 1; i >= 0; i-- {
			x := int(s[i] - '0')
			if double {
				x *= 2
				if x > 9 {
					x -= 9
				}
			}
			sum += x
			double = !double
		}
		if sum%10 == 0 {
			return s
		}
	}
	panic("unreachable")
}

// raw sends body with a content type and returns the answer.
func (s *suite) raw(method, path string, body io.Reader, contentType, token string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// uploadCSV posts a CSV file as the multipart part `file`.
func (s *suite) uploadCSV(company, fileName string, csv []byte, token string) response {
	s.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		s.t.Fatal(err)
	}
	_, _ = part.Write(csv)
	_ = mw.Close()
	return s.raw("POST", "/v1/"+company+"/supplierImports", &buf, mw.FormDataContentType(), token)
}

// waitImport polls an import until it is done (or failed) and returns it.
func (s *suite) waitImport(name, token string, timeout time.Duration) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := s.do("GET", "/v1/"+name, nil, token)
		if r.Status == 200 {
			m := r.JSON(s.t)
			if st := m["state"]; st == "STATE_DONE" || st == "STATE_FAILED" {
				return m
			}
		} else if r.Status != 503 {
			s.t.Fatalf("GET %s: %d %s", name, r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("import %s not done in %s: %s", name, timeout, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// num reads a JSON number field (absent = 0).
func num(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

func str(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return v
}

func list(m map[string]any, key string) []map[string]any {
	raw, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, x := range raw {
		if o, ok := x.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// tokenClaims decodes an access token's payload (not verified: the test
// only reads what identity put there).
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// acceptInvitation accepts the newest invitation mailed to email and
// returns the signed-in account.
func (s *suite) acceptInvitation(dataDir, email string) account {
	s.t.Helper()
	token := s.mailLink(dataDir, email, "/invitation")
	r := s.do("POST", "/v1/auth:acceptInvitation", map[string]any{"token": token, "password": password}, "")
	if r.Status != 200 {
		s.t.Fatalf("accept invitation of %s: %d %s", email, r.Status, r.Body)
	}
	m := r.JSON(s.t)
	tok, _ := m["accessToken"].(string)
	if tok == "" {
		tok = str(s.expect(s.login(email, password), 200, "login "+email).JSON(s.t), "accessToken")
	}
	user, _ := m["user"].(map[string]any)
	return account{email: email, password: password, token: tok, user: str(user, "name")}
}

// switchTo signs a in to company (a session is scoped to one company).
func (s *suite) switchTo(a account, company string) account {
	s.t.Helper()
	r := s.expect(s.do("POST", "/v1/auth:login", map[string]any{"email": a.email, "password": a.password, "company": company}, ""), 200, "login to "+company).JSON(s.t)
	a.token = str(r, "accessToken")
	return a
}

// findMail reports whether an e-mail to `to` mentions word.
func findMail(dataDir, to, word string) bool {
	found := false
	_ = filepath.Walk(dataDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || found || info.IsDir() || !strings.HasSuffix(p, ".eml") {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		text := strings.ToLower(strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(raw)))
		if strings.Contains(text, strings.ToLower(to)) && strings.Contains(text, strings.ToLower(word)) {
			found = true
		}
		return nil
	})
	return found
}
