package authz

import (
	"testing"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
)

// TestMatrix checks every cell of R-ID-3 (15 permissions × 4 roles) for both
// company kinds, against the table as SPEC prints it.
func TestMatrix(t *testing.T) {
	roles := []identityv1.Role{
		identityv1.Role_ROLE_RESTRICTED_USER, identityv1.Role_ROLE_STANDARD_USER,
		identityv1.Role_ROLE_POWER_USER, identityv1.Role_ROLE_ADMINISTRATOR,
	}
	// want[p] = allowed for Restricted, Standard, Power, Admin.
	want := map[identityv1.Permission][4]bool{
		identityv1.Permission_PERMISSION_RECEIVE_WEEKLY_EMAIL:                {true, true, true, true},
		identityv1.Permission_PERMISSION_VIEW_COMPANY_CERTIFICATES:           {false, true, true, true},
		identityv1.Permission_PERMISSION_VIEW_EXPIRING_EMPLOYEE_CERTIFICATES: {false, true, true, true},
		identityv1.Permission_PERMISSION_VIEW_EXPIRING_COMPANY_CERTIFICATES:  {false, false, true, true},
		identityv1.Permission_PERMISSION_UPLOAD_COMPANY_CERTIFICATES:         {false, false, true, true},
		identityv1.Permission_PERMISSION_VIEW_EMPLOYEE_CERTIFICATES:          {false, true, true, true},
		identityv1.Permission_PERMISSION_UPLOAD_EMPLOYEE_CERTIFICATES:        {false, true, true, true},
		identityv1.Permission_PERMISSION_ASSIGN_EMPLOYEES:                    {false, true, true, true},
		identityv1.Permission_PERMISSION_REGISTER_EMPLOYEES:                  {false, true, true, true},
		identityv1.Permission_PERMISSION_EDIT_EMPLOYEES:                      {false, true, true, true},
		identityv1.Permission_PERMISSION_VIEW_USERS:                          {false, false, true, true},
		identityv1.Permission_PERMISSION_ADD_USERS:                           {false, false, false, true},
		identityv1.Permission_PERMISSION_EDIT_USERS:                          {false, false, false, true},
		identityv1.Permission_PERMISSION_SEND_PASSWORD_RESET:                 {false, false, false, true},
		identityv1.Permission_PERMISSION_MANAGE_USER_STATE:                   {false, false, false, true},
	}
	if got := len(identityv1.Permission_name) - 1; got != len(want) {
		t.Fatalf("the enum has %d permissions, the table %d: a new permission needs its row", got, len(want))
	}
	cells := 0
	for _, kind := range []identityv1.CompanyKind{identityv1.CompanyKind_COMPANY_KIND_OPERATOR, identityv1.CompanyKind_COMPANY_KIND_SUPPLIER} {
		for p, row := range want {
			for i, r := range roles {
				if got := Allowed(kind, r, p); got != row[i] {
					t.Errorf("%s %s %s: allowed=%v, want %v", kind, r, p, got, row[i])
				}
				cells++
			}
		}
		if Allowed(kind, identityv1.Role_ROLE_UNSPECIFIED, identityv1.Permission_PERMISSION_RECEIVE_WEEKLY_EMAIL) {
			t.Errorf("%s: an unspecified role must hold nothing", kind)
		}
	}
	if cells != 2*15*4 {
		t.Fatalf("checked %d cells, want 120", cells)
	}
}

func TestPermissionsListsEveryAllowed(t *testing.T) {
	got := Permissions(identityv1.CompanyKind_COMPANY_KIND_OPERATOR, identityv1.Role_ROLE_POWER_USER)
	if len(got) != 11 {
		t.Fatalf("power user holds %d permissions, want 11: %v", len(got), got)
	}
	if len(Permissions(identityv1.CompanyKind_COMPANY_KIND_SUPPLIER, identityv1.Role_ROLE_RESTRICTED_USER)) != 1 {
		t.Fatal("a restricted user holds only the weekly e-mail")
	}
}

func TestDefaultRole(t *testing.T) {
	if DefaultRole(identityv1.CompanyKind_COMPANY_KIND_OPERATOR) != identityv1.Role_ROLE_RESTRICTED_USER {
		t.Error("R-ID-1: an operator's default role is Restricted user")
	}
	if DefaultRole(identityv1.CompanyKind_COMPANY_KIND_SUPPLIER) != identityv1.Role_ROLE_POWER_USER {
		t.Error("R-ID-1: a supplier's default role is Power user")
	}
}
