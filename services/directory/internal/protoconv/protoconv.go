// Package protoconv turns the directory's domain values into their wire
// messages and back, for both the API handlers and the bbolt store (which
// keeps companies, relationships, employees, projects, assignments and
// import results as marshalled messages): one mapping, used by both.
package protoconv

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/runtime/names"
)

// Company is c as a message; an empty address is left unset.
func Company(c directory.Company) *directoryv1.Company {
	m := &directoryv1.Company{
		Name:               names.Company.Format(c.ID),
		LegalName:          c.LegalName,
		Kind:               directoryv1.CompanyKind(c.Kind),
		Country:            c.Country,
		RegistrationNumber: c.RegistrationNumber,
		Address:            Address(c.Address),
		RequireTwoFactor:   c.RequireTwoFactor,
		TimeZone:           c.TimeZone,
		Language:           c.Language,
		CreateTime:         timestamppb.New(c.CreateTime),
		UpdateTime:         timestamppb.New(c.UpdateTime),
	}
	if c.Parent != "" {
		m.Parent = names.Company.Format(c.Parent)
	}
	return m
}

// CompanyFrom reads a stored company.
func CompanyFrom(m *directoryv1.Company) (directory.Company, error) {
	id, err := names.Company.Parse("name", m.GetName())
	if err != nil {
		return directory.Company{}, fmt.Errorf("stored company name %q: %w", m.GetName(), err)
	}
	c := directory.Company{
		ID:                 id,
		LegalName:          m.GetLegalName(),
		Kind:               directory.Kind(m.GetKind()),
		Country:            m.GetCountry(),
		RegistrationNumber: m.GetRegistrationNumber(),
		Address:            AddressFrom(m.GetAddress()),
		RequireTwoFactor:   m.GetRequireTwoFactor(),
		TimeZone:           m.GetTimeZone(),
		Language:           m.GetLanguage(),
		CreateTime:         m.GetCreateTime().AsTime(),
		UpdateTime:         m.GetUpdateTime().AsTime(),
	}
	if p := m.GetParent(); p != "" {
		if c.Parent, err = names.Company.Parse("parent", p); err != nil {
			return directory.Company{}, fmt.Errorf("stored company parent %q: %w", p, err)
		}
	}
	return c, nil
}

// Address is a as a message, nil when empty.
func Address(a directory.Address) *directoryv1.PostalAddress {
	if len(a.Lines) == 0 && a.PostalCode == "" && a.City == "" && a.Country == "" {
		return nil
	}
	return &directoryv1.PostalAddress{Lines: a.Lines, PostalCode: a.PostalCode, City: a.City, Country: a.Country}
}

// AddressFrom reads an address message (nil is empty).
func AddressFrom(a *directoryv1.PostalAddress) directory.Address {
	if a == nil {
		return directory.Address{}
	}
	return directory.Address{Lines: a.GetLines(), PostalCode: a.GetPostalCode(), City: a.GetCity(), Country: a.GetCountry()}
}

// Relationship is rel as its supplier sees it (directoryv1.Customer: name
// companies/{supplier}/customers/{customer}, references as member names);
// the store keeps relationships so.
func Relationship(rel directory.Relationship) *directoryv1.Customer {
	refs := make([]string, len(rel.References))
	for i, u := range rel.References {
		refs[i] = names.Member.Format(rel.Supplier, u)
	}
	return &directoryv1.Customer{
		Name:       names.Customer.Format(rel.Supplier, rel.Customer),
		Company:    names.Company.Format(rel.Customer),
		References: refs,
		CreateTime: timestamppb.New(rel.CreateTime),
	}
}

// RelationshipFrom reads a stored relationship.
func RelationshipFrom(customer, supplier string, m *directoryv1.Customer) directory.Relationship {
	prefix := names.Member.Format(supplier, "")
	var refs []string
	for _, r := range m.GetReferences() {
		if u, ok := strings.CutPrefix(r, prefix); ok && u != "" {
			refs = append(refs, u)
		}
	}
	return directory.Relationship{Customer: customer, Supplier: supplier, References: refs, CreateTime: m.GetCreateTime().AsTime()}
}

// Employee is e as a message.
func Employee(e directory.Employee) *directoryv1.Employee {
	m := &directoryv1.Employee{
		Name: names.Employee.Format(e.Supplier, e.ID), GivenName: e.GivenName, FamilyName: e.FamilyName,
		Email: e.Email, JobTitle: e.JobTitle, BirthDate: e.BirthDate,
		CreateTime: timestamppb.New(e.CreateTime), UpdateTime: timestamppb.New(e.UpdateTime),
	}
	for _, p := range e.Projects {
		m.Projects = append(m.Projects, names.Project.Format(p.Customer, p.Project))
	}
	return m
}

// EmployeeFrom reads a stored employee (its projects are not stored).
func EmployeeFrom(m *directoryv1.Employee) (directory.Employee, error) {
	s, id, err := names.Employee.Parse("name", m.GetName())
	if err != nil {
		return directory.Employee{}, fmt.Errorf("stored employee name %q: %w", m.GetName(), err)
	}
	return directory.Employee{
		ID: id, Supplier: s, GivenName: m.GetGivenName(), FamilyName: m.GetFamilyName(), Email: m.GetEmail(),
		JobTitle: m.GetJobTitle(), BirthDate: m.GetBirthDate(),
		CreateTime: m.GetCreateTime().AsTime(), UpdateTime: m.GetUpdateTime().AsTime(),
	}, nil
}

// Project is p as a message.
func Project(p directory.Project) *directoryv1.Project {
	return &directoryv1.Project{
		Name: names.Project.Format(p.Customer, p.ID), DisplayName: p.DisplayName, Description: p.Description,
		SiteAddress: Address(p.SiteAddress), StartDate: p.StartDate, EndDate: p.EndDate,
		State: directoryv1.Project_State(p.State), CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime),
	}
}

// ProjectFrom reads a stored project.
func ProjectFrom(m *directoryv1.Project) (directory.Project, error) {
	c, id, err := names.Project.Parse("name", m.GetName())
	if err != nil {
		return directory.Project{}, fmt.Errorf("stored project name %q: %w", m.GetName(), err)
	}
	return directory.Project{
		ID: id, Customer: c, DisplayName: m.GetDisplayName(), Description: m.GetDescription(),
		SiteAddress: AddressFrom(m.GetSiteAddress()), StartDate: m.GetStartDate(), EndDate: m.GetEndDate(),
		State: directory.ProjectState(m.GetState()), CreateTime: m.GetCreateTime().AsTime(), UpdateTime: m.GetUpdateTime().AsTime(),
	}, nil
}

// Assignment is a as a message.
func Assignment(a directory.Assignment) *directoryv1.Assignment {
	return &directoryv1.Assignment{Employee: names.Employee.Format(a.Supplier, a.Employee),
		Project: names.Project.Format(a.Customer, a.Project), CreateTime: timestamppb.New(a.CreateTime)}
}

// AssignmentFrom reads a stored assignment.
func AssignmentFrom(m *directoryv1.Assignment) (directory.Assignment, error) {
	s, e, err := names.Employee.Parse("employee", m.GetEmployee())
	if err != nil {
		return directory.Assignment{}, err
	}
	c, p, err := names.Project.Parse("project", m.GetProject())
	if err != nil {
		return directory.Assignment{}, err
	}
	return directory.Assignment{Customer: c, Project: p, Supplier: s, Employee: e, CreateTime: m.GetCreateTime().AsTime()}, nil
}

// ImportRowResult is r as a message; customer names the supplier.
func ImportRowResult(customer string, r directory.ImportRowResult) *directoryv1.SupplierImportRowResult {
	m := &directoryv1.SupplierImportRowResult{
		Row: int32(r.Line), RegistrationNumber: r.RegistrationNumber, LegalName: r.LegalName,
		Outcome: directoryv1.RegistrationOutcome(r.Outcome), Error: r.Error, ContactError: r.ContactError,
	}
	if r.Supplier != "" {
		m.Supplier = names.Supplier.Format(customer, r.Supplier)
	}
	return m
}

// ImportRowResultFrom reads a stored result (seq is its key).
func ImportRowResultFrom(seq uint64, m *directoryv1.SupplierImportRowResult) directory.ImportRowResult {
	r := directory.ImportRowResult{
		Seq: seq, Line: int(m.GetRow()), RegistrationNumber: m.GetRegistrationNumber(), LegalName: m.GetLegalName(),
		Outcome: directory.Outcome(m.GetOutcome()), Error: m.GetError(), ContactError: m.GetContactError(),
	}
	if s := m.GetSupplier(); s != "" {
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			r.Supplier = s[i+1:]
		}
	}
	return r
}

// Import is imp as a message (without results).
func Import(imp directory.Import) *directoryv1.SupplierImport {
	c := imp.Counts
	m := &directoryv1.SupplierImport{
		Name: names.SupplierImport.Format(imp.Customer, imp.ID), State: directoryv1.SupplierImport_State(imp.State), Error: imp.Error,
		RowCount: int32(c.Rows), CreatedCount: int32(c.Created), LinkedCount: int32(c.Linked),
		AlreadyLinkedCount: int32(c.AlreadyLinked), ErrorCount: int32(c.Errors), ProcessedCount: int32(c.Processed),
		CreateTime: timestamppb.New(imp.CreateTime), SubmittedBy: imp.SubmittedBy, OnBehalf: imp.OnBehalf, FileName: imp.FileName,
	}
	if imp.State == directory.ImportUploading {
		m.State = directoryv1.SupplierImport_STATE_RUNNING
	}
	if !imp.DoneTime.IsZero() {
		m.DoneTime = timestamppb.New(imp.DoneTime)
	}
	return m
}

// Time is t as a message, nil when zero.
func Time(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
