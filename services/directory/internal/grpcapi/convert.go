// Package grpcapi holds the directory's gRPC handlers: they translate
// messages to the domain's types and back, and hold no rules.
package grpcapi

import (
	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
)

// companyFromProto reads the input fields of m; output-only ones (name,
// create_time, update_time) are left to the caller.
func companyFromProto(m *directoryv1.Company) (directory.Company, error) {
	c := directory.Company{
		LegalName:          m.GetLegalName(),
		Kind:               directory.Kind(m.GetKind()),
		Country:            m.GetCountry(),
		RegistrationNumber: m.GetRegistrationNumber(),
		RequireTwoFactor:   m.GetRequireTwoFactor(),
		TimeZone:           m.GetTimeZone(),
		Language:           m.GetLanguage(),
	}
	if a := m.GetAddress(); a != nil {
		c.Address = directory.Address{Lines: a.GetLines(), PostalCode: a.GetPostalCode(), City: a.GetCity(), Country: a.GetCountry()}
	}
	if p := m.GetParent(); p != "" {
		id, err := directory.ParseName("company.parent", p)
		if err != nil {
			return directory.Company{}, err
		}
		c.Parent = id
	}
	return c, nil
}

func names(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = directory.Name(id)
	}
	return out
}
