package directory

import (
	"context"
	"errors"
	"strings"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// Employees belong to one supplier (R-DIR-9). Every member lists and reads
// them (R-ID-3, without certificates); registering, editing, deleting and
// assigning them follow R-ID-3's rows (Standard user and above).

// CreateEmployee registers an employee of supplier.
func (s *Service) CreateEmployee(ctx context.Context, p auth.Principal, supplier string, in Employee) (Employee, error) {
	if err := s.authorize(ctx, p, supplier, authz.RegisterEmployees, ""); err != nil {
		return Employee{}, err
	}
	if p.CompanyKind != KindSupplier {
		return Employee{}, errs.FailedPrecondition("NOT_A_SUPPLIER", "only suppliers have employees")
	}
	if err := checkEmployee(&in); err != nil {
		return Employee{}, err
	}
	now := s.now().UTC()
	in.ID, in.Supplier, in.CreateTime, in.UpdateTime, in.Projects = names.NewID(), supplier, now, now, nil
	if err := s.store.CreateEmployee(ctx, in); errors.Is(err, ErrNotFound) {
		return Employee{}, errCompanyNotFound()
	} else if err != nil {
		return Employee{}, errs.Internal(err)
	}
	return in, nil
}

// GetEmployee returns one employee of supplier.
func (s *Service) GetEmployee(ctx context.Context, p auth.Principal, supplier, id string) (Employee, error) {
	if err := s.authorize(ctx, p, supplier, authz.ListEmployees, ""); err != nil {
		return Employee{}, err
	}
	return s.employee(ctx, supplier, id)
}

// InternalEmployee returns an employee without checking a user's rights
// (for the vault's employee documents).
func (s *Service) InternalEmployee(ctx context.Context, supplier, id string) (Employee, error) {
	return s.employee(ctx, supplier, id)
}

func (s *Service) employee(ctx context.Context, supplier, id string) (Employee, error) {
	e, err := s.store.Employee(ctx, supplier, id)
	if errors.Is(err, ErrNotFound) {
		return Employee{}, errEmployeeNotFound()
	}
	if err != nil {
		return Employee{}, errs.Internal(err)
	}
	return e, nil
}

// UpdateEmployee edits an employee; paths are update-mask paths
// (given_name, family_name, email, job_title, birth_date; output-only ones
// ignored).
func (s *Service) UpdateEmployee(ctx context.Context, p auth.Principal, supplier, id string, patch Employee, paths []string) (Employee, error) {
	if err := s.authorize(ctx, p, supplier, authz.EditEmployees, ""); err != nil {
		return Employee{}, err
	}
	var setters []func(*Employee)
	for _, path := range paths {
		switch path {
		case "name", "projects", "create_time", "update_time":
		case "given_name":
			setters = append(setters, func(e *Employee) { e.GivenName = patch.GivenName })
		case "family_name":
			setters = append(setters, func(e *Employee) { e.FamilyName = patch.FamilyName })
		case "email":
			setters = append(setters, func(e *Employee) { e.Email = patch.Email })
		case "job_title":
			setters = append(setters, func(e *Employee) { e.JobTitle = patch.JobTitle })
		case "birth_date":
			setters = append(setters, func(e *Employee) { e.BirthDate = patch.BirthDate })
		default:
			return Employee{}, errs.InvalidArgument("update_mask", "unknown field %q", path)
		}
	}
	now := s.now().UTC()
	e, err := s.store.UpdateEmployee(ctx, supplier, id, func(e *Employee) error {
		for _, set := range setters {
			set(e)
		}
		if err := checkEmployee(e); err != nil {
			return err
		}
		e.UpdateTime = now
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Employee{}, errEmployeeNotFound()
	}
	var de *errs.Error
	if err != nil && !errors.As(err, &de) {
		return Employee{}, errs.Internal(err)
	}
	return e, err
}

// DeleteEmployee deletes an employee: its assignments end first, each told
// to both companies, then `employee.deleted`.
func (s *Service) DeleteEmployee(ctx context.Context, p auth.Principal, supplier, id string) error {
	if err := s.authorize(ctx, p, supplier, authz.EditEmployees, ""); err != nil {
		return err
	}
	err := s.store.DeleteEmployee(ctx, supplier, id, s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return errEmployeeNotFound()
	}
	if err != nil {
		return errs.Internal(err)
	}
	return nil
}

// ListEmployees pages through supplier's employees by name, or with
// project (`companies/{customer}/projects/{p}` parsed) those assigned to it.
func (s *Service) ListEmployees(ctx context.Context, p auth.Principal, supplier string, project *ProjectRef, pageToken string, pageSize int) ([]Employee, string, error) {
	if err := s.authorize(ctx, p, supplier, authz.ListEmployees, ""); err != nil {
		return nil, "", err
	}
	size, err := pageSizeOf(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := cursorToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	var es []Employee
	var cursors []string
	if project == nil {
		es, cursors, err = s.store.ListEmployees(ctx, supplier, after, size+1)
		if err != nil {
			return nil, "", errs.Internal(err)
		}
	} else {
		as, cs, err := s.store.ListAssignments(ctx, AssignmentQuery{Customer: project.Customer, Project: project.Project,
			Supplier: supplier, After: after, Limit: size + 1})
		if err != nil {
			return nil, "", errs.Internal(err)
		}
		for i, a := range as {
			e, err := s.store.Employee(ctx, supplier, a.Employee)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, "", errs.Internal(err)
			}
			es, cursors = append(es, e), append(cursors, cs[i])
		}
	}
	es, next := pageOf(es, size, func(i int) string { return cursors[i] })
	return es, next, nil
}

// AssignEmployee assigns an employee of supplier to a project of one of
// supplier's customers (R-DIR-9), or with unassign ends that assignment.
// Both are idempotent.
func (s *Service) AssignEmployee(ctx context.Context, p auth.Principal, supplier, id string, project ProjectRef, unassign bool) (Employee, error) {
	if err := s.authorize(ctx, p, supplier, authz.AssignEmployees, ""); err != nil {
		return Employee{}, err
	}
	a := Assignment{Customer: project.Customer, Project: project.Project, Supplier: supplier, Employee: id, CreateTime: s.now().UTC()}
	var err error
	if unassign {
		_, err = s.store.Unassign(ctx, a)
	} else {
		_, err = s.store.Assign(ctx, a)
	}
	switch {
	case errors.Is(err, ErrEmployeeNotFound), errors.Is(err, ErrNotFound):
		return Employee{}, errEmployeeNotFound()
	case errors.Is(err, ErrNotRelated):
		return Employee{}, errs.FailedPrecondition("PROJECT_NOT_OF_A_CUSTOMER", "project: an employee can be assigned only to projects of the company's customers")
	case errors.Is(err, ErrProjectNotFound):
		return Employee{}, errProjectNotFound()
	case errors.Is(err, ErrProjectClosed):
		return Employee{}, errs.FailedPrecondition("PROJECT_CLOSED", "project: the project is closed")
	case err != nil:
		return Employee{}, errs.Internal(err)
	}
	return s.employee(ctx, supplier, id)
}

// checkEmployee checks an employee's fields.
func checkEmployee(e *Employee) error {
	e.GivenName, e.FamilyName = strings.TrimSpace(e.GivenName), strings.TrimSpace(e.FamilyName)
	e.Email, e.JobTitle = strings.TrimSpace(e.Email), strings.TrimSpace(e.JobTitle)
	if err := checkText("employee.given_name", e.GivenName, 100, true); err != nil {
		return err
	}
	if err := checkText("employee.family_name", e.FamilyName, 100, true); err != nil {
		return err
	}
	if e.Email != "" && (len(e.Email) > 254 || !emailPattern.MatchString(e.Email)) {
		return errs.InvalidArgument("employee.email", "is not an e-mail address")
	}
	if err := checkText("employee.job_title", e.JobTitle, 100, false); err != nil {
		return err
	}
	return checkDate("employee.birth_date", e.BirthDate)
}

func errEmployeeNotFound() error { return errs.NotFound("EMPLOYEE_NOT_FOUND", "employee not found") }

// ListAssignments pages through a customer's assignments (internal).
func (s *Service) ListAssignments(ctx context.Context, q AssignmentQuery, pageToken string, pageSize int) ([]Assignment, string, error) {
	size, err := pageSizeOf(pageSize, 100, 1000)
	if err != nil {
		return nil, "", err
	}
	if q.After, err = cursorToken(pageToken); err != nil {
		return nil, "", err
	}
	q.Limit = size + 1
	as, cursors, err := s.store.ListAssignments(ctx, q)
	if err != nil {
		return nil, "", errs.Internal(err)
	}
	as, next := pageOf(as, size, func(i int) string { return cursors[i] })
	return as, next, nil
}

// ListProjectEmployees pages through the employees assigned to a project
// (internal), by supplier then employee.
func (s *Service) ListProjectEmployees(ctx context.Context, customer, project, pageToken string, pageSize int) ([]EmployeeRef, string, error) {
	as, next, err := s.ListAssignments(ctx, AssignmentQuery{Customer: customer, Project: project}, pageToken, pageSize)
	out := make([]EmployeeRef, len(as))
	for i, a := range as {
		out[i] = EmployeeRef{Supplier: a.Supplier, Employee: a.Employee}
	}
	return out, next, err
}
