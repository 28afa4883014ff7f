package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// The vault end to end (issues 9 and 10): uploads, lists, downloads,
// versions and refusals; what each customer sees of its suppliers;
// compliance from MISSING to REJECTED for one customer while another still
// sees it valid; rejection, document requests, the CSV export.

// vaultSiren returns the n-th valid SIREN of a range only these tests use.
func vaultSiren(n int) string { return sirenIn(8, n) }

// vaultPDF is a well-formed PDF of about n bytes.
func vaultPDF(what string, n int) []byte {
	b := []byte("%PDF-1.4\n% " + what + "\n")
	for len(b) < n-7 {
		b = append(b, "0123456789abcdef\n"...)
	}
	return append(b, "\n%%EOF\n"...)
}

// vaultUpload posts a multipart upload: a metadata part, then a file part.
func (s *suite) vaultUpload(company string, meta map[string]any, fileName, contentType string, file io.Reader, token string) response {
	s.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mp, _ := mw.CreateFormField("metadata")
		_ = json.NewEncoder(mp).Encode(meta)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+fileName+`"`)
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		fp, _ := mw.CreatePart(h)
		if _, err := io.Copy(fp, file); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest("POST", s.URL+"/v1/"+company+"/documents", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		s.t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// vaultGet sends a GET with extra headers.
func (s *suite) vaultGet(path, token string, headers map[string]string) response {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func vaultDay(days int) string {
	paris, _ := time.LoadLocation("Europe/Paris")
	return time.Now().In(paris).AddDate(0, 0, days).Format(time.DateOnly)
}

func vaultMeta(docType, subject, from, until string) map[string]any {
	m := map[string]any{"documentType": "documentTypes/" + docType, "subject": subject, "validFrom": from}
	if until != "" {
		m["validUntil"] = until
	}
	return m
}

// TestVaultSupplierDocuments: issue 9 points 1, 3, 4, 5 and its bad input,
// a supplier's side only.
func TestVaultSupplierDocuments(t *testing.T) {
	dataDir := t.TempDir()
	s := startSuite(t, dataDir, "VIGIL_MAX_UPLOAD_BYTES=1048576")
	sup, admin := s.signUp("COMPANY_KIND_SUPPLIER", vaultSiren(1), "ada@sun-builders.test")
	power := s.invite(dataDir, sup, admin, "pat@sun-builders.test", "ROLE_POWER_USER")
	standard := s.invite(dataDir, sup, admin, "sam@sun-builders.test", "ROLE_STANDARD_USER")
	restricted := s.invite(dataDir, sup, admin, "ray@sun-builders.test", "ROLE_RESTRICTED_USER")
	other, otherAdmin := s.signUp("COMPANY_KIND_SUPPLIER", vaultSiren(2), "oz@moon.test")

	t.Run("the catalog, in English and French", func(t *testing.T) {
		r := s.expect(s.do("GET", "/v1/documentTypes?pageSize=100", nil, restricted.token), 200, "catalog").JSON(t)
		found := false
		for _, dt := range list(r, "documentTypes") {
			if str(dt, "name") == "documentTypes/URSSAF_VIGILANCE" {
				tr, _ := dt["translations"].(map[string]any)
				fr, _ := tr["fr"].(map[string]any)
				found = str(fr, "displayName") == "Attestation de vigilance URSSAF"
			}
		}
		if !found {
			t.Fatalf("URSSAF_VIGILANCE with its French name: %s", s.do("GET", "/v1/documentTypes", nil, restricted.token).Body)
		}
	})

	data := vaultPDF("urssaf", 300_000)
	meta := vaultMeta("URSSAF_VIGILANCE", sup, vaultDay(-10), "")
	for _, who := range []account{restricted, standard, otherAdmin} {
		s.expect(s.vaultUpload(sup, meta, "urssaf.pdf", "application/pdf", bytes.NewReader(data), who.token), 403, "upload by "+who.email)
	}
	s.expect(s.vaultUpload(other, meta, "urssaf.pdf", "application/pdf", bytes.NewReader(data), admin.token), 403, "upload into another company")
	doc := s.expect(s.vaultUpload(sup, meta, "Attestation été.pdf", "application/pdf", bytes.NewReader(data), power.token), 200, "upload").JSON(t)
	sum := sha256.Sum256(data)
	name := str(doc, "name")
	if str(doc, "sha256") != hex.EncodeToString(sum[:]) || str(doc, "contentType") != "application/pdf" || str(doc, "validUntil") == "" {
		t.Fatalf("document %v", doc)
	}

	t.Run("download: same bytes, ETag, Range, If-None-Match, Content-Disposition", func(t *testing.T) {
		r := s.expect(s.vaultGet("/v1/"+name+"/content", standard.token, nil), 200, "download")
		if !bytes.Equal(r.Body, data) || r.Header.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` || r.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(r.Header.Get("Content-Disposition"), "filename*=UTF-8''Attestation%20%C3%A9t%C3%A9.pdf") || r.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
			t.Fatalf("download headers %v (%d bytes)", r.Header, len(r.Body))
		}
		r = s.expect(s.vaultGet("/v1/"+name+"/content", standard.token, map[string]string{"Range": "bytes=0-7"}), 206, "range")
		if string(r.Body) != "%PDF-1.4" || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-7/%d", len(data)) {
			t.Fatalf("range: %q %v", r.Body, r.Header)
		}
		s.expect(s.vaultGet("/v1/"+name+"/content", standard.token, map[string]string{"Range": "bytes=999999999-"}), 416, "range past the end")
		s.expect(s.vaultGet("/v1/"+name+"/content", standard.token, map[string]string{"If-None-Match": r.Header.Get("ETag")}), 304, "If-None-Match")
		s.expect(s.vaultGet("/v1/"+name+"/content", restricted.token, nil), 403, "a Restricted user downloads")
		s.expect(s.vaultGet("/v1/"+name+"/content", otherAdmin.token, nil), 403, "another supplier downloads")
	})

	t.Run("versions (R-VAULT-5)", func(t *testing.T) {
		v2 := s.expect(s.vaultUpload(sup, vaultMeta("URSSAF_VIGILANCE", sup, vaultDay(0), vaultDay(180)), "v2.pdf", "", bytes.NewReader(vaultPDF("v2", 900)), admin.token), 200, "v2").JSON(t)
		if v2["version"] != float64(2) || str(v2, "supersedes") != name {
			t.Fatalf("v2 %v", v2)
		}
		h := s.expect(s.do("GET", "/v1/"+name+":versions", nil, standard.token), 200, "versions").JSON(t)
		if ds := list(h, "documents"); len(ds) != 2 || str(ds[1], "state") != "DOCUMENT_STATE_SUPERSEDED" {
			t.Fatalf("history %v", h)
		}
		if r := s.vaultGet("/v1/"+name+"/content", standard.token, nil); !bytes.Equal(r.Body, data) {
			t.Fatal("the superseded version stays readable")
		}
		l := s.expect(s.do("GET", "/v1/"+sup+"/documents", nil, standard.token), 200, "current documents").JSON(t)
		if len(list(l, "documents")) != 1 {
			t.Fatalf("current documents: %v", l)
		}
		s.expect(s.do("GET", "/v1/"+sup+"/documents", nil, restricted.token), 403, "a Restricted user lists certificates")
	})

	t.Run("bad input: a 4xx naming the problem, nothing stored", func(t *testing.T) {
		before := string(s.do("GET", "/v1/"+sup+"/documents?includeSuperseded=true", nil, admin.token).Body)
		mz := append([]byte("MZ\x90\x00\x03"), bytes.Repeat([]byte{0}, 400)...)
		for _, tc := range []struct {
			what   string
			meta   map[string]any
			name   string
			ctype  string
			body   io.Reader
			status int
			says   string
		}{
			{"a disguised executable", meta, "invoice.pdf", "application/pdf", bytes.NewReader(mz), 400, "program"},
			{"a truncated file", meta, "a.pdf", "", bytes.NewReader(data[:5000]), 400, "truncated"},
			{"an empty file", meta, "a.pdf", "", bytes.NewReader(nil), 400, "empty"},
			{"an oversize file", meta, "a.pdf", "", bytes.NewReader(vaultPDF("big", 1_200_000)), 413, "larger"},
			{"a never-ending chunked body", meta, "a.pdf", "", io.MultiReader(bytes.NewReader(data), endlessBytes{}), 413, "larger"},
			{"an unknown type", vaultMeta("NOPE", sup, vaultDay(0), ""), "a.pdf", "", bytes.NewReader(data), 400, "document_type"},
			{"dates out of order", vaultMeta("URSSAF_VIGILANCE", sup, vaultDay(5), vaultDay(1)), "a.pdf", "", bytes.NewReader(data), 400, "valid_until"},
			{"a malformed date", vaultMeta("URSSAF_VIGILANCE", sup, "2026-02-30", ""), "a.pdf", "", bytes.NewReader(data), 400, "valid_from"},
			{"a declared type that disagrees", meta, "a.pdf", "image/png", bytes.NewReader(data), 400, "content_type"},
			{"a path for a name", meta, "../../etc/passwd", "", bytes.NewReader(data), 400, "file_name"},
		} {
			r := s.vaultUpload(sup, tc.meta, tc.name, tc.ctype, tc.body, admin.token)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.says) {
				t.Fatalf("%s: HTTP %d %s, want %d mentioning %q", tc.what, r.Status, r.Body, tc.status, tc.says)
			}
		}
		// A metadata part after the file, and missing parts.
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fp, _ := mw.CreateFormFile("file", "a.pdf")
		_, _ = fp.Write(data)
		mp, _ := mw.CreateFormField("metadata")
		_ = json.NewEncoder(mp).Encode(meta)
		_ = mw.Close()
		for what, body := range map[string][]byte{"metadata after the file": buf.Bytes(), "no parts": []byte("--x--\r\n")} {
			req, _ := http.NewRequest("POST", s.URL+"/v1/"+sup+"/documents", bytes.NewReader(body))
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Authorization", "Bearer "+admin.token)
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(b), "metadata") {
				t.Fatalf("%s: %d %s", what, resp.StatusCode, b)
			}
		}
		if after := string(s.do("GET", "/v1/"+sup+"/documents?includeSuperseded=true", nil, admin.token).Body); after != before {
			t.Fatalf("refused uploads changed the documents:\n%s\n%s", before, after)
		}
	})
}

// endlessBytes is a body that never ends.
type endlessBytes struct{}

func (endlessBytes) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}
