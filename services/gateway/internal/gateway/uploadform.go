package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
)

// formReader reads a multipart body (RFC 7578, RFC 2046 §5.1) as
// mime/multipart.Reader does — same parts, same bytes, same refusals —
// for the upload route, whose file part is large: mime/multipart reads
// through a buffer of its own of 4 KiB and, for every 4 KiB of a part
// without a line break, scans the whole buffer backwards byte by byte for
// one (bytes.LastIndexByte: a third of the gateway's CPU for an upload,
// issue 9). This reader keeps a buffer of formBuffer bytes and looks for a
// partial delimiter only where one can start: in the last bytes of the
// buffer, shorter than the delimiter.
//
// The differences: a body that ends inside a part's header block is
// refused (errHeaderCut; mime/multipart reports the end of the body, so
// that a part cut after the file was not noticed), and so is one that ends
// on a line outside a part, before its close delimiter (errBodyCut;
// mime/multipart wraps io.EOF, which errors.Is reads as that delimiter:
// a body cut inside the delimiter after the file was committed); a
// part's header block may hold at most formMaxHeader bytes
// (mime/multipart: 10 MiB); a line outside a part (preamble, delimiter)
// may hold formBuffer bytes (mime/multipart: 4 KiB).
type formReader struct {
	r       *bufio.Reader
	nl      []byte // "\r\n", or "\n" for a body whose first delimiter line ends in a bare LF
	nlDash  []byte // nl + "--" + boundary: the delimiter inside a body
	dash    []byte // "--" + boundary
	dashEnd []byte // "--" + boundary + "--": the close delimiter
	parts   int
	current *formPart
}

const (
	// formBuffer is the reader's buffer: each read of a part returns up to
	// this many bytes at once.
	formBuffer = 256 << 10
	// formMaxHeader bounds a part's header block.
	formMaxHeader = 64 << 10
)

func newFormReader(r io.Reader, boundary string) *formReader {
	b := []byte("\r\n--" + boundary + "--")
	return &formReader{r: bufio.NewReaderSize(r, formBuffer), nl: b[:2], nlDash: b[:len(b)-2], dash: b[2 : len(b)-2], dashEnd: b[2:]}
}

// errHeaderCut: the body ends inside a part's header block.
var errHeaderCut = fmt.Errorf("multipart: NextPart: the body ends in a part's header: %w", io.ErrUnexpectedEOF)

// errBodyCut: the body ends outside a part, without its close delimiter.
var errBodyCut = fmt.Errorf("multipart: NextPart: the body ends before its close delimiter: %w", io.ErrUnexpectedEOF)

// formPart is one part: its header, and a reader of its body that ends
// (io.EOF) at the delimiter that follows it.
type formPart struct {
	Header textproto.MIMEHeader
	fr     *formReader
	body   io.Reader // the raw body, or its quoted-printable decoding
	total  int64     // body bytes read so far
	n      int       // buffered bytes known to be body
	err    error     // what comes after those n bytes: io.EOF at the delimiter, or a read error
	rerr   error     // the last error of the underlying reader
}

// NextPart skips what is left of the current part and returns the next
// one, or io.EOF after the close delimiter.
func (fr *formReader) NextPart() (*formPart, error) {
	if fr.current != nil {
		_, _ = io.Copy(io.Discard, rawPart{fr.current})
		fr.current = nil
	}
	if len(fr.dash) == 2 {
		return nil, errors.New("multipart: boundary is empty")
	}
	expectNewPart := false
	for {
		line, err := fr.r.ReadSlice('\n')
		if errors.Is(err, io.EOF) && fr.isCloseDelimiter(line) {
			// "--boundary--" at the very end, without its line break.
			return nil, io.EOF
		}
		if errors.Is(err, io.EOF) {
			return nil, errBodyCut
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: NextPart: %w", err)
		}
		if fr.isDelimiterLine(line) {
			fr.parts++
			p, err := fr.newPart()
			if err != nil {
				return nil, err
			}
			fr.current = p
			return p, nil
		}
		if fr.isCloseDelimiter(line) {
			return nil, io.EOF
		}
		if expectNewPart {
			return nil, fmt.Errorf("multipart: expecting a new Part; got line %q", line)
		}
		if fr.parts == 0 {
			continue // the preamble
		}
		// The line break between a part's body and its delimiter.
		if bytes.Equal(line, fr.nl) {
			expectNewPart = true
			continue
		}
		return nil, fmt.Errorf("multipart: unexpected line in Next(): %q", line)
	}
}

// isDelimiterLine reports whether line is "--boundary", optional linear
// white space, and a line break. On the first part a bare LF switches
// the reader to LF line breaks (not the RFC's, but seen in practice).
func (fr *formReader) isDelimiterLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, fr.dash)
	if !ok {
		return false
	}
	rest = skipLWSP(rest)
	if fr.parts == 0 && len(rest) == 1 && rest[0] == '\n' {
		fr.nl, fr.nlDash = fr.nl[1:], fr.nlDash[1:]
	}
	return bytes.Equal(rest, fr.nl)
}

// isCloseDelimiter reports whether line is "--boundary--", optional
// linear white space, and a line break or nothing.
func (fr *formReader) isCloseDelimiter(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, fr.dashEnd)
	if !ok {
		return false
	}
	rest = skipLWSP(rest)
	return len(rest) == 0 || bytes.Equal(rest, fr.nl)
}

func skipLWSP(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// errPartHeaderTooLarge refuses a part whose header block passes
// formMaxHeader; the upload answers it 413, as a head past uploadHeadBytes.
var errPartHeaderTooLarge = errors.New("multipart: part header larger than 64 KiB")

// newPart reads a part's header block (at most formMaxHeader bytes, up to
// and with its empty line) and parses it as mime/multipart does.
func (fr *formReader) newPart() (*formPart, error) {
	var block []byte
	for {
		line, err := fr.r.ReadSlice('\n')
		if len(block)+len(line) > formMaxHeader || errors.Is(err, bufio.ErrBufferFull) {
			return nil, errPartHeaderTooLarge
		}
		block = append(block, line...)
		if errors.Is(err, io.EOF) {
			// mime/multipart takes this for the end of the body (io.EOF):
			// a part begun and cut is a body cut short, refused.
			return nil, errHeaderCut
		}
		if err != nil {
			return nil, fmt.Errorf("multipart: NextPart: %w", err)
		}
		if string(line) == "\r\n" || string(line) == "\n" { // the empty line, as bufio.ReadLine sees it
			break
		}
	}
	header, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(block))).ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("multipart: NextPart: %w", err)
	}
	p := &formPart{Header: header, fr: fr}
	p.body = rawPart{p}
	const cte = "Content-Transfer-Encoding"
	if strings.EqualFold(header.Get(cte), "quoted-printable") {
		header.Del(cte)
		p.body = quotedprintable.NewReader(rawPart{p})
	}
	return p, nil
}

// FormName is the name parameter of a form-data Content-Disposition, or "".
func (p *formPart) FormName() string {
	disposition, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil || disposition != "form-data" {
		return ""
	}
	return params["name"]
}

// Read reads the part's body (decoded when it is quoted-printable).
func (p *formPart) Read(d []byte) (int, error) { return p.body.Read(d) }

// rawPart reads a part's body as it is in the message.
type rawPart struct{ p *formPart }

func (r rawPart) Read(d []byte) (int, error) {
	p := r.p
	br := p.fr.r
	for p.n == 0 && p.err == nil {
		peek, _ := br.Peek(br.Buffered())
		p.n, p.err = scanUntilDelimiter(peek, p.fr.dash, p.fr.nlDash, p.total, p.rerr)
		if p.n == 0 && p.err == nil {
			// Nothing decided yet: read more into the buffer.
			if _, p.rerr = br.Peek(len(peek) + 1); errors.Is(p.rerr, io.EOF) {
				p.rerr = io.ErrUnexpectedEOF
			}
		}
	}
	if p.n == 0 {
		return 0, p.err
	}
	n, _ := br.Read(d[:min(len(d), p.n)])
	p.total += int64(n)
	p.n -= n
	if p.n == 0 {
		return n, p.err
	}
	return n, nil
}

// scanUntilDelimiter tells how many bytes at the head of buf are body and
// what follows them: nil (more body may follow), io.EOF (the delimiter),
// or readErr (the body ended without one). total is how many body bytes
// were read before buf: at the start a body may end at once ("--boundary"
// without a line break before it).
func scanUntilDelimiter(buf, dash, nlDash []byte, total int64, readErr error) (int, error) {
	if total == 0 {
		if bytes.HasPrefix(buf, dash) {
			switch matchAfterDelimiter(buf, dash, readErr) {
			case -1:
				return len(dash), nil
			case 0:
				return 0, nil
			case +1:
				return 0, io.EOF
			}
		}
		if bytes.HasPrefix(dash, buf) {
			return 0, readErr
		}
	}
	if i := bytes.Index(buf, nlDash); i >= 0 {
		switch matchAfterDelimiter(buf[i:], nlDash, readErr) {
		case -1:
			return i + len(nlDash), nil
		case 0:
			return i, nil
		case +1:
			return i, io.EOF
		}
	}
	if bytes.HasPrefix(nlDash, buf) {
		return 0, readErr
	}
	// A delimiter cut by the end of buf starts in its last len(nlDash)-1
	// bytes, with nlDash's first byte, which occurs in nlDash only there
	// (a boundary holds no line break): every byte before is body.
	tail := max(len(buf)-len(nlDash)+1, 0)
	if i := bytes.LastIndexByte(buf[tail:], nlDash[0]); i >= 0 && bytes.HasPrefix(nlDash, buf[tail+i:]) {
		return tail + i, nil
	}
	return len(buf), readErr
}

// matchAfterDelimiter reports whether buf, which starts with delimiter,
// is the delimiter (+1: followed by linear white space, a line break or
// "--"), is not (-1: the delimiter's bytes belong to the body), or cannot
// tell yet (0).
func matchAfterDelimiter(buf, delimiter []byte, readErr error) int {
	if len(buf) == len(delimiter) {
		if readErr != nil {
			return +1
		}
		return 0
	}
	c := buf[len(delimiter)]
	if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
		return +1
	}
	if c == '-' {
		if len(buf) == len(delimiter)+1 {
			if readErr != nil {
				return -1
			}
			return 0
		}
		if buf[len(delimiter)+1] == '-' {
			return +1
		}
	}
	return -1
}
