// Package sniff decides a document's content type from its bytes (R-VAULT-4),
// never from what the uploader says: the first bytes must carry a known
// signature and the last ones the format's end marker, so that a disguised
// executable or a truncated file is refused. It reads a stream once, keeping
// only its head and tail.
package sniff

import (
	"bytes"
	"path"
	"strings"
	"unicode/utf8"
)

// The content types the sniffer knows.
const (
	PDF  = "application/pdf"
	PNG  = "image/png"
	JPEG = "image/jpeg"
)

// Known are the types a deployment may accept.
var Known = []string{PDF, PNG, JPEG}

// IsKnown reports whether the sniffer recognises content type t.
func IsKnown(t string) bool {
	for _, k := range Known {
		if k == t {
			return true
		}
	}
	return false
}

const (
	headSize = 1024
	tailSize = 1024
)

var (
	pngSignature = []byte("\x89PNG\r\n\x1a\n")
	pngEnd       = []byte("\x00\x00\x00\x00IEND\xae\x42\x60\x82")
)

// Sniffer watches a stream (it is an io.Writer) and keeps its head and tail.
type Sniffer struct {
	head []byte
	tail []byte // a ring of the last tailSize bytes, in order after Tail
	size int64
}

// Write implements io.Writer; it never fails.
func (s *Sniffer) Write(p []byte) (int, error) {
	n := len(p)
	s.size += int64(n)
	if len(s.head) < headSize {
		k := min(headSize-len(s.head), len(p))
		s.head = append(s.head, p[:k]...)
	}
	if len(p) >= tailSize {
		s.tail = append(s.tail[:0], p[len(p)-tailSize:]...)
		return n, nil
	}
	s.tail = append(s.tail, p...)
	if len(s.tail) > tailSize {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-tailSize:]...)
	}
	return n, nil
}

// Size is the number of bytes seen.
func (s *Sniffer) Size() int64 { return s.size }

// HeadComplete reports whether enough bytes were seen to decide the type
// from the head.
func (s *Sniffer) HeadComplete() bool { return len(s.head) >= 16 }

// Problem says why bytes are refused.
type Problem string

// The problems, stable for error reasons.
const (
	Empty      Problem = "empty"
	Executable Problem = "executable"
	Unknown    Problem = "unknown"
	Truncated  Problem = "truncated"
)

// Detect returns the content type the head carries, or the problem.
func (s *Sniffer) Detect() (string, Problem) { return Detect(s.head) }

// Detect decides the content type from the first bytes of a file.
func Detect(head []byte) (string, Problem) {
	switch {
	case len(head) == 0:
		return "", Empty
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return PDF, ""
	case bytes.HasPrefix(head, pngSignature):
		return PNG, ""
	case len(head) >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff:
		return JPEG, ""
	case bytes.HasPrefix(head, []byte("MZ")), bytes.HasPrefix(head, []byte("\x7fELF")), bytes.HasPrefix(head, []byte("#!")),
		bytes.HasPrefix(head, []byte("\xcf\xfa\xed\xfe")), bytes.HasPrefix(head, []byte("\xca\xfe\xba\xbe")),
		bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "", Executable
	}
	return "", Unknown
}

// Complete checks that the stream ends as its type requires (PDF: an
// %%EOF marker in the last kilobyte; PNG: the IEND chunk; JPEG: the EOI
// marker), so that a truncated upload is refused.
func (s *Sniffer) Complete(contentType string) bool { return Complete(contentType, s.tail) }

// Complete checks the last bytes of a file of contentType.
func Complete(contentType string, tail []byte) bool {
	switch contentType {
	case PDF:
		return bytes.Contains(tail, []byte("%%EOF"))
	case PNG:
		return bytes.HasSuffix(tail, pngEnd)
	case JPEG:
		t := bytes.TrimRight(tail, "\x00\r\n\t ")
		return bytes.HasSuffix(t, []byte{0xff, 0xd9})
	}
	return false
}

// extensions maps file-name extensions to the type they claim.
var extensions = map[string]string{
	".pdf": PDF, ".png": PNG, ".jpg": JPEG, ".jpeg": JPEG, ".jpe": JPEG, ".jfif": JPEG,
	".exe": "application/x-msdownload", ".dll": "application/x-msdownload", ".bat": "application/x-msdos-program",
	".sh": "application/x-sh", ".js": "text/javascript", ".html": "text/html", ".htm": "text/html", ".svg": "image/svg+xml",
}

// canonical is each known type's extension.
var canonical = map[string]string{PDF: ".pdf", PNG: ".png", JPEG: ".jpg"}

// maxNameBytes bounds a file name (as the vault does).
const maxNameBytes = 255

// WithExtension returns name ending with an extension of contentType: as
// it is when its extension already claims that type, else with the type's
// extension added (cutting the name to keep it within 255 bytes). A file is
// opened by its extension: a PDF saved as certificate.cmd or .hta is run as
// a program (a PDF can also be a batch file or an HTA), so no name may
// claim what the bytes are not, known extension or not.
func WithExtension(name, contentType string) string {
	ext, ok := canonical[contentType]
	if !ok || ExtensionType(name) == contentType {
		return name
	}
	for len(name)+len(ext) > maxNameBytes {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name + ext
}

// ExtensionType is the type a file name's extension claims ("" when the
// extension is unknown or absent).
func ExtensionType(fileName string) string {
	return extensions[strings.ToLower(path.Ext(fileName))]
}

// SameType compares a declared content type (parameters and case ignored)
// with a detected one.
func SameType(declared, detected string) bool {
	d, _, _ := strings.Cut(declared, ";")
	d = strings.ToLower(strings.TrimSpace(d))
	if d == "image/jpg" || d == "image/pjpeg" {
		d = JPEG
	}
	return d == detected
}
