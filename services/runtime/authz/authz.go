package authz

import (
	"context"
	"fmt"

	"github.com/vigil/vigil/services/runtime/errs"
)

// Action is one thing a user may or may not do. Actions 1…15 are the rows of
// SPEC R-ID-3's matrix, numbered as vigil.identity.v1.Permission (row 3 is
// split into its employee and company halves); the others are what the rest
// of SPEC says of who may do what.
type Action int32

// R-ID-3, row by row.
const (
	ReceiveWeeklyEmail               Action = 1
	ViewCompanyCertificates          Action = 2
	ViewExpiringEmployeeCertificates Action = 3
	ViewExpiringCompanyCertificates  Action = 4
	UploadCompanyCertificates        Action = 5 // "(and edit company master data)"
	ViewEmployeeCertificates         Action = 6
	UploadEmployeeCertificates       Action = 7
	AssignEmployees                  Action = 8
	RegisterEmployees                Action = 9
	EditEmployees                    Action = 10
	ViewUsers                        Action = 11
	AddUsers                         Action = 12
	EditUsers                        Action = 13
	SendPasswordReset                Action = 14
	ManageUserState                  Action = 15

	// EditMasterData is R-ID-3 row 4's second half: the same row.
	EditMasterData = UploadCompanyCertificates
)

// Beyond the matrix.
const (
	// ReadMasterData: every member reads its company's master data (R-ID-3).
	ReadMasterData Action = 100 + iota
	// ListEmployees: every member reads the employee list, without
	// certificates (R-ID-3).
	ListEmployees
	// ManageCompanySettings: require two factors (R-ID-8), set the group parent.
	ManageCompanySettings
	// ManageGrants: give and take an operator's extended permissions (R-DIR-10).
	ManageGrants
	// ReadAuditLog: the company's audit log (R-ID-9).
	ReadAuditLog
	// ViewCustomers: a supplier's "my customers" list.
	ViewCustomers
	// ManageReferences: a supplier names its references for each customer
	// (R-DIR-5, R-DIR-8): which of its users' details a customer sees.
	ManageReferences
	// ViewOwnCompliance: a supplier's own compliance towards each customer
	// (what each still misses), which tells of its documents (R-VAULT-6).
	ViewOwnCompliance
	// ViewAccessLog: who downloaded the supplier's documents (R-VAULT-8).
	ViewAccessLog
	// ManageWebhooks: a company's webhooks and change feed (R-NOTIF-6).
	ManageWebhooks

	// ViewSuppliers: an operator's suppliers area, read only (R-DIR-10):
	// suppliers, their master data and references, requirements, the
	// documents collected, compliance.
	ViewSuppliers
	// ManageSuppliers: register suppliers, add contacts, set requirements
	// and specific types, request and review documents (R-DIR-10).
	ManageSuppliers
	// ImportSuppliers: a mass registration (R-DIR-4); a platform
	// administrator may run one for a customer (R-ID-11).
	ImportSuppliers
	// CreateProject: add a project to an operator.
	CreateProject
	// ViewProject: one project and the employees assigned to it (R-DIR-10).
	ViewProject
	// ManageProject: edit one project (R-DIR-10).
	ManageProject

	// ManageCatalog: the platform document-type catalog (R-ID-11).
	ManageCatalog
	// ManageDeadLetters: list and retry notifications that failed for good (R-NOTIF-5).
	ManageDeadLetters
	// RunJobs: list and run notify's scheduled jobs (R-NOTIF-1, R-NOTIF-2).
	RunJobs

	// ReadOwnProfile: every member reads its own profile (R-ID-3), its
	// membership as the company shows it.
	ReadOwnProfile
)

// cell is one decision of the table.
type cell int8

const (
	no     cell = iota // refused
	yes                // allowed by the role alone
	view               // allowed with a grant of view (or manage) in the row's scope
	manage             // allowed with a grant of manage in the row's scope
)

// kinds a row applies to; elsewhere it is refused.
type kinds int8

const (
	operators kinds = 1 << iota
	suppliers
	both = operators | suppliers
)

// row is one line of the table: the action, the company kinds it exists
// in, the decision per role (Restricted, Standard, Power, Administrator),
// the grant scope of view/manage cells, and whether platform administrators
// may do it whatever their company (R-ID-11).
type row struct {
	name     string
	kinds    kinds
	roles    [4]cell
	scope    GrantScope
	platform bool
}

// table is every authorization rule of Vigil. Read it as SPEC: R-ID-3's
// matrix first, then what every member may do, then R-DIR-10's suppliers
// area and projects, then R-ID-11's platform administrators. The four cells
// are Restricted user, Standard user, Power user, Administrator.
var table = map[Action]row{
	ReceiveWeeklyEmail:               {"receive the weekly compliance e-mail", both, [4]cell{yes, yes, yes, yes}, 0, false},
	ViewCompanyCertificates:          {"view company certificates", both, [4]cell{no, yes, yes, yes}, 0, false},
	ViewExpiringEmployeeCertificates: {"view employee certificates that expire soon", both, [4]cell{no, yes, yes, yes}, 0, false},
	ViewExpiringCompanyCertificates:  {"view company certificates that expire soon", both, [4]cell{no, no, yes, yes}, 0, false},
	UploadCompanyCertificates:        {"upload company certificates and edit company master data", both, [4]cell{no, no, yes, yes}, 0, false},
	ViewEmployeeCertificates:         {"view employee certificates", both, [4]cell{no, yes, yes, yes}, 0, false},
	UploadEmployeeCertificates:       {"upload employee certificates", both, [4]cell{no, yes, yes, yes}, 0, false},
	AssignEmployees:                  {"assign employees", both, [4]cell{no, yes, yes, yes}, 0, false},
	RegisterEmployees:                {"register employees", both, [4]cell{no, yes, yes, yes}, 0, false},
	EditEmployees:                    {"edit and delete employees", both, [4]cell{no, yes, yes, yes}, 0, false},
	ViewUsers:                        {"view user accounts", both, [4]cell{no, no, yes, yes}, 0, false},
	AddUsers:                         {"add users", both, [4]cell{no, no, no, yes}, 0, false},
	EditUsers:                        {"edit user data", both, [4]cell{no, no, no, yes}, 0, false},
	SendPasswordReset:                {"send a user a password reset", both, [4]cell{no, no, no, yes}, 0, false},
	ManageUserState:                  {"activate, deactivate or delete a user", both, [4]cell{no, no, no, yes}, 0, false},

	ReadMasterData:        {"read the company's master data", both, [4]cell{yes, yes, yes, yes}, 0, false},
	ListEmployees:         {"list the company's employees", both, [4]cell{yes, yes, yes, yes}, 0, false},
	ManageCompanySettings: {"change the company's security settings and group", both, [4]cell{no, no, no, yes}, 0, false},
	ManageGrants:          {"manage extended permissions", operators, [4]cell{no, no, no, yes}, 0, false},
	ReadAuditLog:          {"read the audit log", both, [4]cell{no, no, no, yes}, 0, false},
	ViewCustomers:         {"view the company's customers", suppliers, [4]cell{yes, yes, yes, yes}, 0, false},
	ManageReferences:      {"name the company's references for a customer", suppliers, [4]cell{no, no, no, yes}, 0, false},
	ViewOwnCompliance:     {"view the company's compliance towards its customers", suppliers, [4]cell{no, yes, yes, yes}, 0, false},
	ViewAccessLog:         {"view who downloaded the company's documents", suppliers, [4]cell{no, no, no, yes}, 0, false},
	ManageWebhooks:        {"manage webhooks and read the event feed", both, [4]cell{no, no, no, yes}, 0, false},
	ReadOwnProfile:        {"read your own profile", both, [4]cell{yes, yes, yes, yes}, 0, false},

	ViewSuppliers:   {"view the suppliers area", operators, [4]cell{view, view, view, yes}, ScopeSuppliers, false},
	ManageSuppliers: {"manage the suppliers area", operators, [4]cell{manage, manage, manage, yes}, ScopeSuppliers, false},
	ImportSuppliers: {"register suppliers in bulk", operators, [4]cell{manage, manage, manage, yes}, ScopeSuppliers, true},
	CreateProject:   {"create a project", operators, [4]cell{no, no, no, yes}, 0, false},
	ViewProject:     {"view a project", operators, [4]cell{view, view, view, yes}, ScopeProject, false},
	ManageProject:   {"manage a project", operators, [4]cell{manage, manage, manage, yes}, ScopeProject, false},

	ManageCatalog:     {"manage the platform catalog", 0, [4]cell{}, 0, true},
	ManageDeadLetters: {"list and retry dead letters", 0, [4]cell{}, 0, true},
	RunJobs:           {"list and run scheduled jobs", 0, [4]cell{}, 0, true},
}

// String names the action as the table does.
func (a Action) String() string {
	if r, ok := table[a]; ok {
		return r.name
	}
	return fmt.Sprintf("action %d", int32(a))
}

// Requirement is what the table asks of a member with a role in a company
// of a kind to do an action: nothing more (Allowed), a grant (Scope and
// Level set), or it is refused.
type Requirement struct {
	Allowed bool
	Scope   GrantScope
	Level   GrantLevel
}

// Decide reads the table's cell for a member of a company of kind with role.
func Decide(kind CompanyKind, role Role, a Action) Requirement {
	r, ok := table[a]
	if !ok || role < RoleRestricted || role > RoleAdministrator || !r.kinds.has(kind) {
		return Requirement{}
	}
	switch r.roles[role-1] {
	case yes:
		return Requirement{Allowed: true}
	case view:
		return Requirement{Scope: r.scope, Level: LevelView}
	case manage:
		return Requirement{Scope: r.scope, Level: LevelManage}
	}
	return Requirement{}
}

func (k kinds) has(kind CompanyKind) bool {
	switch kind {
	case KindOperator:
		return k&operators != 0
	case KindSupplier:
		return k&suppliers != 0
	}
	return false
}

// Allowed reports whether the role alone allows the action (no grant needed).
func Allowed(kind CompanyKind, role Role, a Action) bool { return Decide(kind, role, a).Allowed }

// Permissions lists R-ID-3's rows (actions 1…15) that role holds in a
// company of kind, in order.
func Permissions(kind CompanyKind, role Role) []Action {
	var out []Action
	for a := ReceiveWeeklyEmail; a <= ManageUserState; a++ {
		if Allowed(kind, role, a) {
			out = append(out, a)
		}
	}
	return out
}

// IsMatrixPermission reports whether a is one of R-ID-3's rows.
func IsMatrixPermission(a Action) bool { return a >= ReceiveWeeklyEmail && a <= ManageUserState }

// Subject is who asks: a user signed in to one company (R-ID-4).
type Subject struct {
	User          string // users/{user}
	Company       string // companies/{company}: the session's company
	Kind          CompanyKind
	Role          Role
	PlatformAdmin bool
}

// Grants answers whether a user holds an extended permission in an
// operator (R-DIR-10). Identity answers from its store; other services ask
// identity and cache the answer until the grant changes.
type Grants interface {
	HasGrant(ctx context.Context, user, company string, scope GrantScope, level GrantLevel, project string) (bool, error)
}

// Refusal reasons (ErrorInfo.reason of the PERMISSION_DENIED errors).
const (
	ReasonNotSignedIn       = "MISSING_TOKEN"
	ReasonOtherCompany      = "OTHER_COMPANY"
	ReasonKindNotPermitted  = "COMPANY_KIND_NOT_PERMITTED"
	ReasonRoleNotPermitted  = "ROLE_NOT_PERMITTED"
	ReasonGrantRequired     = "GRANT_REQUIRED"
	ReasonPlatformAdminOnly = "PLATFORM_ADMIN_REQUIRED"
)

// Authorize decides whether s may do a in company (`companies/{company}`),
// for a project-scoped action in project (`companies/{company}/projects/{p}`).
// It is the one place every service decides a permission: the session's
// company must be company (R-ID-4, R-DIR-2), unless platform administrators
// may do a anywhere (R-ID-11); then the table decides, asking grants for
// the extended permissions it names (R-DIR-10). A refusal is an
// errs PERMISSION_DENIED with one of the Reason… constants.
func Authorize(ctx context.Context, s Subject, company string, a Action, project string, grants Grants) error {
	r, ok := table[a]
	if !ok {
		return errs.Internal(fmt.Errorf("authz: no rule for %s", a))
	}
	if s.User == "" {
		return errs.Unauthenticated(ReasonNotSignedIn, "missing bearer access token")
	}
	if r.platform && s.PlatformAdmin {
		return nil
	}
	if r.kinds == 0 {
		return errs.PermissionDenied(ReasonPlatformAdminOnly, "only platform administrators may %s", r.name)
	}
	if s.Company != company {
		return errs.PermissionDenied(ReasonOtherCompany, "the session is scoped to another company: switch company first")
	}
	if !r.kinds.has(s.Kind) {
		return errs.PermissionDenied(ReasonKindNotPermitted, "a company of kind %s cannot %s", s.Kind, r.name)
	}
	need := Decide(s.Kind, s.Role, a)
	if need.Allowed {
		return nil
	}
	if need.Level == LevelUnspecified {
		return errs.PermissionDenied(ReasonRoleNotPermitted, "your role in this company does not allow you to %s", r.name)
	}
	if need.Scope == ScopeProject && project == "" {
		return errs.Internal(fmt.Errorf("authz: %s needs a project", a))
	}
	if need.Scope != ScopeProject {
		project = ""
	}
	if grants == nil {
		return errs.PermissionDenied(ReasonGrantRequired, "to %s you need an extended permission from an Administrator", r.name)
	}
	ok, err := grants.HasGrant(ctx, s.User, company, need.Scope, need.Level, project)
	if err != nil {
		return err
	}
	if !ok {
		return errs.PermissionDenied(ReasonGrantRequired, "to %s you need an extended permission from an Administrator", r.name)
	}
	return nil
}
