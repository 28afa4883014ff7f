package pagetoken

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/vigil/vigil/services/runtime/errs"
)

func isInvalid(err error) bool {
	var e *errs.Error
	return errors.As(err, &e) && e.Kind == errs.KindInvalidArgument && e.Field == "page_token"
}

func TestRoundTrip(t *testing.T) {
	tok := Encode("users", "Doe", "John", "abc")
	parts, err := Decode(tok, "users", 3)
	if err != nil || len(parts) != 3 || parts[0] != "Doe" || parts[2] != "abc" {
		t.Fatalf("%v %v", parts, err)
	}
	if _, err := Decode(tok, "audit", 3); !isInvalid(err) {
		t.Fatalf("a token of another query: %v", err)
	}
	if _, err := Decode(tok, "users", 4); !isInvalid(err) {
		t.Fatalf("a token of fewer parts: %v", err)
	}
	// A one-part cursor keeps its NULs (directory's name\x00id cursors).
	if c, err := Cursor(Encode("", "acme\x00id1"), ""); err != nil || c != "acme\x00id1" {
		t.Fatalf("Cursor = %q, %v", c, err)
	}
	if Encode("q", "") != "" || Encode("q") != "" {
		t.Fatal("an empty position must be no token")
	}
	if c, err := Cursor("", "q"); c != "" || err != nil {
		t.Fatalf("the first page: %q, %v", c, err)
	}
}

// TestFormats: the tokens directory (no query) and vault (a query) made
// before still read.
func TestFormats(t *testing.T) {
	directory := base64.RawURLEncoding.EncodeToString([]byte("acme\x00id1"))
	if c, err := Cursor(directory, ""); err != nil || c != "acme\x00id1" {
		t.Fatalf("directory's token: %q, %v", c, err)
	}
	vault := base64.RawURLEncoding.EncodeToString([]byte(fingerprint("c|all|x|name") + "cursor"))
	if c, err := Cursor(vault, "c|all|x|name"); err != nil || c != "cursor" {
		t.Fatalf("vault's token: %q, %v", c, err)
	}
}

func TestRefused(t *testing.T) {
	long := make([]byte, MaxLen+1)
	for i := range long {
		long[i] = 'A'
	}
	for _, bad := range []string{"!!!", "x", string(long), base64.RawURLEncoding.EncodeToString([]byte(fingerprint("q")))} {
		if _, err := Decode(bad, "q", 1); !isInvalid(err) {
			t.Errorf("Decode(%q) = %v, want INVALID_ARGUMENT page_token", bad, err)
		}
	}
}

// FuzzDecode: any input decodes to n parts that re-encode to a token
// decoding the same, or to INVALID_ARGUMENT page_token; never a panic.
func FuzzDecode(f *testing.F) {
	f.Add(Encode("users", "a", "b", "c"), "users")
	f.Add("AAAA", "")
	f.Add("", "q")
	f.Fuzz(func(t *testing.T, s, q string) {
		parts, err := Decode(s, q, 3)
		if err != nil {
			if !isInvalid(err) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if s == "" {
			return
		}
		if len(parts) != 3 {
			t.Fatalf("%d parts", len(parts))
		}
		again, err := Decode(Encode(q, parts...), q, 3)
		if err != nil || again[0] != parts[0] || again[2] != parts[2] {
			t.Fatalf("re-encoding %q gives %q, %v", parts, again, err)
		}
	})
}
