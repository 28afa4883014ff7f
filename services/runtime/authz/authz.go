// Package authz is R-ID-3's role matrix, defined once and used by every
// service: which company role holds which permission in the company's own
// area ("My company"). Extended permissions beyond the company (R-DIR-10)
// are grants stored in identity and checked through its CheckPermission RPC.
package authz

import (
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
)

type role = identityv1.Role
type perm = identityv1.Permission

const (
	restricted = identityv1.Role_ROLE_RESTRICTED_USER
	standard   = identityv1.Role_ROLE_STANDARD_USER
	power      = identityv1.Role_ROLE_POWER_USER
	admin      = identityv1.Role_ROLE_ADMINISTRATOR
)

// matrix is SPEC R-ID-3 row by row (✓ = listed). Row 3 ("view certificates
// that expire soon": Standard employee only, Power and Admin employee and
// company) is split into its employee and company halves.
var matrix = map[perm][]role{
	identityv1.Permission_PERMISSION_RECEIVE_WEEKLY_EMAIL:                {restricted, standard, power, admin},
	identityv1.Permission_PERMISSION_VIEW_COMPANY_CERTIFICATES:           {standard, power, admin},
	identityv1.Permission_PERMISSION_VIEW_EXPIRING_EMPLOYEE_CERTIFICATES: {standard, power, admin},
	identityv1.Permission_PERMISSION_VIEW_EXPIRING_COMPANY_CERTIFICATES:  {power, admin},
	identityv1.Permission_PERMISSION_UPLOAD_COMPANY_CERTIFICATES:         {power, admin},
	identityv1.Permission_PERMISSION_VIEW_EMPLOYEE_CERTIFICATES:          {standard, power, admin},
	identityv1.Permission_PERMISSION_UPLOAD_EMPLOYEE_CERTIFICATES:        {standard, power, admin},
	identityv1.Permission_PERMISSION_ASSIGN_EMPLOYEES:                    {standard, power, admin},
	identityv1.Permission_PERMISSION_REGISTER_EMPLOYEES:                  {standard, power, admin},
	identityv1.Permission_PERMISSION_EDIT_EMPLOYEES:                      {standard, power, admin},
	identityv1.Permission_PERMISSION_VIEW_USERS:                          {power, admin},
	identityv1.Permission_PERMISSION_ADD_USERS:                           {admin},
	identityv1.Permission_PERMISSION_EDIT_USERS:                          {admin},
	identityv1.Permission_PERMISSION_SEND_PASSWORD_RESET:                 {admin},
	identityv1.Permission_PERMISSION_MANAGE_USER_STATE:                   {admin},
}

// Allowed reports whether a member with role holds permission p in its own
// company. The matrix is the same for operators and suppliers; kind is taken
// so that callers state what they check, and a future divergence has one home.
func Allowed(_ identityv1.CompanyKind, r identityv1.Role, p identityv1.Permission) bool {
	for _, allowed := range matrix[p] {
		if allowed == r {
			return true
		}
	}
	return false
}

// Permissions lists every permission role r holds, in enum order.
func Permissions(kind identityv1.CompanyKind, r identityv1.Role) []identityv1.Permission {
	var out []identityv1.Permission
	for i := range len(identityv1.Permission_name) {
		p := identityv1.Permission(i)
		if p != identityv1.Permission_PERMISSION_UNSPECIFIED && Allowed(kind, r, p) {
			out = append(out, p)
		}
	}
	return out
}

// DefaultRole is the role a company gives a user it adds itself (R-ID-1):
// Restricted user in an operator, Power user in a supplier.
func DefaultRole(kind identityv1.CompanyKind) identityv1.Role {
	if kind == identityv1.CompanyKind_COMPANY_KIND_SUPPLIER {
		return power
	}
	return restricted
}
