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

// CreateProject creates a project of an operator (its Administrators,
// authz.CreateProject); it starts ACTIVE unless said otherwise.
func (s *Service) CreateProject(ctx context.Context, p auth.Principal, customer string, in Project) (Project, error) {
	if err := s.authorize(ctx, p, customer, authz.CreateProject, ""); err != nil {
		return Project{}, err
	}
	if in.State == ProjectStateUnspecified {
		in.State = ProjectActive
	}
	if err := checkProject("project.", &in); err != nil {
		return Project{}, err
	}
	now := s.now().UTC()
	in.ID, in.Customer, in.CreateTime, in.UpdateTime = names.NewID(), customer, now, now
	if err := s.store.CreateProject(ctx, in); errors.Is(err, ErrNotFound) {
		return Project{}, errCompanyNotFound()
	} else if err != nil {
		return Project{}, errs.Internal(err)
	}
	return in, nil
}

// GetProject returns one project to a user who may view it (R-DIR-10).
func (s *Service) GetProject(ctx context.Context, p auth.Principal, customer, id string) (Project, error) {
	if err := s.authorize(ctx, p, customer, authz.ViewProject, id); err != nil {
		return Project{}, err
	}
	return s.project(ctx, customer, id)
}

// UpdateProject edits a project (its manage right, R-DIR-10); paths are
// update-mask paths (display_name, description, site_address[.field],
// start_date, end_date, state). The merged project must still end after it
// starts.
func (s *Service) UpdateProject(ctx context.Context, p auth.Principal, customer, id string, patch Project, paths []string) (Project, error) {
	if err := s.authorize(ctx, p, customer, authz.ManageProject, id); err != nil {
		return Project{}, err
	}
	var setters []func(*Project)
	for _, path := range paths {
		switch path {
		case "name", "create_time", "update_time":
		case "display_name":
			setters = append(setters, func(q *Project) { q.DisplayName = patch.DisplayName })
		case "description":
			setters = append(setters, func(q *Project) { q.Description = patch.Description })
		case "site_address":
			setters = append(setters, func(q *Project) { q.SiteAddress = patch.SiteAddress })
		case "site_address.lines":
			setters = append(setters, func(q *Project) { q.SiteAddress.Lines = patch.SiteAddress.Lines })
		case "site_address.postal_code":
			setters = append(setters, func(q *Project) { q.SiteAddress.PostalCode = patch.SiteAddress.PostalCode })
		case "site_address.city":
			setters = append(setters, func(q *Project) { q.SiteAddress.City = patch.SiteAddress.City })
		case "site_address.country":
			setters = append(setters, func(q *Project) { q.SiteAddress.Country = patch.SiteAddress.Country })
		case "start_date":
			setters = append(setters, func(q *Project) { q.StartDate = patch.StartDate })
		case "end_date":
			setters = append(setters, func(q *Project) { q.EndDate = patch.EndDate })
		case "state":
			if patch.State != ProjectActive && patch.State != ProjectClosed {
				return Project{}, errs.InvalidArgument("project.state", "must be STATE_ACTIVE or STATE_CLOSED")
			}
			setters = append(setters, func(q *Project) { q.State = patch.State })
		default:
			return Project{}, errs.InvalidArgument("update_mask", "unknown field %q", path)
		}
	}
	now := s.now().UTC()
	updated, err := s.store.UpdateProject(ctx, customer, id, func(q *Project) error {
		for _, set := range setters {
			set(q)
		}
		if err := checkProject("project.", q); err != nil {
			return err
		}
		q.UpdateTime = now
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Project{}, errProjectNotFound()
	}
	var de *errs.Error
	if err != nil && !errors.As(err, &de) {
		return Project{}, errs.Internal(err)
	}
	return updated, err
}

// ListProjects pages through an operator's projects, newest first: all of
// them for a role that views every project, else only those the user holds
// a grant on (R-DIR-10).
func (s *Service) ListProjects(ctx context.Context, p auth.Principal, customer string, state ProjectState, pageToken string, pageSize int) ([]Project, string, error) {
	if err := s.authorize(ctx, p, customer, authz.ReadMasterData, ""); err != nil {
		return nil, "", err
	}
	need := authz.Decide(p.CompanyKind, p.Role, authz.ViewProject)
	if !need.Allowed && need.Level == authz.LevelUnspecified {
		// Refused whatever the project: the table says why.
		return nil, "", s.authorize(ctx, p, customer, authz.ViewProject, "any")
	}
	var visible func(Project) (bool, error)
	if !need.Allowed {
		visible = func(q Project) (bool, error) {
			err := s.authorize(ctx, p, customer, authz.ViewProject, q.ID)
			if errors.Is(err, errs.ErrPermissionDenied) {
				return false, nil
			}
			return err == nil, err
		}
	}
	return s.projectPage(ctx, customer, state, pageToken, pageSize, visible)
}

// maxProjectScans bounds the store pages one filtered list page reads.
const maxProjectScans = 10

// projectPage reads one page of a customer's projects, keeping those
// visible (all when nil).
func (s *Service) projectPage(ctx context.Context, customer string, state ProjectState, pageToken string, pageSize int, visible func(Project) (bool, error)) ([]Project, string, error) {
	size, err := pageSizeOf(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := cursorToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	var out []Project
	for scan := 0; scan < maxProjectScans; scan++ {
		ps, cursors, err := s.store.ListProjects(ctx, customer, state, after, size+1)
		if err != nil {
			return nil, "", errs.Internal(err)
		}
		for i, q := range ps {
			if len(out) == size {
				return out, encodeToken(after), nil
			}
			after = cursors[i]
			if visible != nil {
				ok, err := visible(q)
				if err != nil {
					return nil, "", err
				}
				if !ok {
					continue
				}
			}
			out = append(out, q)
		}
		if len(ps) <= size {
			return out, "", nil
		}
	}
	// Many projects the user may not view: the next page goes on.
	return out, encodeToken(after), nil
}

// checkProject checks a project's fields (prefix names the request field).
func checkProject(prefix string, q *Project) error {
	q.DisplayName = strings.TrimSpace(q.DisplayName)
	if err := checkText(prefix+"display_name", q.DisplayName, 200, true); err != nil {
		return err
	}
	if len(q.Description) > 5000 {
		return errs.InvalidArgument(prefix+"description", "at most 5000 bytes")
	}
	if err := checkDate(prefix+"start_date", q.StartDate); err != nil {
		return err
	}
	if err := checkDate(prefix+"end_date", q.EndDate); err != nil {
		return err
	}
	if q.StartDate != "" && q.EndDate != "" && q.EndDate < q.StartDate {
		return errs.InvalidArgument(prefix+"end_date", "must not be before start_date")
	}
	if q.State != ProjectActive && q.State != ProjectClosed {
		return errs.InvalidArgument(prefix+"state", "must be STATE_ACTIVE or STATE_CLOSED")
	}
	return nil
}

func (s *Service) project(ctx context.Context, customer, id string) (Project, error) {
	q, err := s.store.Project(ctx, customer, id)
	if errors.Is(err, ErrNotFound) {
		return Project{}, errProjectNotFound()
	}
	if err != nil {
		return Project{}, errs.Internal(err)
	}
	return q, nil
}

// InternalProject returns a project without checking a user's rights (for
// the vault's project requirements).
func (s *Service) InternalProject(ctx context.Context, customer, id string) (Project, error) {
	return s.project(ctx, customer, id)
}

func errProjectNotFound() error { return errs.NotFound("PROJECT_NOT_FOUND", "project not found") }
