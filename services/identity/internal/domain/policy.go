package domain

// This file is R-ID-3, R-ID-4 and R-DIR-10 for identity's own resources:
// every authorization decision of the user-facing API is taken here.

import (
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
)

const (
	roleAdmin    = authz.RoleAdministrator
	kindOperator = authz.KindOperator
)

// Action is one user-management operation of the public API.
type Action int

// The operations and, in actionPermission, the R-ID-3 row each needs.
const (
	ActListUsers Action = iota + 1
	ActGetUser
	ActCreateUser
	ActUpdateUser
	ActDeleteUser
	ActSendPasswordReset
	ActActivateUser
	ActDeactivateUser
)

var actionPermission = map[Action]Permission{
	ActListUsers:         authz.ViewUsers,
	ActGetUser:           authz.ViewUsers,
	ActCreateUser:        authz.AddUsers,
	ActUpdateUser:        authz.EditUsers,
	ActDeleteUser:        authz.ManageUserState,
	ActSendPasswordReset: authz.SendPasswordReset,
	ActActivateUser:      authz.ManageUserState,
	ActDeactivateUser:    authz.ManageUserState,
}

var (
	errNotSignedIn   = errs.Unauthenticated("MISSING_TOKEN", "missing bearer access token")
	errOtherCompany  = errs.PermissionDenied("OTHER_COMPANY", "the session is scoped to another company: switch company first")
	errNotPermitted  = errs.PermissionDenied("ROLE_NOT_PERMITTED", "your role in this company does not allow this")
	errAdminRequired = errs.PermissionDenied("ADMINISTRATOR_REQUIRED", "only the company's Administrators may do this")
)

// inSessionCompany checks R-ID-4 / R-DIR-2: a caller acts only in the
// company its session is scoped to.
func inSessionCompany(c Caller, company string) error {
	if !c.Authenticated {
		return errNotSignedIn
	}
	if c.Principal.Company != CompanyName(company) {
		return errOtherCompany
	}
	return nil
}

// authorizeUsers decides a user-management action on company by R-ID-3.
// target is the member acted on ({user}), empty for list and create.
func authorizeUsers(c Caller, company string, act Action, target string) error {
	if err := inSessionCompany(c, company); err != nil {
		return err
	}
	// Every member may read its own profile.
	if act == ActGetUser && target != "" && c.Principal.User == UserName(target) {
		return nil
	}
	if !authz.Allowed(c.Principal.CompanyKind, c.Principal.Role, actionPermission[act]) {
		return errNotPermitted
	}
	return nil
}

// authorizeAdmin is for grants and the audit log: Administrators only.
func authorizeAdmin(c Caller, company string) error {
	if err := inSessionCompany(c, company); err != nil {
		return err
	}
	if c.Principal.Role != roleAdmin {
		return errAdminRequired
	}
	return nil
}

// authorizeListGrants lets Administrators list every grant and other
// members only their own (ownOnly true).
func authorizeListGrants(c Caller, company string) (ownOnly bool, err error) {
	if err := inSessionCompany(c, company); err != nil {
		return false, err
	}
	return c.Principal.Role != roleAdmin, nil
}

// hasAllExtended: an operator's Administrators hold every extended
// permission without grants (R-DIR-10).
func hasAllExtended(kind CompanyKind, role Role) bool {
	return kind == kindOperator && role == roleAdmin
}

// grantAllows reports whether grant g covers the extended permission asked.
func grantAllows(g *Grant, scope GrantScope, level GrantLevel, project string) bool {
	if g.Scope != scope || g.Project != project {
		return false
	}
	return g.Level == level || g.Level == authz.LevelManage
}

// defaultRole is R-ID-1 for a user the company adds itself.
func defaultRole(kind CompanyKind) Role { return authz.DefaultRole(kind) }
