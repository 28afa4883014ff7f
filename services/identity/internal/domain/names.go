package domain

import (
	"strings"

	"github.com/vigil/vigil/services/identity/internal/tokens"
	"github.com/vigil/vigil/services/runtime/errs"
)

// Resource names: companies/{company}, users/{user},
// companies/{company}/users/{user}, companies/{company}/grants/{grant}.

// UserName is users/{user}.
func UserName(id string) string { return "users/" + id }

// CompanyName is companies/{company}.
func CompanyName(id string) string { return "companies/" + id }

// MemberName is companies/{company}/users/{user}.
func MemberName(company, user string) string { return "companies/" + company + "/users/" + user }

// GrantName is companies/{company}/grants/{grant}.
func GrantName(company, id string) string { return "companies/" + company + "/grants/" + id }

// ParseCompany returns {company} of companies/{company}.
func ParseCompany(field, name string) (string, error) {
	id, ok := strings.CutPrefix(name, "companies/")
	if !ok || !tokens.ValidID(id) {
		return "", errs.InvalidArgument(field, "must be companies/{company}")
	}
	return id, nil
}

// ParseUser returns {user} of users/{user}.
func ParseUser(field, name string) (string, error) {
	id, ok := strings.CutPrefix(name, "users/")
	if !ok || !tokens.ValidID(id) {
		return "", errs.InvalidArgument(field, "must be users/{user}")
	}
	return id, nil
}

// ParseMember returns {company} and {user} of companies/{company}/users/{user}.
func ParseMember(field, name string) (string, string, error) {
	return parseChild(field, name, "users", "companies/{company}/users/{user}")
}

// ParseGrant returns {company} and {grant} of companies/{company}/grants/{grant}.
func ParseGrant(field, name string) (string, string, error) {
	return parseChild(field, name, "grants", "companies/{company}/grants/{grant}")
}

func parseChild(field, name, collection, shape string) (string, string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "companies" || parts[2] != collection || !tokens.ValidID(parts[1]) || !tokens.ValidID(parts[3]) {
		return "", "", errs.InvalidArgument(field, "must be %s", shape)
	}
	return parts[1], parts[3], nil
}

// NormalizeEmail is the form e-mails are stored and looked up in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func newID() string { return tokens.NewID() }
