// Package regnum checks company registration numbers (R-DIR-1): a company is
// identified by its country and its national registration number. French
// numbers are a SIREN (9 digits, the legal unit) or a SIRET (14 digits, one
// establishment: the SIREN followed by a 5-digit NIC), both protected by the
// Luhn check digit — except La Poste's establishments (SIREN 356000000),
// whose SIRETs carry a digit sum that is a multiple of 5 instead, with their
// head office 35600000000048 following Luhn like everyone else. Numbers of
// other countries are checked for shape only: 1 to 32 letters and digits.
package regnum

import (
	"strings"

	"github.com/vigil/vigil/services/runtime/errs"
)

// Field is the request field every error names.
const Field = "registration_number"

// MaxLen is the longest registration number of any country.
const MaxLen = 32

const (
	laPosteSIREN      = "356000000"
	laPosteHeadOffice = "35600000000048"
)

// Normalize returns the number as stored and compared: spaces (including
// the no-break spaces French typography puts between digit groups), dots and
// dashes removed (`732 829 320`, `732.829.320` and `732-829-320` are one
// number), letters upper-cased. It does not validate.
func Normalize(number string) string {
	var b strings.Builder
	b.Grow(len(number))
	for _, r := range number {
		switch r {
		case ' ', '\t', '\u00a0', '\u202f', '.', '-':
			continue
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ValidCountry reports whether country is an ISO 3166-1 alpha-2 shaped code
// (two upper-case letters).
func ValidCountry(country string) bool {
	return len(country) == 2 && isUpper(country[0]) && isUpper(country[1])
}

// Validate normalises number and checks it for country. It returns the
// normalised number, or an errs.InvalidArgument naming registration_number
// (or country, when the country itself is malformed).
func Validate(country, number string) (string, error) {
	if !ValidCountry(country) {
		return "", errs.InvalidArgument("country", "must be an ISO 3166-1 alpha-2 code such as FR")
	}
	n := Normalize(number)
	if n == "" {
		return "", errs.InvalidArgument(Field, "must not be empty")
	}
	if country == "FR" {
		return n, validateFR(n)
	}
	if len(n) > MaxLen {
		return "", errs.InvalidArgument(Field, "must be at most %d letters and digits", MaxLen)
	}
	for i := 0; i < len(n); i++ {
		if !isUpper(n[i]) && !isDigit(n[i]) {
			return "", errs.InvalidArgument(Field, "must hold only letters and digits")
		}
	}
	return n, nil
}

func validateFR(n string) error {
	for i := 0; i < len(n); i++ {
		if !isDigit(n[i]) {
			return errs.InvalidArgument(Field, "a French registration number is a SIREN (9 digits) or a SIRET (14 digits)")
		}
	}
	switch len(n) {
	case 9:
		if !luhn(n) {
			return errs.InvalidArgument(Field, "fails the SIREN checksum")
		}
	case 14:
		if !luhn(n[:9]) {
			return errs.InvalidArgument(Field, "fails the SIREN checksum of the SIRET's first 9 digits")
		}
		if strings.HasPrefix(n, laPosteSIREN) && n != laPosteHeadOffice {
			if digitSum(n)%5 != 0 {
				return errs.InvalidArgument(Field, "fails La Poste's SIRET checksum (digit sum must be a multiple of 5)")
			}
			return nil
		}
		if !luhn(n) {
			return errs.InvalidArgument(Field, "fails the SIRET checksum")
		}
	default:
		return errs.InvalidArgument(Field, "a French registration number is a SIREN (9 digits) or a SIRET (14 digits)")
	}
	return nil
}

// luhn reports whether the decimal string s carries a valid Luhn check digit
// (its last digit).
func luhn(s string) bool {
	sum := 0
	double := false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func digitSum(s string) int {
	sum := 0
	for i := 0; i < len(s); i++ {
		sum += int(s[i] - '0')
	}
	return sum
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
