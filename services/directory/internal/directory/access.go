package directory

import (
	"context"
	"errors"
	"strings"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
)

// Who may do what with a company, in one place:
//
//   - R-ID-4: a token is scoped to one session company; a user of A never
//     acts in B. Only members of the company itself (p.Company) edit it.
//   - R-ID-3: every member reads the company's master data; editing it is
//     row "upload company certificates (and edit company master data)",
//     PERMISSION_UPLOAD_COMPANY_CERTIFICATES (Power user, Administrator);
//     require_two_factor (R-ID-8) and parent are for Administrators, and
//     parent also for an Administrator of the parent company.
//   - R-DIR-7: a supplier's master data is also visible to the customers in
//     its "my customers" list — to their users holding the suppliers-area
//     view permission (R-DIR-10; Administrators hold every extended
//     permission).
//   - Anything else is PERMISSION_DENIED, decided before the company is read,
//     so that a refusal does not reveal whether the company exists.

// canRead decides whether p may read company id's master data.
func (s *Service) canRead(ctx context.Context, p auth.Principal, id string) error {
	if isMember(p, id) {
		return nil
	}
	customer, ok := strings.CutPrefix(p.Company, "companies/")
	if !ok || customer == "" {
		return errDenied()
	}
	// R-DIR-7: is the caller's company a customer of this one?
	_, err := s.store.Relationship(ctx, customer, id)
	if errors.Is(err, ErrNotFound) {
		return errDenied()
	}
	if err != nil {
		return errs.Internal(err)
	}
	if isAdministrator(p) {
		return nil
	}
	allowed, err := s.identity.CanViewSuppliers(ctx, p.User, customer)
	if err != nil {
		return err
	}
	if !allowed {
		return errs.PermissionDenied("SUPPLIERS_VIEW_DENIED", "viewing suppliers needs the suppliers-area view permission")
	}
	return nil
}

// requireOwnCompany refuses every company but the session's own (R-ID-4).
// Customers never edit a supplier's account (R-DIR-6).
func requireOwnCompany(p auth.Principal, id string) error {
	if !isMember(p, id) {
		return errDenied()
	}
	return nil
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

// isMember: p's session company is id, with a role (R-ID-4).
func isMember(p auth.Principal, id string) bool {
	return p.Company == Name(id) && p.Role != authz.RoleUnspecified
}

func canEditMasterData(p auth.Principal) bool {
	return authz.Allowed(p.CompanyKind, p.Role, authz.EditMasterData)
}

func isAdministrator(p auth.Principal) bool {
	return p.Role == authz.RoleAdministrator
}

func errDenied() error {
	return errs.PermissionDenied("COMPANY_ACCESS_DENIED", "the caller's session company has no access to this company")
}
