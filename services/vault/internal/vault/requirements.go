package vault

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// ListRequirements lists a customer's requirements, oldest first (R-VAULT-2).
func (s *Service) ListRequirements(ctx context.Context, c Caller, customer, docType string, p Page) ([]*Requirement, string, error) {
	if err := s.authorize(ctx, c, customer, authz.ViewSuppliers); err != nil {
		return nil, "", err
	}
	var all []*Requirement
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		all, err = tx.Requirements(customer)
		return err
	}); err != nil {
		return nil, "", err
	}
	all = slices.DeleteFunc(all, func(r *Requirement) bool {
		return docType != "" && r.DocumentType != docType || r.ID <= p.After
	})
	next := ""
	if len(all) > p.Limit {
		all = all[:p.Limit]
		next = all[len(all)-1].ID
	}
	return all, next, nil
}

// CreateRequirement adds a customer's requirement (R-VAULT-2) and, in the
// same transaction, the entries it asks of every supplier it applies to:
// the statuses are current when it returns, and a reader never sees the
// requirement half applied (bbolt readers see the state before or after).
func (s *Service) CreateRequirement(ctx context.Context, c Caller, customer string, r Requirement) (*Requirement, error) {
	if err := s.authorize(ctx, c, customer, authz.ManageSuppliers); err != nil {
		return nil, err
	}
	r.Customer, r.ID = customer, names.NewID()
	r.CreateTime = s.now().UTC().Truncate(time.Microsecond)
	var t *DocumentType
	err := s.view(ctx, func(tx Tx) error {
		var err error
		t, err = s.customerType(tx, customer, r.DocumentType, "requirement.document_type")
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Subject = t.Subject
	switch r.Scope {
	case ScopeAllSuppliers:
		r.Suppliers, r.Project = nil, ""
	case ScopeNamedSuppliers:
		r.Project = ""
		if len(r.Suppliers) == 0 {
			return nil, errs.InvalidArgument("requirement.suppliers", "must name at least one supplier")
		}
		slices.Sort(r.Suppliers)
		r.Suppliers = slices.Compact(r.Suppliers)
	case ScopeProjectEmployees:
		r.Suppliers = nil
		if t.Subject != SubjectEmployee {
			return nil, errs.InvalidArgument("requirement.scope", "a project's employees can only be required employee documents; %s is about the company", names.DocumentType.Format(t.ID))
		}
		p, err := s.directory.Project(ctx, customer, r.Project)
		if errors.Is(err, ErrNotFound) {
			return nil, errs.FailedPrecondition(ReasonProjectNotFound, "requirement.project: %s is not a project of the customer", names.Project.Format(customer, r.Project))
		}
		if err != nil {
			return nil, err
		}
		p.Customer, p.ID = customer, r.Project
		if err := s.update(ctx, func(tx Tx) error { return tx.PutProject(p) }); err != nil {
			return nil, err
		}
	default:
		return nil, errs.InvalidArgument("requirement.scope", "must be set")
	}
	err = s.update(ctx, func(tx Tx) error {
		existing, err := tx.Requirements(customer)
		if err != nil {
			return err
		}
		for _, e := range existing {
			if e.DocumentType == r.DocumentType && e.Scope == r.Scope && e.Project == r.Project && slices.Equal(e.Suppliers, r.Suppliers) {
				return errs.AlreadyExists(ReasonRequirementExists, "%s already requires this", names.Requirement.Format(customer, e.ID))
			}
		}
		for _, sup := range r.Suppliers {
			ok, err := tx.HasRelationship(customer, sup)
			if err != nil {
				return err
			}
			if !ok {
				return errs.FailedPrecondition(ReasonNotSupplier, "requirement.suppliers: %s is not a supplier of the customer", names.Company.Format(sup))
			}
		}
		if err := tx.PutRequirement(&r); err != nil {
			return err
		}
		affected, err := s.requirementSuppliers(tx, &r)
		if err != nil {
			return err
		}
		return s.refreshCustomer(tx, customer, affected...)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// requirementSuppliers lists the suppliers a requirement may apply to.
func (s *Service) requirementSuppliers(tx Tx, r *Requirement) ([]string, error) {
	switch {
	case r.Subject == SubjectCompany && r.Scope == ScopeNamedSuppliers:
		return r.Suppliers, nil
	case r.Subject == SubjectCompany:
		var out []string
		p := Page{Limit: 1000}
		for {
			page, next, err := tx.Suppliers(r.Customer, p)
			if err != nil {
				return nil, err
			}
			out = append(out, page...)
			if next == "" {
				return out, nil
			}
			p.After = next
		}
	}
	var assigns []Assignment
	var err error
	if r.Scope == ScopeProjectEmployees {
		assigns, err = tx.ProjectAssignments(r.Customer, r.Project)
	} else {
		assigns, err = tx.CustomerAssignments(r.Customer)
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range assigns {
		if r.Scope == ScopeNamedSuppliers && !r.names(a.Supplier) {
			continue
		}
		out = append(out, a.Supplier)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// DeleteRequirement removes a requirement and the entries it asked for;
// documents collected stay in the suppliers' vaults.
func (s *Service) DeleteRequirement(ctx context.Context, c Caller, customer, id string) error {
	if err := s.authorize(ctx, c, customer, authz.ManageSuppliers); err != nil {
		return err
	}
	return s.update(ctx, func(tx Tx) error {
		if _, err := tx.Requirement(customer, id); errors.Is(err, ErrNotFound) {
			return notFound("requirement " + names.Requirement.Format(customer, id))
		} else if err != nil {
			return err
		}
		affected, err := tx.RequirementSuppliers(customer, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteRequirement(customer, id); err != nil {
			return err
		}
		return s.refreshCustomer(tx, customer, affected...)
	})
}

// ParseRequirementSuppliers reads named suppliers' resource names.
func ParseRequirementSuppliers(suppliers []string) ([]string, error) {
	out := make([]string, 0, len(suppliers))
	for _, n := range suppliers {
		id, ok := names.Company.Match(n)
		if !ok {
			return nil, errs.InvalidArgument("requirement.suppliers", "%q must be companies/{company}", n)
		}
		out = append(out, id)
	}
	return out, nil
}
