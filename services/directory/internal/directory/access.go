package directory

import (
	"context"
	"errors"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// Who may do what in the directory, in one place. Every decision is
// runtime/authz's table (authz.Authorize); this file only says which action
// each operation is and in which company it is asked:
//
//   - R-ID-4, R-DIR-2: a token is scoped to one session company; a call on
//     any other company is PERMISSION_DENIED (OTHER_COMPANY) before anything
//     is read, so that a refusal does not reveal whether something exists.
//     Within the caller's own company an unknown supplier, customer,
//     employee, project or import is NOT_FOUND.
//   - R-ID-3: a company's own area (master data, employees, customers and
//     references) by role.
//   - R-DIR-6, R-DIR-7, R-DIR-10: an operator's users act on suppliers only
//     through the operator's own suppliers area (…/companies/{customer}/
//     suppliers/…), by role and grant: view to read, manage to change.
//     The one exception is a supplier's master data (GetCompany), visible to
//     the customers in its "my customers" list: asked as ViewSuppliers in
//     the customer's own company.
//   - R-DIR-10: projects by per-project grant (view, manage).
//   - R-DIR-4, R-ID-11: a platform administrator may run and read a
//     customer's import (the ImportSuppliers row).

// authorize asks the table whether p may do a in company (an id), for a
// project-scoped action on project (an id of that company).
func (s *Service) authorize(ctx context.Context, p auth.Principal, company string, a authz.Action, project string) error {
	proj := ""
	if project != "" {
		proj = names.Project.Format(company, project)
	}
	return authz.Authorize(ctx, p.Subject(), names.Company.Format(company), a, proj, s.grants)
}

// canRead decides whether p may read company id's master data: its own
// members (R-ID-3), and the users of its customers who may view their
// suppliers area (R-DIR-7, R-DIR-10).
func (s *Service) canRead(ctx context.Context, p auth.Principal, id string) error {
	if p.Company == names.Company.Format(id) {
		return s.authorize(ctx, p, id, authz.ReadMasterData, "")
	}
	customer, err := names.Company.Parse("company", p.Company)
	if err != nil {
		return errDenied()
	}
	// R-DIR-7: is the caller's company a customer of this one? Decided
	// before the company is read.
	if _, err := s.store.Relationship(ctx, customer, id); errors.Is(err, ErrNotFound) {
		return errDenied()
	} else if err != nil {
		return errs.Internal(err)
	}
	return s.authorize(ctx, p, customer, authz.ViewSuppliers, "")
}

// requireAdministratorOf checks that p's user is an Administrator of parent
// too, before making parent the group owner of p's company.
func (s *Service) requireAdministratorOf(ctx context.Context, p auth.Principal, parent string) error {
	ok, err := s.identity.IsAdministrator(ctx, p.User, parent)
	if err != nil {
		return err
	}
	if !ok {
		return errs.PermissionDenied("PARENT_ADMINISTRATOR_REQUIRED", "setting a parent needs the Administrator role in the parent company too")
	}
	return nil
}

func errDenied() error {
	return errs.PermissionDenied(authz.ReasonOtherCompany, "the caller's session company has no access to this company")
}
