package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// Holes found by attacking the file routes (review 2); each test failed
// before its fix.

// countingBody is a request body that serves head, then pattern over and
// over (up to max bytes), counting what the server read.
type countingBody struct {
	head, pattern string
	max           int64
	read          atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n0 := c.read.Load()
	if n0 >= c.max {
		return 0, io.EOF
	}
	n := 0
	for ; n < len(p) && n0+int64(n) < c.max; n++ {
		i := n0 + int64(n)
		if i < int64(len(c.head)) {
			p[n] = c.head[i]
		} else {
			p[n] = c.pattern[(i-int64(len(c.head)))%int64(len(c.pattern))]
		}
	}
	c.read.Add(int64(n))
	return n, nil
}

// TestAttackUploadHeadIsBounded: before the file's first byte, the gateway
// read whatever a client sent: part headers up to the multipart reader's 10
// MiB (held in memory, per request, before anyone checked the token) and a
// preamble without end. What precedes the file is now bounded (413), so
// that a few connections cannot exhaust the gateway's memory.
func TestAttackUploadHeadIsBounded(t *testing.T) {
	h := newFileHandler(t, &fileVault{limit: 1 << 20})
	const max = 20 << 20
	for _, tc := range []struct {
		what string
		body *countingBody
	}{
		{"a 20 MiB part header", &countingBody{head: "--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\nX-Pad: ", pattern: "a", max: max}},
		{"many header lines", &countingBody{head: "--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n",
			pattern: "X-Pad: " + strings.Repeat("h", 991) + "\r\n", max: max}},
		{"a preamble without end", &countingBody{pattern: strings.Repeat("p", 998) + "\r\n", max: max}},
		{"a metadata part, then a 20 MiB file part header", &countingBody{head: "--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n" +
			`{"documentType":"documentTypes/KBIS","subject":"companies/c1","validFrom":"2026-01-01"}` + "\r\n--B\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: ",
			pattern: "a", max: max}},
		{"the file, then a 20 MiB part header", &countingBody{head: "--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n" +
			`{"documentType":"documentTypes/KBIS","subject":"companies/c1","validFrom":"2026-01-01"}` +
			"\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n" + string(fileBytes) + "\r\n--B\r\nX-Pad: ",
			pattern: "a", max: max}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			// Served in process, so that what was read is what the
			// handler read, not what the kernel buffered.
			req := httptest.NewRequest("POST", "/v1/companies/c1/documents", tc.body)
			req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if n := tc.body.read.Load(); n > 256<<10 {
				t.Fatalf("the gateway read %d bytes besides the file's (HTTP %d %s)", n, rec.Code, rec.Body)
			}
			if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "larger than") {
				t.Fatalf("HTTP %d %s, want 413", rec.Code, rec.Body)
			}
		})
	}
}
