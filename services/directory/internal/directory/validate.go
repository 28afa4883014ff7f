package directory

import (
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil/vigil/services/directory/internal/regnum"
	"github.com/vigil/vigil/services/runtime/errs"
)

// Checks of supplier registrations and contacts, one set for the API and
// for import rows (which the wire bounds in size only, so that a bad row
// gets its own result). Errors name the field as the caller knows it: the
// request field for the API, the CSV column for an import row.

// fieldNames are the names of the fields a registration carries.
type fieldNames struct {
	number, legalName, country, lines, postalCode, city   string
	email, givenName, familyName, function, phone, mobile string
}

var (
	apiSupplierFields = fieldNames{
		number: "supplier.registration_number", legalName: "supplier.legal_name", country: "supplier.country",
		lines: "supplier.address.lines", postalCode: "supplier.address.postal_code", city: "supplier.address.city",
		email: "supplier.contact.email", givenName: "supplier.contact.given_name", familyName: "supplier.contact.family_name",
		function: "supplier.contact.function", phone: "supplier.contact.phone", mobile: "supplier.contact.mobile",
	}
	apiContactFields = fieldNames{
		email: "contact.email", givenName: "contact.given_name", familyName: "contact.family_name",
		function: "contact.function", phone: "contact.phone", mobile: "contact.mobile",
	}
	rowFields = fieldNames{
		number: "registration_number", legalName: "legal_name", country: "country", lines: "address_line",
		postalCode: "postal_code", city: "city", email: "contact_email", givenName: "contact_given_name",
		familyName: "contact_family_name", function: "contact_function", phone: "contact_phone", mobile: "contact_mobile",
	}
)

// supplierInput is a registration as given.
type supplierInput struct {
	Number, LegalName, Country string
	Address                    Address
	Contact                    *Contact // nil: none
}

// checkSupplier checks a registration and returns it normalised: the
// number (R-DIR-1), the country (customerCountry when empty and
// defaultCountry), trimmed names.
func checkSupplier(f fieldNames, in supplierInput, defaultCountry string) (supplierInput, error) {
	in.Country = strings.ToUpper(strings.TrimSpace(in.Country))
	if in.Country == "" {
		in.Country = defaultCountry
	}
	if !regnum.ValidCountry(in.Country) {
		return in, errs.InvalidArgument(f.country, "must be an ISO 3166-1 alpha-2 code such as FR")
	}
	number, err := regnum.Validate(in.Country, in.Number)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Field == regnum.Field {
			return in, errs.InvalidArgument(f.number, "%s", strings.TrimPrefix(e.Message, regnum.Field+": "))
		}
		return in, err
	}
	in.Number = number
	in.LegalName = strings.TrimSpace(in.LegalName)
	if err := checkText(f.legalName, in.LegalName, 200, true); err != nil {
		return in, err
	}
	if len(in.Address.Lines) > 4 {
		return in, errs.InvalidArgument(f.lines, "at most 4 lines")
	}
	for i, l := range in.Address.Lines {
		in.Address.Lines[i] = strings.TrimSpace(l)
		if err := checkText(f.lines, in.Address.Lines[i], 200, false); err != nil {
			return in, err
		}
	}
	in.Address.Lines = compact(in.Address.Lines)
	in.Address.PostalCode = strings.TrimSpace(in.Address.PostalCode)
	if len(in.Address.PostalCode) > 20 || !postalCode.MatchString(in.Address.PostalCode) {
		return in, errs.InvalidArgument(f.postalCode, "at most 20 letters, digits, spaces and dashes")
	}
	in.Address.City = strings.TrimSpace(in.Address.City)
	if err := checkText(f.city, in.Address.City, 100, false); err != nil {
		return in, err
	}
	if in.Address.Country == "" && (len(in.Address.Lines) > 0 || in.Address.City != "" || in.Address.PostalCode != "") {
		in.Address.Country = in.Country
	}
	if in.Contact != nil {
		c, err := checkContact(f, *in.Contact)
		if err != nil {
			return in, err
		}
		in.Contact = &c
	}
	return in, nil
}

// checkContact checks a contact as identity's AddMember will (R-DIR-5), so
// that identity refuses none for its shape.
func checkContact(f fieldNames, c Contact) (Contact, error) {
	c.Email = strings.TrimSpace(c.Email)
	c.GivenName, c.FamilyName = strings.TrimSpace(c.GivenName), strings.TrimSpace(c.FamilyName)
	c.Function = strings.TrimSpace(c.Function)
	c.Phone, c.Mobile = strings.TrimSpace(c.Phone), strings.TrimSpace(c.Mobile)
	switch {
	case c.Email == "":
		return c, errs.InvalidArgument(f.email, "must not be empty")
	case len(c.Email) > 254 || !emailPattern.MatchString(c.Email):
		return c, errs.InvalidArgument(f.email, "is not an e-mail address")
	}
	if err := checkText(f.givenName, c.GivenName, 100, true); err != nil {
		return c, err
	}
	if err := checkText(f.familyName, c.FamilyName, 100, true); err != nil {
		return c, err
	}
	if err := checkText(f.function, c.Function, 100, false); err != nil {
		return c, err
	}
	for _, p := range []struct{ field, v string }{{f.phone, c.Phone}, {f.mobile, c.Mobile}} {
		if len(p.v) > 32 || !phonePattern.MatchString(p.v) {
			return c, errs.InvalidArgument(p.field, "at most 32 digits, spaces and + ( ) . / -")
		}
	}
	return c, nil
}

// checkText refuses control characters and values longer than max
// characters (and empty ones when required).
func checkText(field, v string, max int, required bool) error {
	switch {
	case required && v == "":
		return errs.InvalidArgument(field, "must not be empty")
	case utf8.RuneCountInString(v) > max:
		return errs.InvalidArgument(field, "at most %d characters", max)
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		return errs.InvalidArgument(field, "must not hold control characters")
	}
	return nil
}

// checkDate reads an optional YYYY-MM-DD date.
func checkDate(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return errs.InvalidArgument(field, "must be a date YYYY-MM-DD")
	}
	return nil
}

var (
	// emailPattern is the WHATWG HTML definition of a valid e-mail address,
	// as protovalidate's `email` rule (which identity applies) reads it.
	emailPattern = regexp.MustCompile(`^[a-zA-Z0-9.!#$%&'*+/=?^_` + "`" + `{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
	phonePattern = regexp.MustCompile(`^[+0-9 ()./-]*$`)
	postalCode   = regexp.MustCompile(`^[A-Za-z0-9 -]*$`)
)

func compact(lines []string) []string {
	out := lines[:0]
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
