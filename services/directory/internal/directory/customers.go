package directory

import (
	"context"
	"errors"
	"strconv"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// Customer is a relationship seen from its supplier.
type Customer struct {
	Company      Company
	Relationship Relationship
}

// ListCustomers pages through supplier's customers by legal name.
func (s *Service) ListCustomers(ctx context.Context, p auth.Principal, supplier string, f ListFilter, pageToken string, pageSize int) ([]Customer, string, error) {
	if err := s.authorize(ctx, p, supplier, authz.ViewCustomers, ""); err != nil {
		return nil, "", err
	}
	rel, next, err := s.relatedPage(ctx, supplier, f, pageToken, pageSize, s.store.ListCustomers)
	out := make([]Customer, len(rel))
	for i, r := range rel {
		out[i] = Customer{Company: r.Company, Relationship: r.Relationship}
	}
	return out, next, err
}

// GetCustomer returns one customer of supplier with its references.
func (s *Service) GetCustomer(ctx context.Context, p auth.Principal, supplier, customer string) (Customer, error) {
	if err := s.authorize(ctx, p, supplier, authz.ViewCustomers, ""); err != nil {
		return Customer{}, err
	}
	rel, err := s.relationship(ctx, customer, supplier, errCustomerNotFound)
	if err != nil {
		return Customer{}, err
	}
	c, err := s.company(ctx, customer)
	if err != nil {
		return Customer{}, err
	}
	return Customer{Company: c, Relationship: rel}, nil
}

// UpdateCustomer sets supplier's references for customer (R-DIR-8): which
// of its users the customer sees and writes to. paths are update-mask
// paths: `references` (output-only paths are ignored). Every reference
// must be a user of the supplier.
func (s *Service) UpdateCustomer(ctx context.Context, p auth.Principal, supplier, customer string, references []string, paths []string) (Customer, error) {
	if err := s.authorize(ctx, p, supplier, authz.ManageReferences, ""); err != nil {
		return Customer{}, err
	}
	rel, err := s.relationship(ctx, customer, supplier, errCustomerNotFound)
	if err != nil {
		return Customer{}, err
	}
	set := false
	for _, path := range paths {
		switch path {
		case "references":
			set = true
		case "name", "company", "legal_name", "create_time":
		default:
			return Customer{}, errs.InvalidArgument("update_mask", "unknown field %q", path)
		}
	}
	if set {
		users, err := s.checkReferences(ctx, supplier, references)
		if err != nil {
			return Customer{}, err
		}
		rel, err = s.store.SetReferences(ctx, customer, supplier, users)
		if errors.Is(err, ErrNotFound) {
			return Customer{}, errCustomerNotFound()
		}
		if err != nil {
			return Customer{}, errs.Internal(err)
		}
	}
	c, err := s.company(ctx, customer)
	if err != nil {
		return Customer{}, err
	}
	return Customer{Company: c, Relationship: rel}, nil
}

// checkReferences reads `companies/{supplier}/users/{user}` names: each a
// user of supplier (asked of identity), no duplicate, at most MaxReferences.
func (s *Service) checkReferences(ctx context.Context, supplier string, refs []string) ([]string, error) {
	if len(refs) > MaxReferences {
		return nil, errs.InvalidArgument("customer.references", "at most %d references", MaxReferences)
	}
	prefix := names.Member.Format(supplier, "")
	users := make([]string, len(refs))
	seen := map[string]bool{}
	for i, n := range refs {
		c, u, ok := names.Member.Match(n)
		field := "customer.references[" + strconv.Itoa(i) + "]"
		if !ok || c != supplier {
			return nil, errs.InvalidArgument(field, "must be a user of this company, %s{user}", prefix)
		}
		if seen[u] {
			return nil, errs.InvalidArgument(field, "is named twice")
		}
		seen[u] = true
		users[i] = u
	}
	if len(refs) == 0 {
		return nil, nil
	}
	members, err := s.identity.Members(ctx, refs)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	for _, m := range members {
		if m.Company == supplier {
			found[m.User] = true
		}
	}
	for i, u := range users {
		if !found[u] {
			return nil, errs.InvalidArgument("customer.references["+strconv.Itoa(i)+"]", "is not a user of this company")
		}
	}
	return users, nil
}

// ListCustomerProjects pages through a customer's active projects, newest
// first, for supplier to assign its employees to them (R-DIR-9).
func (s *Service) ListCustomerProjects(ctx context.Context, p auth.Principal, supplier, customer, pageToken string, pageSize int) ([]Project, string, error) {
	if err := s.authorize(ctx, p, supplier, authz.AssignEmployees, ""); err != nil {
		return nil, "", err
	}
	if _, err := s.relationship(ctx, customer, supplier, errCustomerNotFound); err != nil {
		return nil, "", err
	}
	return s.projectPage(ctx, customer, ProjectActive, pageToken, pageSize, nil)
}
