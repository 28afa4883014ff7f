package regnum

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigil/vigil/services/runtime/errs"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, country, number string
		want                  string // normalised; "" when invalid
		field                 string // field named by the error
	}{
		// Real French numbers.
		{"SIREN 732829320", "FR", "732829320", "732829320", ""},
		{"SIREN 552100554", "FR", "552100554", "552100554", ""},
		{"SIRET 73282932000074", "FR", "73282932000074", "73282932000074", ""},
		{"SIRET with spaces", "FR", "732 829 320 00074", "73282932000074", ""},
		{"SIREN with no-break spaces", "FR", "732\u00a0829\u202f320", "732829320", ""},
		// La Poste (R-DIR-1): the SIREN itself passes Luhn; its head office
		// follows Luhn; its other establishments have a digit sum that is a
		// multiple of 5 (computed ones below: 3+5+6 = 14, so the NIC's
		// digits must sum to 1 mod 5).
		{"La Poste SIREN", "FR", "356000000", "356000000", ""},
		{"La Poste head office", "FR", "35600000000048", "35600000000048", ""},
		{"La Poste NIC 00001", "FR", "35600000000001", "35600000000001", ""},
		{"La Poste NIC 00047", "FR", "35600000000047", "35600000000047", ""},
		{"La Poste NIC 01235", "FR", "35600000001235", "35600000001235", ""},
		{"La Poste NIC 00092", "FR", "35600000000092", "35600000000092", ""},
		{"La Poste digit sum 16", "FR", "35600000000002", "", Field},
		{"La Poste digit sum 27", "FR", "35600000000049", "", Field},
		// Bad French numbers.
		{"SIREN bad check digit", "FR", "732829321", "", Field},
		{"SIREN bad check digit 2", "FR", "552100555", "", Field},
		{"SIRET bad check digit", "FR", "73282932000079", "", Field},
		{"SIRET valid Luhn on a bad SIREN", "FR", "73282932100007", "", Field},
		{"8 digits", "FR", "73282932", "", Field},
		{"10 digits", "FR", "7328293200", "", Field},
		{"letters in FR", "FR", "73282932A", "", Field},
		{"empty", "FR", "", "", Field},
		{"only spaces", "FR", "   ", "", Field},
		// Other countries: shape only.
		{"UK company number", "GB", "SC123456", "SC123456", ""},
		{"lower case is upper-cased", "DE", "hrb 12345", "HRB12345", ""},
		{"32 characters", "BE", strings.Repeat("9", 32), strings.Repeat("9", 32), ""},
		{"33 characters", "BE", strings.Repeat("9", 33), "", Field},
		{"dashes and dots removed (issue 8)", "GB", "SC-12.34", "SC1234", ""},
		{"SIRET with dots and dashes", "FR", "732.829.320-00074", "73282932000074", ""},
		{"punctuation", "GB", "SC/123", "", Field},
		{"non-ASCII", "ES", "B1234é", "", Field},
		// Country.
		{"lower-case country", "fr", "732829320", "", "country"},
		{"empty country", "", "732829320", "", "country"},
		{"3-letter country", "FRA", "732829320", "", "country"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validate(tt.country, tt.number)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("Validate(%q, %q) = %q, %v; want %q", tt.country, tt.number, got, err, tt.want)
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalidArgument || e.Field != tt.field {
				t.Fatalf("Validate(%q, %q) = %q, %v; want InvalidArgument on %s", tt.country, tt.number, got, err, tt.field)
			}
			if !strings.HasPrefix(e.Message, tt.field+": ") {
				t.Fatalf("message %q does not name the field %s", e.Message, tt.field)
			}
		})
	}
}

// TestLaPosteLuhnIsNotEnough: a La Poste establishment other than the head
// office is judged by its digit sum only, so a number passing Luhn but not
// the digit-sum rule is refused.
func TestLaPosteLuhnIsNotEnough(t *testing.T) {
	found := 0
	for nic := 0; nic < 100000 && found < 20; nic++ {
		n := laPosteSIREN + pad5(nic)
		if n == laPosteHeadOffice || !luhn(n) || digitSum(n)%5 == 0 {
			continue
		}
		found++
		if _, err := Validate("FR", n); err == nil {
			t.Fatalf("%s passes Luhn but not La Poste's rule, yet was accepted", n)
		}
	}
	if found == 0 {
		t.Fatal("no Luhn-valid La Poste number with a bad digit sum found")
	}
}

func pad5(n int) string {
	s := "00000" + itoa(n)
	return s[len(s)-5:]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestLuhn(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "18": true, "79927398713": true, "79927398710": false, "1": false} {
		if luhn(s) != want {
			t.Errorf("luhn(%q) = %v, want %v", s, !want, want)
		}
	}
}

// FuzzValidate: Validate never panics; what it accepts is normalised, stable
// under a second validation and of the documented shape; what it refuses is
// an InvalidArgument naming a field.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"732829320", "73282932000074", "35600000000048", "35600000000001", "732 829 320", "SC123456", "", "é", "\u00a0"} {
		f.Add("FR", s)
		f.Add("GB", s)
	}
	f.Fuzz(func(t *testing.T, country, number string) {
		got, err := Validate(country, number)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalidArgument || (e.Field != Field && e.Field != "country") {
				t.Fatalf("refusal is not an InvalidArgument naming a field: %#v", err)
			}
			return
		}
		again, err := Validate(country, got)
		if err != nil || again != got {
			t.Fatalf("not stable: %q → %q → %q, %v", number, got, again, err)
		}
		if len(got) == 0 || len(got) > MaxLen {
			t.Fatalf("accepted length %d", len(got))
		}
		for i := 0; i < len(got); i++ {
			if !isDigit(got[i]) && !isUpper(got[i]) {
				t.Fatalf("accepted %q", got)
			}
		}
		if country == "FR" && len(got) != 9 && len(got) != 14 {
			t.Fatalf("accepted French %q", got)
		}
	})
}
