package names

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil/vigil/services/runtime/errs"
)

// TestNewIDSorts: ids made later sort later (store locality), and are 26
// URL-safe characters.
func TestNewIDSorts(t *testing.T) {
	prev := NewID()
	for range 1000 {
		time.Sleep(time.Microsecond)
		id := NewID()
		if len(id) != 26 || strings.Trim(id, "0123456789abcdefghijklmnopqrstuv") != "" || !IsNewID(id) || !ValidID(id) {
			t.Fatalf("id %q", id)
		}
		if id[:9] < prev[:9] { // the first 9 characters are the time alone
			t.Fatalf("%s sorts before %s", id, prev)
		}
		prev = id
	}
}

// TestStoredIDsStayValid: the ids each service stored before this package
// still read, and every earlier time-ordered id sorts before a new one.
func TestStoredIDsStayValid(t *testing.T) {
	stored := map[string]string{
		"directory and vault (ms + random, base32hex)": "01jbz4q5d0m7k3f9x2w8r6t4ha",
		"notify and webhooks (ns + random, base32hex)": "18c2f0a1b2c3d4e5f6g7h8i9jk",
		"identity (random, base32 a-z2-7)":             "mzxw6ytboi4dsnrsgezdgnbvgy",
	}
	now := NewID()
	for who, id := range stored {
		if !ValidID(id) {
			t.Errorf("%s: %q no longer valid", who, id)
		}
		if _, _, ok := Member.Match(Member.Format(id, id)); !ok {
			t.Errorf("%s: %q no longer parses in a name", who, id)
		}
	}
	// A directory id made today (ms since 1970 in 6 bytes) against a new one.
	var ms [16]byte
	v := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		ms[i] = byte(v)
		v >>= 8
	}
	old := strings.ToLower(idEncoding.EncodeToString(ms[:]))
	if old >= now {
		t.Fatalf("an earlier millisecond id %s sorts after a new one %s", old, now)
	}
}

func TestIDTime(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	id := NewIDAt(at)
	if got, ok := IDTime(id); !ok || !got.Equal(at) {
		t.Fatalf("IDTime(%s) = %v, %v; want %v", id, got, ok, at)
	}
	if got, ok := IDTime(id + "-001"); !ok || !got.Equal(at) {
		t.Fatalf("IDTime of a derived id = %v, %v", got, ok)
	}
	for _, bad := range []string{"", "short", strings.Repeat("z", 26)} {
		if _, ok := IDTime(bad); ok {
			t.Errorf("IDTime(%q) ok", bad)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "A-b_9": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a/b": false, "a b": false, "é": false, "a.b": false,
	} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}

func TestNames(t *testing.T) {
	if got := Member.Format("c", "u"); got != "companies/c/users/u" {
		t.Fatalf("Format = %q", got)
	}
	if got := SupplierDocument.Format("c", "s", "d"); got != "companies/c/suppliers/s/documents/d" {
		t.Fatalf("Format = %q", got)
	}
	if c, u, err := Member.Parse("name", "companies/c/users/u"); err != nil || c != "c" || u != "u" {
		t.Fatalf("Parse = %q %q %v", c, u, err)
	}
	if id, ok := Company.Match("companies/c"); !ok || id != "c" {
		t.Fatalf("Match = %q %v", id, ok)
	}
	for _, bad := range []string{
		"", "companies/", "companies/c/", "companies/c/users", "companies/c/users/", "companies//users/u",
		"companies/c/grants/u", "companies/c/users/u/x", "users/u", "companies/c/users/u/", "Companies/c/users/u",
		"companies/c/users/" + strings.Repeat("u", 65), "companies/c d/users/u",
	} {
		_, _, err := Member.Parse("user.name", bad)
		var e *errs.Error
		if !errors.As(err, &e) || e.Kind != errs.KindInvalidArgument || e.Field != "user.name" ||
			!strings.Contains(e.Message, "companies/{company}/users/{user}") {
			t.Errorf("Parse(%q) = %v; want INVALID_ARGUMENT naming user.name and the shape", bad, err)
		}
	}
	if _, ok := Company.Match("companies/c/users/u"); ok {
		t.Fatal("a longer name matched companies/{company}")
	}
}

func TestShapesPanic(t *testing.T) {
	for _, shape := range []string{"companies", "companies/{company}/users", "companies/company", "/{a}"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New1/New2(%q) did not panic", shape)
				}
			}()
			if strings.Count(shape, "/") > 1 {
				New2(shape)
			} else {
				New1(shape)
			}
		}()
	}
}

// FuzzParse: any string either parses into valid ids that format back to
// it, or is refused naming the field.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"companies/a/users/b", "companies/a", "companies//users/", "companies/a/users/b/c", "\x00/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, u, err := Member.Parse("name", s)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Field != "name" {
				t.Fatalf("error %v does not name the field", err)
			}
			return
		}
		if !ValidID(c) || !ValidID(u) || Member.Format(c, u) != s {
			t.Fatalf("%q parsed into %q %q", s, c, u)
		}
	})
}
