package domain

// Who may do what in identity is decided by runtime/authz's one table
// (R-ID-3, R-ID-4, R-DIR-10, R-ID-11): this file only names the table's
// action each operation needs and gives authz identity's own grants.

import (
	"context"
	"errors"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

var errNotSignedIn = errs.Unauthenticated("MISSING_TOKEN", "missing bearer access token")

// authorize decides whether the caller may do a in company ({company}).
func (s *Service) authorize(ctx context.Context, c Caller, company string, a authz.Action) error {
	if !c.Authenticated {
		return errNotSignedIn
	}
	return authz.Authorize(ctx, c.Principal.Subject(), names.Company.Format(company), a, "", localGrants{s})
}

// authorizeMember is authorize for an operation on one member: reading
// oneself needs only ReadOwnProfile, anything else the action given.
func (s *Service) authorizeMember(ctx context.Context, c Caller, company, user string, a authz.Action) error {
	if a == authz.ViewUsers && c.Authenticated && c.Principal.User == names.User.Format(user) {
		a = authz.ReadOwnProfile
	}
	return s.authorize(ctx, c, company, a)
}

// may reports whether the caller's role allows a in its session's company
// without a grant (what it is shown, not whether it may call).
func may(c Caller, a authz.Action) bool {
	return authz.Allowed(c.Principal.CompanyKind, c.Principal.Role, a)
}

// audienceOf is who c is to the member user of its session's company.
func audienceOf(c Caller, user string) audience {
	switch {
	case c.Principal.User == names.User.Format(user):
		return toSelf
	case may(c, authz.EditUsers):
		return toAdmins
	}
	return toMembers
}

// allExtended reports whether role holds every extended permission without
// a grant in a company of kind (an operator's Administrators, R-DIR-10).
func allExtended(kind CompanyKind, role Role) bool {
	return authz.Decide(kind, role, authz.ManageSuppliers).Allowed && authz.Decide(kind, role, authz.ManageProject).Allowed
}

// extendedAction is the table's action for an extended permission.
func extendedAction(scope GrantScope, level GrantLevel) (authz.Action, error) {
	switch {
	case scope == authz.ScopeSuppliers && level == authz.LevelView:
		return authz.ViewSuppliers, nil
	case scope == authz.ScopeSuppliers && level == authz.LevelManage:
		return authz.ManageSuppliers, nil
	case scope == authz.ScopeProject && level == authz.LevelView:
		return authz.ViewProject, nil
	case scope == authz.ScopeProject && level == authz.LevelManage:
		return authz.ManageProject, nil
	case scope != authz.ScopeSuppliers && scope != authz.ScopeProject:
		return 0, errs.InvalidArgument("extended_permission.scope", "must be GRANT_SCOPE_SUPPLIERS or GRANT_SCOPE_PROJECT")
	}
	return 0, errs.InvalidArgument("extended_permission.level", "must be GRANT_LEVEL_VIEW or GRANT_LEVEL_MANAGE")
}

// localGrants is authz.Grants over identity's own store.
type localGrants struct{ s *Service }

// HasGrant implements authz.Grants.
func (g localGrants) HasGrant(ctx context.Context, user, company string, scope GrantScope, level GrantLevel, project string) (bool, error) {
	var ok bool
	err := g.s.view(ctx, func(tx Tx) error {
		var err error
		ok, err = txGrants{tx}.HasGrant(ctx, user, company, scope, level, project)
		return err
	})
	return ok, err
}

// txGrants is authz.Grants inside a transaction.
type txGrants struct{ tx Tx }

// HasGrant implements authz.Grants.
func (g txGrants) HasGrant(_ context.Context, user, company string, scope GrantScope, level GrantLevel, project string) (bool, error) {
	uid, err := names.User.Parse("user", user)
	if err != nil {
		return false, err
	}
	cid, err := names.Company.Parse("company", company)
	if err != nil {
		return false, err
	}
	grants, err := g.tx.Grants(cid)
	if err != nil {
		return false, err
	}
	for _, gr := range grants {
		if gr.User == uid && gr.Scope == scope && gr.Project == project && gr.Level.Covers(level) {
			return true, nil
		}
	}
	return false, nil
}

// denied reports whether err is authz's refusal (rather than a failure).
func denied(err error) bool { return errors.Is(err, errs.ErrPermissionDenied) }

// defaultRole is R-ID-1 for a user the company adds itself.
func defaultRole(kind CompanyKind) Role { return authz.DefaultRole(kind) }
