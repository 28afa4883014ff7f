// Package authz is who may do what in Vigil, decided in one table that every
// service consults: R-ID-3's role matrix for a company's own area, what every
// member may do, the extended permissions of R-DIR-10 that an operator's
// users hold by grant, and what platform administrators may do (R-ID-11).
//
// The package speaks plain Go values, no proto: the enums below carry the
// same numbers and names as those of vigil.identity.v1, so that the
// handlers convert with a cast (a test holds the two together), and so that
// domain packages depend on the rules, not on the wire.
package authz

// Role is a user's role in one company (R-ID-1, R-ID-3).
type Role int32

// The roles, numbered as vigil.identity.v1.Role.
const (
	RoleUnspecified   Role = 0
	RoleRestricted    Role = 1
	RoleStandard      Role = 2
	RolePower         Role = 3
	RoleAdministrator Role = 4
)

var roleNames = [...]string{"ROLE_UNSPECIFIED", "ROLE_RESTRICTED_USER", "ROLE_STANDARD_USER", "ROLE_POWER_USER", "ROLE_ADMINISTRATOR"}

// Roles are the assignable roles, least first.
var Roles = []Role{RoleRestricted, RoleStandard, RolePower, RoleAdministrator}

// String is the role's enum name, e.g. ROLE_ADMINISTRATOR.
func (r Role) String() string {
	if r >= 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "ROLE_UNSPECIFIED"
}

// ParseRole reads an enum name; unknown names are RoleUnspecified.
func ParseRole(s string) Role {
	for i, n := range roleNames {
		if n == s {
			return Role(i)
		}
	}
	return RoleUnspecified
}

// CompanyKind is operator (customer) or supplier.
type CompanyKind int32

// The kinds, numbered as vigil.identity.v1.CompanyKind and vigil.directory.v1.CompanyKind.
const (
	KindUnspecified CompanyKind = 0
	KindOperator    CompanyKind = 1
	KindSupplier    CompanyKind = 2
)

var kindNames = [...]string{"COMPANY_KIND_UNSPECIFIED", "COMPANY_KIND_OPERATOR", "COMPANY_KIND_SUPPLIER"}

// Kinds are both company kinds.
var Kinds = []CompanyKind{KindOperator, KindSupplier}

// String is the kind's enum name.
func (k CompanyKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "COMPANY_KIND_UNSPECIFIED"
}

// ParseCompanyKind reads an enum name; unknown names are KindUnspecified.
func ParseCompanyKind(s string) CompanyKind {
	for i, n := range kindNames {
		if n == s {
			return CompanyKind(i)
		}
	}
	return KindUnspecified
}

// GrantScope is the part of an operator's platform an extended permission
// covers (R-DIR-10), numbered as vigil.identity.v1.GrantScope.
type GrantScope int32

// The scopes.
const (
	ScopeUnspecified GrantScope = 0
	ScopeSuppliers   GrantScope = 1
	ScopeProject     GrantScope = 2
)

// GrantLevel is what an extended permission allows, numbered as
// vigil.identity.v1.GrantLevel. Manage implies view.
type GrantLevel int32

// The levels.
const (
	LevelUnspecified GrantLevel = 0
	LevelView        GrantLevel = 1
	LevelManage      GrantLevel = 2
)

// Covers reports whether a grant of level l allows what level want asks.
func (l GrantLevel) Covers(want GrantLevel) bool {
	return l == want || l == LevelManage && want == LevelView
}

// DefaultRole is the role a company gives a user it adds itself (R-ID-1):
// Restricted user in an operator, Power user in a supplier.
func DefaultRole(kind CompanyKind) Role {
	if kind == KindSupplier {
		return RolePower
	}
	return RoleRestricted
}

var scopeNames = [...]string{"GRANT_SCOPE_UNSPECIFIED", "GRANT_SCOPE_SUPPLIERS", "GRANT_SCOPE_PROJECT"}

// String is the scope's enum name.
func (s GrantScope) String() string {
	if s >= 0 && int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return scopeNames[0]
}

var levelNames = [...]string{"GRANT_LEVEL_UNSPECIFIED", "GRANT_LEVEL_VIEW", "GRANT_LEVEL_MANAGE"}

// String is the level's enum name.
func (l GrantLevel) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return levelNames[0]
}
