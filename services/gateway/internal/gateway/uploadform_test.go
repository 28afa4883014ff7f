package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// formResult is what reading a whole multipart body gives: each part's
// form name, header and body, and whether the body was refused.
type formResult struct {
	names   []string
	headers []textproto.MIMEHeader
	bodies  []string
	failed  bool
	// headerCut: formReader refused a body that ends inside a part's
	// header block or before its close delimiter, which mime/multipart
	// takes for a clean end.
	headerCut bool
}

func (r formResult) String() string {
	return fmt.Sprintf("names %q bodies %q failed %v", r.names, r.bodies, r.failed)
}

// maxParts bounds the parts read from one body (fuzzing).
const maxParts = 50

// readWithMultipart reads body with mime/multipart, as the upload route
// read it before formReader.
func readWithMultipart(body io.Reader, boundary string) formResult {
	var r formResult
	mr := multipart.NewReader(body, boundary)
	for range maxParts {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return r
		}
		if err != nil {
			r.failed = true
			return r
		}
		b, err := io.ReadAll(p)
		r.names, r.headers, r.bodies = append(r.names, p.FormName()), append(r.headers, p.Header), append(r.bodies, string(b))
		if err != nil {
			r.failed = true
			return r
		}
	}
	return r
}

func readWithFormReader(body io.Reader, boundary string) formResult {
	var r formResult
	fr := newFormReader(body, boundary)
	for range maxParts {
		p, err := fr.NextPart()
		if errors.Is(err, io.EOF) {
			return r
		}
		if errors.Is(err, errHeaderCut) || errors.Is(err, errBodyCut) {
			r.headerCut = true
			return r
		}
		if err != nil {
			r.failed = true
			return r
		}
		b, err := io.ReadAll(p)
		r.names, r.headers, r.bodies = append(r.names, p.FormName()), append(r.headers, p.Header), append(r.bodies, string(b))
		if err != nil {
			r.failed = true
			return r
		}
	}
	return r
}

// sameAsMultipart fails when formReader reads body otherwise than
// mime/multipart, whatever the sizes of the reads it gets from below.
func sameAsMultipart(t *testing.T, body []byte, boundary string) {
	t.Helper()
	want := readWithMultipart(bytes.NewReader(body), boundary)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole": func(r io.Reader) io.Reader { return r }, "one byte": iotest.OneByteReader, "halves": iotest.HalfReader,
		"data with EOF": iotest.DataErrReader,
	} {
		got := readWithFormReader(wrap(bytes.NewReader(body)), boundary)
		if got.headerCut { // refused; mime/multipart refuses too, or takes it for a clean end
			got.headerCut, got.failed = false, want.failed
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s reads of %q:\n formReader %v\n multipart  %v", name, body, got, want)
		}
	}
}

// TestFormReaderReadsAsMultipart: the upload route's multipart reader
// (issue 9: fast on large parts) reads every kind of body as mime/multipart
// does: line breaks CRLF or LF, preamble and epilogue, white space after a
// delimiter, delimiter look-alikes inside a body, quoted-printable parts,
// empty parts, a body cut short, a close delimiter without a line break.
func TestFormReaderReadsAsMultipart(t *testing.T) {
	const b = "BOUNDARY"
	part := func(name, body string) string {
		return "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + body + "\r\n"
	}
	long := strings.Repeat("0123456789abcdef", 70_000) // larger than the buffer, no line break
	for name, body := range map[string]string{
		"two parts":               part("metadata", "{}") + part("file", "%PDF-1.7\r\n%%EOF") + "--" + b + "--\r\n",
		"preamble and epilogue":   "ignored\r\nlines\r\n" + part("a", "x") + "--" + b + "--\r\nepilogue\r\n",
		"LF line breaks":          "--" + b + "\nContent-Disposition: form-data; name=\"a\"\n\nx\ny\n--" + b + "--\n",
		"white space after":       "--" + b + " \t\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--" + b + "-- \r\n",
		"look-alikes in the body": part("a", "\r\n--"+b+"X\r\n--"+b+"-x\r\n--BOUND\r\n-") + "--" + b + "--",
		"quoted-printable":        "--" + b + "\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9llo=\r\n w\r\n--" + b + "--\r\n",
		"empty part":              part("a", "") + "--" + b + "--\r\n",
		"empty body at once":      "--" + b + "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--" + b + "--\r\n",
		"cut mid-part":            part("metadata", "{}") + "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n%PDF",
		"cut in a header":         "--" + b + "\r\nContent-Disposition: form-da",
		"close without break":     part("a", "x") + "--" + b + "--",
		"no parts":                "--" + b + "--\r\n",
		"empty":                   "",
		"garbage after a part":    part("a", "x") + "garbage\r\n",
		"a header without colon":  "--" + b + "\r\nnot a header\r\n\r\nx\r\n--" + b + "--\r\n",
		"not form-data":           "--" + b + "\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--" + b + "--\r\n",
		"a large part":            part("file", long) + part("file", long+"\r") + "--" + b + "--\r\n",
		"a large part cut":        part("file", long+"\r\n--"+b[:3]),
		"CR at buffer ends":       part("file", strings.Repeat(strings.Repeat("x", formBuffer-1)+"\r", 3)) + "--" + b + "--\r\n",
	} {
		t.Run(name, func(t *testing.T) { sameAsMultipart(t, []byte(body), b) })
	}
	t.Run("empty boundary", func(t *testing.T) { sameAsMultipart(t, []byte("--\r\n\r\nx\r\n----\r\n"), "") })
}

// FuzzFormReader: on any body and boundary, formReader reads what
// mime/multipart reads, but for its bounds (lines of more than 4 KiB
// outside parts, which mime/multipart refuses; header blocks of more than
// 64 KiB, which formReader refuses).
func FuzzFormReader(f *testing.F) {
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--\r\n"), "B")
	f.Add([]byte("--B\nContent-Type: text/plain\n\nx\n--B-\n--B--"), "B")
	f.Add([]byte("pre\r\n--B \r\nA: b\r\n c\r\n\r\n\r\n--B\r\n\r\n--B--"), "B")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		if len(body) > formMaxHeader || strings.ContainsAny(boundary, "\r\n") {
			return
		}
		for _, line := range bytes.Split(body, []byte("\n")) {
			if len(line) >= 4000 {
				return
			}
		}
		sameAsMultipart(t, body, boundary)
	})
}
