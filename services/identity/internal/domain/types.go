// Package domain is identity's business rules: sign-up, sessions, users and
// memberships, passwords and two-factor, link tokens, grants, the audit log
// and the revocation log. It speaks plain Go values and typed errors from
// runtime/errs; handlers translate protos, the store persists.
//
// R-ID-3 (who may do what to users) lives in policy.go, nowhere else.
package domain

import (
	"time"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/runtime/authz"
)

// Enum types shared with the contract (plain integers, no proto behaviour
// needed); runtime/authz uses the same.
type (
	Role        = authz.Role
	State       = identityv1.User_State
	CompanyKind = authz.CompanyKind
	Permission  = authz.Action
	GrantScope  = authz.GrantScope
	GrantLevel  = authz.GrantLevel
	RevKind     = identityv1.RevocationEvent_Kind
	Template    = notifyv1.Template
)

// Login is a person: one e-mail, one password, one TOTP authenticator, and
// the profile shared by all its memberships. ID is the {user} of users/{user}.
type Login struct {
	ID           string
	Email        string // normalized: trimmed, lower case
	GivenName    string
	FamilyName   string
	Function     string
	Phone        string
	Mobile       string
	Language     string
	PasswordHash string // PHC argon2id; empty while only invited
	// TOTP (R-ID-8): Secret is set once confirmed; PendingSecret between
	// EnrollTotp and ConfirmTotp; LastStep is the last accepted time step.
	TOTPSecret        []byte
	TOTPPendingSecret []byte
	TOTPLastStep      int64
	LastCompany       string // {company} of the last session
	CreateTime        time.Time
	UpdateTime        time.Time
}

// TwoFactor reports whether a confirmed authenticator is enrolled.
func (l *Login) TwoFactor() bool { return len(l.TOTPSecret) > 0 }

// DisplayName is "Given Family".
func (l *Login) DisplayName() string {
	switch {
	case l.GivenName == "":
		return l.FamilyName
	case l.FamilyName == "":
		return l.GivenName
	}
	return l.GivenName + " " + l.FamilyName
}

// Membership is a login's role and state in one company.
type Membership struct {
	Company    string // {company}
	User       string // {user}
	Role       Role
	State      State
	CreateTime time.Time
	UpdateTime time.Time
}

// Company is identity's copy of what it needs of a directory company.
type Company struct {
	ID               string // {company}
	Kind             CompanyKind
	DisplayName      string
	RequireTwoFactor bool
	Language         string
	UpdateTime       time.Time
}

// Label is the company's display name, or its resource name while
// identity has not been told the name.
func (c *Company) Label() string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return CompanyName(c.ID)
}

// Session is one sign-in, scoped to one company at a time (R-ID-4), with a
// rotating refresh token: only its digest is stored, and the digests of the
// last spent tokens are kept to detect reuse.
type Session struct {
	ID          string
	User        string
	Company     string
	RefreshHash [32]byte
	Spent       [][32]byte // most recent last, at most MaxSpent
	CreateTime  time.Time
	ExpireTime  time.Time // idle expiry, pushed on each refresh
	MaxTime     time.Time // absolute expiry
	// SecondFactor says a TOTP code was verified for this session, at sign-in
	// or when the authenticator was confirmed from it. A session without it
	// is refused Refresh and SwitchCompany while its login has two-factor
	// (R-ID-8): whatever path created it, it cannot outlive its access
	// token or reach the login's other companies. Records written before
	// the field existed read false, and so fail closed.
	SecondFactor bool `json:",omitempty"`
}

// MaxSpent bounds the spent refresh digests remembered per session.
const MaxSpent = 16

// LinkKind is what an e-mailed link token is for.
type LinkKind int

// Link token kinds.
const (
	LinkReset      LinkKind = 1
	LinkInvitation LinkKind = 2
)

// LinkToken is a single-use e-mailed token (R-ID-6), stored by digest.
type LinkToken struct {
	Hash       [32]byte
	Kind       LinkKind
	User       string
	Company    string // invitation only
	CreateTime time.Time
	ExpireTime time.Time
}

// Grant is an extended permission (R-DIR-10).
type Grant struct {
	ID         string
	Company    string
	User       string
	Scope      GrantScope
	Level      GrantLevel
	Project    string // companies/{company}/projects/{project} for a project scope
	Creator    string // {user}
	CreateTime time.Time
}

// AuditEvent is one entry of a company's audit log (R-ID-9).
type AuditEvent struct {
	Seq              uint64 // assigned by the store
	Company          string
	Actor            string // users/{user}, or empty for the platform
	ActorDisplayName string
	Action           string
	Target           string
	Detail           map[string]string
	Time             time.Time
	RequestID        string
}

// RevocationEvent is one entry of the revocation log (R-ID-7).
type RevocationEvent struct {
	Seq       uint64 // assigned by the store
	User      string // users/{user}
	Company   string // companies/{company} or empty
	Kind      RevKind
	Role      Role
	Session   string
	NotBefore time.Time
}

// SigningKey is one Ed25519 token-signing key.
type SigningKey struct {
	ID         string
	Seed       []byte // ed25519 seed
	CreateTime time.Time
	// RetireTime is when a newer key took over signing; zero while current.
	RetireTime time.Time
}

// Notification is an e-mail waiting in identity's outbox until notify has
// durably accepted it (EnqueueNotification).
type Notification struct {
	ID             string
	IdempotencyKey string
	Template       Template
	Recipients     []Recipient
	Data           map[string]string
	Company        string
	CreateTime     time.Time
	// Link, when set, asks the relay to mint a single-use link token of this
	// kind for LinkUser (in LinkCompany) just before sending, and to put the
	// link in Data["link"]: link tokens never rest in identity's store other
	// than as digests (R-ID-6).
	Link        LinkKind
	LinkUser    string
	LinkCompany string
}

// Recipient is one addressee of a notification.
type Recipient struct {
	User        string // users/{user}, or empty
	Email       string
	DisplayName string
	Language    string
}
