package csvimport

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, in string) (*Reader, []Row) {
	t.Helper()
	r, err := NewReader(strings.NewReader(in))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var rows []Row
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, rows
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rows = append(rows, row)
	}
}

// TestFormats: R-DIR-4 — every way a spreadsheet writes the list reads the
// same rows.
func TestFormats(t *testing.T) {
	want := []struct {
		line          int
		number, name  string
		email, family string
	}{
		{2, "73282932000074", "Élan SARL", "ada@elan.test", "Lovelace"},
		{4, "552 100 554", "Dupont; Fils & Cie", "", ""},
	}
	cp1252 := func(s string) string { // é → 0xE9, É → 0xC9
		return strings.NewReplacer("É", "\xc9", "é", "\xe9").Replace(s)
	}
	semi := "SIRET;Raison sociale;Courriel;Nom du contact\n73282932000074;Élan SARL;ada@elan.test;Lovelace\n\n552 100 554;\"Dupont; Fils & Cie\";;\n"
	comma := "registration_number,legal_name,contact_email,contact_family_name\r\n73282932000074,Élan SARL,ada@elan.test,Lovelace\r\n,,,\r\n552 100 554,\"Dupont; Fils & Cie\",,\r\n"
	tests := map[string]string{
		"semicolon, French headers":               semi,
		"comma, English headers, CRLF, blank row": comma,
		"UTF-8 BOM":             "\ufeff" + semi,
		"Windows-1252":          cp1252(semi),
		"classic Mac line ends": strings.ReplaceAll(semi, "\n", "\r"),
		"tab separated":         strings.ReplaceAll(strings.ReplaceAll(semi, ";", "\t"), "\"Dupont\t Fils & Cie\"", "\"Dupont; Fils & Cie\""),
		"no final line end":     strings.TrimSuffix(semi, "\n"),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, rows := readAll(t, in)
			if len(rows) != len(want) {
				t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
			}
			for i, w := range want {
				r := rows[i]
				if r.Err != "" || r.Line != w.line || r.Get(RegistrationNumber) != w.number || r.Get(LegalName) != w.name ||
					r.Get(ContactEmail) != w.email || r.Get(ContactFamilyName) != w.family {
					t.Fatalf("row %d = %+v, want %+v", i, r, w)
				}
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		header string
		want   map[Column]int // column → field position
		err    string
	}{
		{"N° SIRET;Dénomination;Pays;Adresse;Code postal;Ville;E-mail;Prénom;Nom de famille;Fonction;Téléphone;Portable", map[Column]int{
			RegistrationNumber: 0, LegalName: 1, Country: 2, AddressLine: 3, PostalCode: 4, City: 5, ContactEmail: 6,
			ContactGivenName: 7, ContactFamilyName: 8, ContactFunction: 9, ContactPhone: 10, ContactMobile: 11}, ""},
		{"Registration Number,Company Name,Country,ZIP,City,Email,First Name,Last Name,Mobile", map[Column]int{
			RegistrationNumber: 0, LegalName: 1, Country: 2, PostalCode: 3, City: 4, ContactEmail: 5, ContactGivenName: 6,
			ContactFamilyName: 7, ContactMobile: 8}, ""},
		// "Nom" is the company's name, unless another column is.
		{"SIRET;Nom;Prénom", map[Column]int{RegistrationNumber: 0, LegalName: 1, ContactGivenName: 2}, ""},
		{"SIRET;Raison sociale;Nom;Prénom", map[Column]int{RegistrationNumber: 0, LegalName: 1, ContactFamilyName: 2, ContactGivenName: 3}, ""},
		{"siret;name;contact name;unknown column", map[Column]int{RegistrationNumber: 0, LegalName: 1, ContactName: 2}, ""},
		{"name;city", nil, "no registration_number column"},
		{"siret;city", nil, "no legal_name column"},
		{"siret;siren;name", nil, "two columns mean registration_number"},
		{"siret;name;contact;first name", nil, "not both"},
		{"", nil, "no header line"},
		{"\n\n ; ;\n", nil, "no header line"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.header + "\n"))
			if tt.err != "" {
				var he *HeaderError
				if !errors.As(err, &he) || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "file: ") {
					t.Fatalf("err %v, want a HeaderError naming the file and saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for c, pos := range tt.want {
				if r.columns[pos] != int(c) {
					t.Errorf("field %d is %v, want %v", pos, Column(r.columns[pos]), c)
				}
			}
		})
	}
	if _, err := NewReader(strings.NewReader("\xff\xfes\x00i\x00")); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Fatalf("UTF-16: %v", err)
	}
}

// TestBadRowsDoNotStopTheOthers: R-DIR-4 — a broken line is one row with an
// error, and reading goes on with the right line numbers.
func TestBadRowsDoNotStopTheOthers(t *testing.T) {
	long := strings.Repeat("x", MaxRecordBytes+10)
	in := "siret,name,contact_name\n" +
		"1,\"Multi\nline\",Ada Lovelace\n" + // line 2-3
		"2,\"bad\"quote,\n" + // line 4
		"3," + long + ",\n" + // line 5
		"4,Lovelace,\"Lovelace, Ada\"\n" + // line 6
		"5,Solo,Cher\n" + // line 7
		"6,\"never closed,\n7,x,\n" // line 8 to the end
	_, rows := readAll(t, in)
	type w struct {
		line   int
		number string
		err    string
	}
	want := []w{{2, "1", ""}, {4, "2", "text after a closing quote"}, {5, "3", "longer than"}, {6, "4", ""}, {7, "5", "contact_name"}, {8, "6", "never closed"}}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v", rows)
	}
	for i, w := range want {
		if rows[i].Line != w.line || rows[i].Get(RegistrationNumber) != w.number || !strings.Contains(rows[i].Err, w.err) || (w.err == "") != (rows[i].Err == "") {
			t.Errorf("row %d = line %d %q err %q; want %+v", i, rows[i].Line, rows[i].Get(RegistrationNumber), rows[i].Err, w)
		}
	}
	if rows[0].Get(LegalName) != "Multi\nline" || rows[0].Get(ContactGivenName) != "Ada" || rows[0].Get(ContactFamilyName) != "Lovelace" {
		t.Errorf("row 1 = %+v", rows[0])
	}
	if rows[3].Get(ContactGivenName) != "Ada" || rows[3].Get(ContactFamilyName) != "Lovelace" {
		t.Errorf("row 4 = %+v", rows[3])
	}
}

// TestOneByteReads: a stream cut anywhere (the gateway's chunks) reads the same.
func TestOneByteReads(t *testing.T) {
	in := "\ufeffsiret;name\r\n1;\"a\r\nb\"\r\n2;c\r\n"
	r, err := NewReader(iotest.OneByteReader(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Get(LegalName))
	}
	if strings.Join(got, "|") != "a\r\nb|c" {
		t.Fatalf("got %q", got)
	}
}

// TestReadErrorsPass: an error of the underlying stream (an upload cut
// short) is returned, not taken for the end of the list.
func TestReadErrorsPass(t *testing.T) {
	boom := errors.New("boom")
	r, err := NewReader(io.MultiReader(strings.NewReader("siret,name\n1,a\n2,b"), iotest.ErrReader(boom)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
}

// FuzzReader: whatever the bytes, the reader neither panics nor loops, every
// row is valid UTF-8 and within the record limit, and lines only grow.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"siret;name\n1;a\n", "\ufeffsiret,name,contact_name\r\n1,\"a\"\"b\",Ada Lovelace\r\n",
		"siret\tname\n\"x\n", "SIRET;Nom\n\xe9;\xc9\n", "name;siret\r\r\r1;2", "siret,name\n\"\"\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := NewReader(strings.NewReader(string(in)))
		if err != nil {
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("non-header error from a string: %v", err)
			}
			return
		}
		last := 0
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatal("more rows than bytes")
			}
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if row.Line <= last {
				t.Fatalf("line %d after %d", row.Line, last)
			}
			last = row.Line
			for _, v := range row.Values {
				if !utf8Valid(v) || len(v) > 4*MaxRecordBytes {
					t.Fatalf("bad value %q", v)
				}
			}
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }
