package directory

import (
	"context"
	"errors"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked the same on every host

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/directory/internal/regnum"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
)

// CreateCompany creates a company for identity's self sign-up. The
// registration number must be valid for the country (R-DIR-1); one already
// registered is refused with ALREADY_EXISTS. A retry with the same
// requestID returns the company the first call created.
func (s *Service) CreateCompany(ctx context.Context, c Company, requestID string) (Company, error) {
	if strings.TrimSpace(c.LegalName) == "" {
		return Company{}, errs.InvalidArgument("company.legal_name", "must not be empty")
	}
	if c.Kind != KindOperator && c.Kind != KindSupplier {
		return Company{}, errs.InvalidArgument("company.kind", "must be COMPANY_KIND_OPERATOR or COMPANY_KIND_SUPPLIER")
	}
	number, err := regnum.Validate(c.Country, c.RegistrationNumber)
	if err != nil {
		return Company{}, err
	}
	if c.Parent != "" {
		return Company{}, errs.InvalidArgument("company.parent", "is set with UpdateCompany by an Administrator of both companies, not at creation")
	}
	if err := checkTimeZone(c.TimeZone); err != nil {
		return Company{}, err
	}
	if err := checkLanguage(c.Language); err != nil {
		return Company{}, err
	}
	now := s.now().UTC()
	c.ID = names.NewID()
	c.RegistrationNumber = number
	c.CreateTime, c.UpdateTime = now, now
	created, err := s.store.CreateCompany(ctx, c, requestID)
	switch {
	case errors.Is(err, ErrRegistrationTaken):
		return Company{}, errs.AlreadyExists("REGISTRATION_NUMBER_TAKEN",
			"a company with country %s and registration number %s is already registered; only its Administrators can add people to it", c.Country, number)
	case err != nil:
		return Company{}, errs.Internal(err)
	}
	return created, nil
}

// DeleteCompany removes a company created by CreateCompany, as sign-up's
// compensation: only a company without relationships, employees or projects.
func (s *Service) DeleteCompany(ctx context.Context, id string) error {
	err := s.store.DeleteCompany(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return errCompanyNotFound()
	case errors.Is(err, ErrInUse):
		return errs.FailedPrecondition("COMPANY_IN_USE", "the company has relationships, employees or projects and cannot be deleted")
	case err != nil:
		return errs.Internal(err)
	}
	return nil
}

// LookupCompany finds a company by country and registration number (R-DIR-1).
func (s *Service) LookupCompany(ctx context.Context, country, number string) (Company, error) {
	n, err := regnum.Validate(country, number)
	if err != nil {
		return Company{}, err
	}
	c, err := s.store.CompanyByRegistration(ctx, country, n)
	if errors.Is(err, ErrNotFound) {
		return Company{}, errCompanyNotFound()
	}
	if err != nil {
		return Company{}, errs.Internal(err)
	}
	return c, nil
}

// GetCompany returns a company's master data to a caller allowed to read it
// (see canRead).
func (s *Service) GetCompany(ctx context.Context, p auth.Principal, id string) (Company, error) {
	if err := s.canRead(ctx, p, id); err != nil {
		return Company{}, err
	}
	return s.company(ctx, id)
}

// UpdateCompany changes the fields named by paths (update-mask paths:
// legal_name, address, address.<field>, parent, require_two_factor,
// time_zone, language) to their values in patch. Output-only paths (name,
// create_time, update_time) are ignored. Every check runs before anything
// is written: a refused call changes nothing.
func (s *Service) UpdateCompany(ctx context.Context, p auth.Principal, id string, patch Company, paths []string) (Company, error) {
	if err := s.authorize(ctx, p, id, authz.ReadMasterData, ""); err != nil {
		return Company{}, err
	}
	var setters []func(r Reader, c *Company) error
	var needEdit, needAdmin bool
	var parentChange, syncIdentity bool
	for _, path := range paths {
		switch path {
		case "legal_name", "require_two_factor", "language":
			syncIdentity = true
		}
		switch path {
		case "name", "create_time", "update_time":
			continue
		case "kind", "country", "registration_number":
			return Company{}, errs.InvalidArgument("update_mask", "%s cannot change after creation", path)
		case "legal_name":
			needEdit = true
			if strings.TrimSpace(patch.LegalName) == "" {
				return Company{}, errs.InvalidArgument("company.legal_name", "must not be empty")
			}
			setters = append(setters, func(_ Reader, c *Company) error { c.LegalName = patch.LegalName; return nil })
		case "address":
			needEdit = true
			setters = append(setters, func(_ Reader, c *Company) error { c.Address = patch.Address; return nil })
		case "address.lines":
			needEdit = true
			setters = append(setters, func(_ Reader, c *Company) error { c.Address.Lines = patch.Address.Lines; return nil })
		case "address.postal_code":
			needEdit = true
			setters = append(setters, func(_ Reader, c *Company) error { c.Address.PostalCode = patch.Address.PostalCode; return nil })
		case "address.city":
			needEdit = true
			setters = append(setters, func(_ Reader, c *Company) error { c.Address.City = patch.Address.City; return nil })
		case "address.country":
			needEdit = true
			setters = append(setters, func(_ Reader, c *Company) error { c.Address.Country = patch.Address.Country; return nil })
		case "time_zone":
			needEdit = true
			if err := checkTimeZone(patch.TimeZone); err != nil {
				return Company{}, err
			}
			setters = append(setters, func(_ Reader, c *Company) error { c.TimeZone = patch.TimeZone; return nil })
		case "language":
			needEdit = true
			if err := checkLanguage(patch.Language); err != nil {
				return Company{}, err
			}
			setters = append(setters, func(_ Reader, c *Company) error { c.Language = patch.Language; return nil })
		case "require_two_factor":
			needAdmin = true
			setters = append(setters, func(_ Reader, c *Company) error { c.RequireTwoFactor = patch.RequireTwoFactor; return nil })
		case "parent":
			needAdmin, parentChange = true, true
			if patch.Parent == id {
				return Company{}, errs.InvalidArgument("company.parent", "a company cannot be its own parent")
			}
			setters = append(setters, func(r Reader, c *Company) error { return setParent(r, c, patch.Parent) })
		default:
			return Company{}, errs.InvalidArgument("update_mask", "unknown field %q", path)
		}
	}
	if needEdit {
		if err := s.authorize(ctx, p, id, authz.EditMasterData, ""); err != nil {
			return Company{}, err
		}
	}
	if needAdmin {
		if err := s.authorize(ctx, p, id, authz.ManageCompanySettings, ""); err != nil {
			return Company{}, err
		}
	}
	if parentChange && patch.Parent != "" {
		if err := s.requireAdministratorOf(ctx, p, patch.Parent); err != nil {
			return Company{}, err
		}
	}
	if len(setters) == 0 {
		return s.company(ctx, id)
	}
	now := s.now().UTC()
	updated, err := s.store.UpdateCompany(ctx, id, func(r Reader, c *Company) ([]feed.Event, error) {
		before := *c
		for _, set := range setters {
			if err := set(r, c); err != nil {
				return nil, err
			}
		}
		c.UpdateTime = now
		// Vault keeps customers' time zones (R-VAULT-6), notify names and
		// languages: company.changed tells them.
		if c.TimeZone != before.TimeZone || c.LegalName != before.LegalName || c.Language != before.Language {
			return []feed.Event{CompanyChangedEvent(*c, now)}, nil
		}
		return nil, nil
	})
	if errors.Is(err, ErrNotFound) {
		return Company{}, errCompanyNotFound()
	}
	var de *errs.Error
	if err != nil && !errors.As(err, &de) {
		return Company{}, errs.Internal(err)
	}
	if err != nil {
		return Company{}, err
	}
	if syncIdentity {
		// Best effort: identity also refreshes its copy from directory at
		// each sign-in, so a failure here delays the change, never loses it.
		if err := s.identity.SyncCompany(ctx, updated); err != nil {
			s.log.Warn("sync company to identity", zap.String("company", names.Company.Format(id)), zap.Error(err))
		}
	}
	return updated, nil
}

// maxGroupDepth bounds the parent chain walked to refuse cycles.
const maxGroupDepth = 32

// setParent makes parent (a company id, "" for none) c's group owner,
// refusing a missing parent and a cycle. It runs inside the update's
// transaction, so that two concurrent updates cannot build a cycle.
func setParent(r Reader, c *Company, parent string) error {
	if parent != "" {
		next := parent
		for depth := 0; next != ""; depth++ {
			if next == c.ID {
				return errs.FailedPrecondition("GROUP_CYCLE", "company.parent: %s already belongs to this company's group", names.Company.Format(parent))
			}
			if depth >= maxGroupDepth {
				return errs.FailedPrecondition("GROUP_TOO_DEEP", "company.parent: groups nest at most %d levels", maxGroupDepth)
			}
			pc, err := r.Company(next)
			if errors.Is(err, ErrNotFound) {
				return errs.NotFound("PARENT_NOT_FOUND", "company.parent: company %s not found", names.Company.Format(next))
			}
			if err != nil {
				return err
			}
			next = pc.Parent
		}
	}
	c.Parent = parent
	return nil
}

func (s *Service) company(ctx context.Context, id string) (Company, error) {
	c, err := s.store.Company(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Company{}, errCompanyNotFound()
	}
	if err != nil {
		return Company{}, errs.Internal(err)
	}
	return c, nil
}

func errCompanyNotFound() error {
	return errs.NotFound("COMPANY_NOT_FOUND", "company not found")
}

func checkTimeZone(tz string) error {
	if tz == "" {
		return nil
	}
	if tz == "Local" {
		return errs.InvalidArgument("company.time_zone", "must be an IANA time zone such as Europe/Paris")
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return errs.InvalidArgument("company.time_zone", "unknown IANA time zone %q", tz)
	}
	return nil
}

func checkLanguage(lang string) error {
	switch lang {
	case "", "en", "fr":
		return nil
	}
	return errs.InvalidArgument("company.language", "must be en or fr")
}

// ListCompanies pages through every company in id order (internal: notify's
// weekly e-mail, R-NOTIF-1).
func (s *Service) ListCompanies(ctx context.Context, pageToken string, pageSize int) ([]Company, string, error) {
	size, err := pageSizeOf(pageSize, 100, 1000)
	if err != nil {
		return nil, "", err
	}
	after, err := idToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	cs, err := s.store.ListCompanies(ctx, after, size+1)
	if err != nil {
		return nil, "", errs.Internal(err)
	}
	cs, next := pageOf(cs, size, func(i int) string { return cs[i].ID })
	return cs, next, nil
}

// BatchGetCompanies returns companies by id, in order, leaving out unknown
// ones (internal).
func (s *Service) BatchGetCompanies(ctx context.Context, ids []string) ([]Company, error) {
	cs, err := s.store.Companies(ctx, ids)
	if err != nil {
		return nil, errs.Internal(err)
	}
	return cs, nil
}
