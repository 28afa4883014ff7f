// Package protoconv turns the directory's domain values into their wire
// messages, for both the API handlers and the bbolt store (which keeps
// companies as marshalled messages): one mapping, used by both.
package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
)

// Company is c as a message; an empty address is left unset.
func Company(c directory.Company) *directoryv1.Company {
	m := &directoryv1.Company{
		Name:               directory.Name(c.ID),
		LegalName:          c.LegalName,
		Kind:               directoryv1.CompanyKind(c.Kind),
		Country:            c.Country,
		RegistrationNumber: c.RegistrationNumber,
		RequireTwoFactor:   c.RequireTwoFactor,
		TimeZone:           c.TimeZone,
		Language:           c.Language,
		CreateTime:         timestamppb.New(c.CreateTime),
		UpdateTime:         timestamppb.New(c.UpdateTime),
	}
	if a := c.Address; len(a.Lines) > 0 || a.PostalCode != "" || a.City != "" || a.Country != "" {
		m.Address = &directoryv1.PostalAddress{Lines: a.Lines, PostalCode: a.PostalCode, City: a.City, Country: a.Country}
	}
	if c.Parent != "" {
		m.Parent = directory.Name(c.Parent)
	}
	return m
}
