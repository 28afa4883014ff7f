package domain

import (
	"context"
	"errors"
	"sort"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/pagetoken"
)

// ListGrants pages through an operator's grants (R-DIR-10); members who may
// not manage grants see their own only. user ({user}) filters when set.
func (s *Service) ListGrants(ctx context.Context, c Caller, parent, user string, page Page) ([]*Grant, string, error) {
	company, err := names.Company.Parse("parent", parent)
	if err != nil {
		return nil, "", err
	}
	if err := s.authorize(ctx, c, company, authz.ReadOwnProfile); err != nil {
		return nil, "", err
	}
	ownOnly := !may(c, authz.ManageGrants)
	if user != "" {
		uc, u, err := names.Member.Parse("user", user)
		if err != nil {
			return nil, "", err
		}
		if uc != company {
			return nil, "", errs.InvalidArgument("user", "must be a member of parent")
		}
		user = u
	}
	if ownOnly {
		if user != "" && user != callerID(c) {
			return nil, "", s.authorize(ctx, c, company, authz.ManageGrants)
		}
		user = callerID(c)
	}
	after, err := pagetoken.Cursor(page.Token, "grants")
	if err != nil {
		return nil, "", err
	}
	var all []*Grant
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		all, err = tx.Grants(company)
		return err
	}); err != nil {
		return nil, "", err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	var out []*Grant
	for _, g := range all {
		if g.ID <= after && after != "" || user != "" && g.User != user {
			continue
		}
		if len(out) == page.size() {
			return out, pagetoken.Encode("grants", out[len(out)-1].ID), nil
		}
		out = append(out, g)
	}
	return out, "", nil
}

// CreateGrant gives a member of an operator an extended permission.
func (s *Service) CreateGrant(ctx context.Context, c Caller, parent string, g Grant) (*Grant, error) {
	company, err := names.Company.Parse("parent", parent)
	if err != nil {
		return nil, err
	}
	// Operators' Administrators only: grants exist only in operators.
	if err := s.authorize(ctx, c, company, authz.ManageGrants); err != nil {
		return nil, err
	}
	uc, user, err := names.Member.Parse("grant.user", g.User)
	if err != nil {
		return nil, err
	}
	if uc != company {
		return nil, errs.InvalidArgument("grant.user", "must be a member of parent")
	}
	if (g.Scope == authz.ScopeProject) != (g.Project != "") {
		return nil, errs.InvalidArgument("grant.project", "is required for a project scope and must be empty otherwise")
	}
	var out *Grant
	err = s.update(ctx, c, func(t *txn) error {
		if _, err := t.Membership(company, user); errors.Is(err, ErrNotFound) {
			return errs.InvalidArgument("grant.user", "is not a member of the company")
		} else if err != nil {
			return err
		}
		existing, err := t.Grants(company)
		if err != nil {
			return err
		}
		for _, e := range existing {
			if e.User == user && e.Scope == g.Scope && e.Project == g.Project && e.Level == g.Level {
				return errs.AlreadyExists("GRANT_EXISTS", "the member already has this grant")
			}
		}
		out = &Grant{ID: names.NewID(), Company: company, User: user, Scope: g.Scope, Level: g.Level, Project: g.Project,
			Creator: callerID(c), CreateTime: t.now}
		if err := t.PutGrant(out); err != nil {
			return err
		}
		if err := t.revoke(RevocationEvent{User: names.User.Format(user), Company: names.Company.Format(company), Kind: auth.RevokeGrantsChanged}); err != nil {
			return err
		}
		return t.audit(company, "grant.create", names.Grant.Format(company, out.ID), grantDetail(out))
	})
	return out, err
}

// DeleteGrant withdraws an extended permission.
func (s *Service) DeleteGrant(ctx context.Context, c Caller, name string) error {
	company, id, err := names.Grant.Parse("name", name)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, c, company, authz.ManageGrants); err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		g, err := t.Grant(company, id)
		if errors.Is(err, ErrNotFound) {
			return errs.NotFound("GRANT_NOT_FOUND", "no such grant")
		}
		if err != nil {
			return err
		}
		if err := t.DeleteGrant(company, id); err != nil {
			return err
		}
		if err := t.revoke(RevocationEvent{User: names.User.Format(g.User), Company: names.Company.Format(company), Kind: auth.RevokeGrantsChanged}); err != nil {
			return err
		}
		return t.audit(company, "grant.delete", name, grantDetail(g))
	})
}

func grantDetail(g *Grant) map[string]string {
	d := map[string]string{"user": names.Member.Format(g.Company, g.User), "scope": g.Scope.String(), "level": g.Level.String()}
	if g.Project != "" {
		d["project"] = g.Project
	}
	return d
}
