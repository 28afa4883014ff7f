// Package csvimport reads the CSV lists of a mass registration (R-DIR-4) as
// customers' spreadsheets write them: UTF-8 with or without a byte order
// mark, or Windows-1252 (Excel's default on French Windows), `;`, `,` or tab
// separated (detected from the header line), quoted fields (RFC 4180, with
// line breaks inside quotes), `\n`, `\r\n` or `\r` line ends, blank lines,
// and a header line naming the columns in English or French.
//
// It reads with bounded memory whatever the file's length: one record at a
// time, each at most MaxRecordBytes. A line it cannot read (a quote never
// closed, a line too long) is returned as a row with Err set and reading
// goes on: a bad row never stops the others.
package csvimport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Limits of one record.
const (
	MaxRecordBytes = 64 << 10
	MaxFields      = 200
)

// Column is one field of a row, whatever the header calls it.
type Column int

// The columns.
const (
	RegistrationNumber Column = iota
	LegalName
	Country
	AddressLine
	AddressLine2
	PostalCode
	City
	ContactEmail
	ContactGivenName
	ContactFamilyName
	ContactName // given then family name in one column
	ContactFunction
	ContactPhone
	ContactMobile
	numColumns
)

// names are the canonical (English) column names, as errors cite them.
var names = [numColumns]string{
	"registration_number", "legal_name", "country", "address_line", "address_line_2", "postal_code", "city",
	"contact_email", "contact_given_name", "contact_family_name", "contact_name", "contact_function",
	"contact_phone", "contact_mobile",
}

// String is the column's canonical name.
func (c Column) String() string {
	if c >= 0 && c < numColumns {
		return names[c]
	}
	return fmt.Sprintf("column %d", int(c))
}

// aliases map folded header names (see headerKey) to columns, in English
// and French.
var aliases = map[string]Column{}

// weak header names mean the company's name unless another column does,
// and then the contact's.
var weak = map[string]Column{"nom": ContactFamilyName, "name": ContactName}

func init() {
	add := func(c Column, keys ...string) {
		for _, k := range append(keys, names[c]) {
			aliases[headerKey(k)] = c
		}
	}
	add(RegistrationNumber, "registration number", "registration no", "registration", "company number", "siret", "siren",
		"siret siren", "siren siret", "numero siret", "n siret", "no siret", "num siret", "numero siren", "n siren",
		"numero d immatriculation", "numero immatriculation", "immatriculation", "numero d identification")
	add(LegalName, "legal name", "company", "company name", "supplier", "supplier name", "raison sociale", "denomination",
		"denomination sociale", "nom de l entreprise", "nom entreprise", "entreprise", "societe", "nom de la societe", "fournisseur",
		"nom du fournisseur")
	add(Country, "country", "country code", "pays", "code pays")
	add(AddressLine, "address", "address line", "address line 1", "address 1", "street", "adresse", "adresse 1",
		"ligne adresse", "ligne d adresse", "rue", "voie")
	add(AddressLine2, "address line 2", "address 2", "adresse 2", "complement d adresse", "complement adresse")
	add(PostalCode, "postal code", "postcode", "post code", "zip", "zip code", "code postal", "cp")
	add(City, "city", "town", "ville", "commune", "localite")
	add(ContactEmail, "contact email", "email", "e mail", "mail", "contact e mail", "courriel", "adresse email",
		"adresse e mail", "adresse mail", "email du contact", "e mail du contact", "courriel du contact", "mail contact", "email contact")
	add(ContactGivenName, "contact given name", "given name", "first name", "contact first name", "firstname", "prenom",
		"prenom du contact", "prenom contact", "contact prenom")
	add(ContactFamilyName, "contact family name", "family name", "last name", "surname", "contact last name", "lastname",
		"nom du contact", "nom de famille", "nom de famille du contact", "nom contact", "contact nom")
	add(ContactName, "contact name", "contact", "contact full name", "nom complet", "nom complet du contact", "nom et prenom",
		"prenom et nom", "contact nom complet")
	add(ContactFunction, "contact function", "function", "job title", "title", "position", "fonction", "poste",
		"fonction du contact")
	add(ContactPhone, "contact phone", "phone", "phone number", "telephone", "tel", "telephone du contact",
		"numero de telephone", "telephone fixe")
	add(ContactMobile, "contact mobile", "mobile", "mobile phone", "cell", "cell phone", "portable", "telephone portable",
		"mobile du contact", "portable du contact")
}

// headerKey folds a header name: accents removed, lower case, every run of
// other characters than letters and digits one space (`N° SIRET` → `n siret`,
// `Numéro d'immatriculation` → `numero d immatriculation`).
func headerKey(s string) string {
	var b strings.Builder
	space := false
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9'):
		case r < utf8.RuneSelf && r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
		default:
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Row is one data record.
type Row struct {
	// Line is the physical line the record starts on (the header is usually 1).
	Line int
	// Values by column, trimmed; "" when the file has no such column.
	Values [numColumns]string
	// Err says why the line could not be read; Values are then partial.
	Err string
}

// Get is the value of column c.
func (r *Row) Get(c Column) string { return r.Values[c] }

// HeaderError is a file that cannot be read at all: no header line, a
// required column missing, an unsupported encoding.
type HeaderError struct{ Msg string }

func (e *HeaderError) Error() string { return e.Msg }

// Reader reads rows one by one.
type Reader struct {
	br      *bufio.Reader
	sep     byte
	line    int   // physical lines consumed
	columns []int // per field position: the column, or -1
	has     [numColumns]bool
	fields  [][]byte
	starts  []int
	buf     []byte
	cp1252  *encoding.Decoder
}

// NewReader reads the header line of r. A *HeaderError says why the file
// cannot be read; other errors are r's.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	} else if b, err := br.Peek(2); err == nil && (b[0] == 0xFF && b[1] == 0xFE || b[0] == 0xFE && b[1] == 0xFF) {
		return nil, &HeaderError{"file: UTF-16 text is not supported; save the list as CSV (UTF-8 or Windows-1252)"}
	}
	rd := &Reader{br: br, cp1252: charmap.Windows1252.NewDecoder()}
	rd.sep = detectSeparator(br)
	for {
		fields, rowErr, err := rd.record()
		if errors.Is(err, io.EOF) {
			return nil, &HeaderError{"file: no header line (the list is empty)"}
		}
		if err != nil {
			return nil, err
		}
		if rowErr != "" {
			return nil, &HeaderError{"file: the header line cannot be read: " + rowErr}
		}
		if blank(fields) {
			continue
		}
		return rd, rd.mapHeader(fields)
	}
}

// Separator is the detected separator.
func (r *Reader) Separator() byte { return r.sep }

// Has reports whether the file has column c.
func (r *Reader) Has(c Column) bool { return r.has[c] }

func (r *Reader) mapHeader(fields [][]byte) error {
	r.columns = make([]int, len(fields))
	var found []string
	var weakAt []int
	for i, f := range fields {
		r.columns[i] = -1
		name := strings.TrimSpace(r.decode(f))
		key := headerKey(name)
		found = append(found, name)
		if _, ok := weak[key]; ok {
			weakAt = append(weakAt, i)
			continue
		}
		c, ok := aliases[key]
		if !ok {
			continue // unknown columns are ignored
		}
		if err := r.assign(i, c, name); err != nil {
			return err
		}
	}
	for _, i := range weakAt {
		name := strings.TrimSpace(r.decode(fields[i]))
		c := LegalName
		if r.has[LegalName] {
			c = weak[headerKey(name)]
		}
		if err := r.assign(i, c, name); err != nil {
			return err
		}
	}
	for _, c := range []Column{RegistrationNumber, LegalName} {
		if !r.has[c] {
			return &HeaderError{fmt.Sprintf("file: the header line has no %s column (it has: %s)", c, strings.Join(found, ", "))}
		}
	}
	if r.has[ContactName] && (r.has[ContactGivenName] || r.has[ContactFamilyName]) {
		return &HeaderError{"file: give the contact's name either in contact_name or in contact_given_name and contact_family_name, not both"}
	}
	return nil
}

func (r *Reader) assign(i int, c Column, name string) error {
	if r.has[c] {
		return &HeaderError{fmt.Sprintf("file: two columns mean %s (the second is %q)", c, name)}
	}
	r.has[c] = true
	r.columns[i] = int(c)
	return nil
}

// Next returns the next non-blank row, or io.EOF after the last.
func (r *Reader) Next() (Row, error) {
	for {
		start := r.line + 1
		fields, rowErr, err := r.record()
		if err != nil {
			return Row{}, err
		}
		if rowErr == "" && blank(fields) {
			continue
		}
		row := Row{Line: start, Err: rowErr}
		for i, f := range fields {
			if i < len(r.columns) && r.columns[i] >= 0 {
				row.Values[r.columns[i]] = trim(r.decode(f))
			}
		}
		if row.Err == "" && r.has[ContactName] {
			splitName(&row)
		}
		return row, nil
	}
}

// splitName fills given and family names from a contact_name column:
// `Ada Lovelace` or `Lovelace, Ada`.
func splitName(row *Row) {
	full := row.Values[ContactName]
	if full == "" {
		return
	}
	var given, family string
	if f, g, ok := strings.Cut(full, ","); ok {
		family, given = trim(f), trim(g)
	} else if g, f, ok := strings.Cut(full, " "); ok {
		given, family = trim(g), trim(f)
	}
	if given == "" || family == "" {
		row.Err = "contact_name: give a given name and a family name (`Ada Lovelace`)"
		return
	}
	row.Values[ContactGivenName], row.Values[ContactFamilyName] = given, family
}

// record reads one record: its fields (valid until the next call), a
// reason when the record is broken, or io.EOF when there is none left.
func (r *Reader) record() ([][]byte, string, error) {
	const (
		fieldStart = iota
		inField
		inQuoted
		quoteInQuoted
	)
	r.fields = r.fields[:0]
	r.buf = r.buf[:0]
	r.starts = r.starts[:0]
	state := fieldStart
	startLine := r.line + 1
	rowErr := ""
	size := 0
	read := false
	push := func() {
		r.starts = append(r.starts, len(r.buf))
	}
	finish := func() [][]byte {
		push()
		prev := 0
		for _, end := range r.starts {
			r.fields = append(r.fields, r.buf[prev:end])
			prev = end
		}
		return r.fields
	}
	for {
		c, err := r.br.ReadByte()
		if errors.Is(err, io.EOF) {
			if !read {
				return nil, "", io.EOF
			}
			r.line++
			if state == inQuoted && rowErr == "" {
				rowErr = fmt.Sprintf("line %d: a quoted field is never closed", startLine)
			}
			return finish(), rowErr, nil
		}
		if err != nil {
			return nil, "", err
		}
		read = true
		size++
		if size > MaxRecordBytes || len(r.starts) >= MaxFields {
			if rowErr == "" {
				rowErr = fmt.Sprintf("line %d: longer than %d KiB or more than %d fields", startLine, MaxRecordBytes>>10, MaxFields)
			}
			// Resynchronise at the next line end, quotes or not.
			if c != '\n' && c != '\r' {
				if err := r.skipLine(); err != nil && !errors.Is(err, io.EOF) {
					return nil, "", err
				}
			} else {
				r.eatLF(c)
			}
			r.line++
			return finish(), rowErr, nil
		}
		switch state {
		case fieldStart:
			if c == '"' {
				state = inQuoted
				continue
			}
			state = inField
			fallthrough
		case inField:
			switch c {
			case r.sep:
				push()
				state = fieldStart
			case '\n', '\r':
				r.eatLF(c)
				r.line++
				return finish(), rowErr, nil
			default:
				r.buf = append(r.buf, c)
			}
		case inQuoted:
			switch c {
			case '"':
				state = quoteInQuoted
			case '\n':
				r.line++
				r.buf = append(r.buf, c)
			case '\r':
				if next, err := r.br.Peek(1); err != nil || next[0] != '\n' {
					r.line++ // a lone \r ends a line too
				}
				r.buf = append(r.buf, c)
			default:
				r.buf = append(r.buf, c)
			}
		case quoteInQuoted:
			switch c {
			case '"':
				r.buf = append(r.buf, '"')
				state = inQuoted
			case r.sep:
				push()
				state = fieldStart
			case '\n', '\r':
				r.eatLF(c)
				r.line++
				return finish(), rowErr, nil
			default:
				if rowErr == "" {
					rowErr = fmt.Sprintf("line %d: text after a closing quote (write a quote inside a quoted field as \"\")", startLine)
				}
				r.buf = append(r.buf, c)
				state = inField
			}
		}
	}
}

// eatLF consumes the \n of a \r\n line end.
func (r *Reader) eatLF(c byte) {
	if c == '\r' {
		if next, err := r.br.Peek(1); err == nil && next[0] == '\n' {
			_, _ = r.br.Discard(1)
		}
	}
}

// skipLine discards bytes up to and including the next line end.
func (r *Reader) skipLine() error {
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return err
		}
		if c == '\n' || c == '\r' {
			r.eatLF(c)
			return nil
		}
	}
}

// detectSeparator counts `;`, `,` and tabs outside quotes on the first
// non-blank line (within the first 64 KiB) and takes the most frequent;
// `;` wins a tie (spreadsheets in French use it because `,` is their
// decimal mark).
func detectSeparator(br *bufio.Reader) byte {
	// A read error is bufio's to return again on the next read.
	peek, _ := br.Peek(64 << 10)
	var counts [3]int // ; , \t
	quoted := false
	started := false
	for _, c := range peek {
		if c == '"' {
			quoted = !quoted
			started = true
			continue
		}
		if quoted {
			continue
		}
		if c == '\n' || c == '\r' {
			if started {
				break
			}
			continue
		}
		if c != ' ' && c != '\t' {
			started = true
		}
		switch c {
		case ';':
			counts[0]++
		case ',':
			counts[1]++
		case '\t':
			counts[2]++
		}
	}
	seps := [3]byte{';', ',', '\t'}
	best := 1 // ',' when there is no separator at all
	for i := range counts {
		if counts[i] > counts[best] || counts[i] == counts[best] && counts[i] > 0 && i < best {
			best = i
		}
	}
	return seps[best]
}

// decode reads a field as UTF-8, or as Windows-1252 when it is not valid
// UTF-8 (a file saved by Excel on a French Windows).
func (r *Reader) decode(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	s, err := r.cp1252.Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(s)
}

func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' })
}

func blank(fields [][]byte) bool {
	for _, f := range fields {
		if len(bytes.TrimSpace(f)) > 0 {
			return false
		}
	}
	return true
}
