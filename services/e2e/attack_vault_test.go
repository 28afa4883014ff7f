package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Holes found by attacking the vault through the gateway (review 2); the
// in-process tests beside the code failed before each fix, these hold them
// through the real binaries.

// hugeHeaderBody is an upload body whose metadata part's header never ends.
type hugeHeaderBody struct {
	head []byte
	sent int
	max  int
}

func (b *hugeHeaderBody) Read(p []byte) (int, error) {
	if b.sent >= b.max {
		return 0, io.EOF
	}
	n := 0
	for ; n < len(p) && b.sent < b.max; n++ {
		if b.sent < len(b.head) {
			p[n] = b.head[b.sent]
		} else {
			p[n] = 'a'
		}
		b.sent++
	}
	return n, nil
}

func TestAttackVault(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir)
	w := s.vaultWorld(dataDir)
	s.expect(s.do("POST", "/v1/"+w.c1+"/requirements", map[string]any{"documentType": "documentTypes/URSSAF_VIGILANCE",
		"scope": "REQUIREMENT_SCOPE_ALL_SUPPLIERS"}, w.c1Admin.token), 200, "requirement")
	poly := append([]byte("%PDF-1.4\n&cls&calc.exe&exit\n"), vaultPDF("urssaf", 20_000)[9:]...)
	doc := s.expect(s.vaultUpload(w.s1, vaultMeta("URSSAF_VIGILANCE", w.s1, vaultDay(-10), vaultDay(100)), "certificate.cmd", "application/pdf",
		bytes.NewReader(poly), w.s1Admin.token), 200, "upload").JSON(t)
	name := str(doc, "name")
	s.vaultWait(w.c1, w.s1, "URSSAF_VIGILANCE", "VALID", w.c1Admin.token)
	content := "/v1/" + w.c1 + "/suppliers/" + vaultID(w.s1) + "/documents/" + vaultID(name) + "/content"

	t.Run("a PDF named as a script is stored and served as a PDF (R-VAULT-4)", func(t *testing.T) {
		if got := str(doc, "fileName"); got != "certificate.cmd.pdf" {
			t.Fatalf("stored as %q", got)
		}
		r := s.expect(s.vaultGet(content, w.c1Admin.token, nil), 200, "download")
		if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="certificate.cmd.pdf"`) {
			t.Fatalf("Content-Disposition %q", cd)
		}
	})

	t.Run("a range that skips the first byte is in the access log (R-VAULT-8)", func(t *testing.T) {
		log := "/v1/" + name + "/accessLog"
		before := len(list(s.expect(s.do("GET", log, nil, w.s1Admin.token), 200, "access log").JSON(t), "entries"))
		r := s.expect(s.vaultGet(content, w.c1Admin.token, map[string]string{"Range": "bytes=1-"}), 206, "range")
		if !bytes.Equal(r.Body, poly[1:]) {
			t.Fatalf("range: %d bytes", len(r.Body))
		}
		after := list(s.expect(s.do("GET", log, nil, w.s1Admin.token), 200, "access log").JSON(t), "entries")
		if len(after) != before+1 || str(after[0], "company") != w.c1 {
			t.Fatalf("access log after a bytes=1- download: %d entries, had %d: %v", len(after), before, after)
		}
	})

	t.Run("a Restricted user cannot tell which documents exist (R-ID-3)", func(t *testing.T) {
		for _, n := range []string{name, w.s1 + "/documents/" + strings.Repeat("0", 26)} {
			s.expect(s.do("GET", "/v1/"+n, nil, w.s1Restricted.token), 403, "a Restricted user reads "+n)
			s.expect(s.vaultGet("/v1/"+n+"/content", w.s1Restricted.token, nil), 403, "a Restricted user downloads "+n)
		}
	})

	t.Run("headers before the file are bounded, token or not (413)", func(t *testing.T) {
		before := string(s.do("GET", "/v1/"+w.s1+"/documents?includeSuperseded=true", nil, w.s1Admin.token).Body)
		for _, token := range []string{"", w.s1Admin.token} {
			body := &hugeHeaderBody{head: []byte("--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\nX-Pad: "), max: 8 << 20}
			req, _ := http.NewRequest("POST", s.URL+"/v1/"+w.s1+"/documents", body)
			req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := s.http.Do(req)
			if err != nil {
				// The gateway may close the connection while the client still
				// writes: what matters is that it did not read on.
				t.Logf("the gateway cut the upload: %v", err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("HTTP %d %s, want 413", resp.StatusCode, b)
			}
		}
		if after := string(s.do("GET", "/v1/"+w.s1+"/documents?includeSuperseded=true", nil, w.s1Admin.token).Body); after != before {
			t.Fatal("a refused upload changed the documents")
		}
	})
}
