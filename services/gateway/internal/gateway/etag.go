package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// withETag gives every successful JSON answer to a GET an ETag (a hash of
// the body) and answers 304 Not Modified when the caller's If-None-Match
// names it (issue 12 point 3). Only JSON answers are held back to be hashed;
// anything else (document downloads, CSV exports) streams through untouched,
// so that memory does not grow with a file's size (R-VAULT-4).
//
// The writers and their buffers are reused from one answer to the next
// (issue 14: no allocation per request that could be made once); a buffer
// that grew past maxPooledETagBuffer is left to the garbage collector.
func withETag(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		ew := etagWriters.Get().(*etagWriter)
		ew.ResponseWriter = w
		next.ServeHTTP(ew, r)
		ew.finish(r)
		ew.release()
	})
}

// maxPooledETagBuffer bounds the buffer an etagWriter keeps for the next
// answer (a page of a few hundred entries fits).
const maxPooledETagBuffer = 256 << 10

var etagWriters = sync.Pool{New: func() any { return &etagWriter{} }}

func (e *etagWriter) release() {
	buf := e.buf
	buf.Reset()
	if buf.Cap() > maxPooledETagBuffer {
		buf = bytes.Buffer{}
	}
	*e = etagWriter{buf: buf}
	etagWriters.Put(e)
}

type etagWriter struct {
	http.ResponseWriter
	decided   bool
	buffering bool
	code      int
	buf       bytes.Buffer
}

func (e *etagWriter) WriteHeader(code int) {
	if e.decided {
		return
	}
	e.decided, e.code = true, code
	if code == http.StatusOK && isJSON(e.Header().Get("Content-Type")) {
		e.buffering = true
		return
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *etagWriter) Write(b []byte) (int, error) {
	if !e.decided {
		e.WriteHeader(http.StatusOK)
	}
	if e.buffering {
		return e.buf.Write(b)
	}
	return e.ResponseWriter.Write(b)
}

// Flush means the handler streams: stop holding the answer back.
func (e *etagWriter) Flush() {
	if e.buffering {
		e.buffering = false
		e.ResponseWriter.WriteHeader(e.code)
		_, _ = e.ResponseWriter.Write(e.buf.Bytes())
		e.buf.Reset()
	}
	if f, ok := e.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (e *etagWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

func (e *etagWriter) finish(r *http.Request) {
	if !e.buffering {
		return
	}
	sum := sha256.Sum256(e.buf.Bytes())
	var raw [2 + 24]byte // `"` + 18 bytes in base64 + `"`
	raw[0], raw[len(raw)-1] = '"', '"'
	base64.RawURLEncoding.Encode(raw[1:len(raw)-1], sum[:18])
	tag := string(raw[:])
	h := e.Header()
	h.Set("ETag", tag)
	if noneMatch(r.Header.Values("If-None-Match"), tag) {
		h.Del("Content-Type")
		h.Del("Content-Length")
		e.ResponseWriter.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(e.buf.Len()))
	e.ResponseWriter.WriteHeader(e.code)
	_, _ = e.ResponseWriter.Write(e.buf.Bytes())
}

// noneMatch reports whether If-None-Match names tag (weak comparison, as
// RFC 9110 §13.1.2 asks for this header) or is "*".
func noneMatch(values []string, tag string) bool {
	for _, line := range values {
		for _, candidate := range strings.Split(line, ",") {
			candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
			if candidate == "*" || candidate == tag {
				return true
			}
		}
	}
	return false
}

func isJSON(contentType string) bool {
	if contentType == "application/json" { // what the gateway's marshaler sets
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
