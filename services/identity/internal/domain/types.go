// Package domain is identity's business rules: sign-up, sessions, users and
// memberships, passwords and two-factor, link tokens, grants, the audit log,
// the revocation log and the event feed. It speaks plain Go values and typed
// errors from runtime/errs (never generated code: handlers and clients
// convert), the store persists.
//
// Who may do what is decided by runtime/authz, called from policy.go; the
// one way to prove a credential is credentials.go; what a company sees of a
// person is view.go.
package domain

import (
	"time"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/names"
)

// Plain types shared with runtime/authz and runtime/auth; their numbers are
// those of the proto enums, so that handlers convert with a cast.
type (
	Role        = authz.Role
	CompanyKind = authz.CompanyKind
	Permission  = authz.Action
	GrantScope  = authz.GrantScope
	GrantLevel  = authz.GrantLevel
	RevKind     = auth.RevocationKind
)

// State is a membership's state, numbered as vigil.identity.v1.User.State.
type State int32

// The states.
const (
	StateUnspecified State = 0
	StateInvited     State = 1 // added, not joined yet (R-ID-10)
	StateActive      State = 2
	StateDeactivated State = 3 // data kept, cannot sign in (R-ID-7)
)

var stateNames = [...]string{"STATE_UNSPECIFIED", "STATE_INVITED", "STATE_ACTIVE", "STATE_DEACTIVATED"}

// String is the state's enum name, e.g. STATE_INVITED.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return stateNames[0]
}

// Template is the notification template of an e-mail, numbered as
// vigil.notify.v1.Template.
type Template int32

// The templates identity sends.
const (
	TemplateInvitation    Template = 1
	TemplatePasswordReset Template = 2
	TemplateReviewNewUser Template = 3
)

// String names the template for logs.
func (t Template) String() string {
	switch t {
	case TemplateInvitation:
		return "invitation"
	case TemplatePasswordReset:
		return "password_reset"
	case TemplateReviewNewUser:
		return "review_new_user"
	}
	return "unknown"
}

// Profile is a person's details: its own (on the Login), or as one company
// shows them (on the Membership, R-ID-10).
type Profile struct {
	GivenName  string
	FamilyName string
	Function   string
	Phone      string
	Mobile     string
	Language   string
}

// DisplayName is "Given Family".
func (p *Profile) DisplayName() string {
	switch {
	case p.GivenName == "":
		return p.FamilyName
	case p.FamilyName == "":
		return p.GivenName
	}
	return p.GivenName + " " + p.FamilyName
}

// Login is a person: one e-mail, one password, one TOTP authenticator, and
// the person's own profile. ID is the {user} of users/{user}. Only the
// person changes its e-mail, password, second factor and own profile
// (R-ID-10).
type Login struct {
	ID    string
	Email string // normalized: trimmed, lower case
	Profile
	PasswordHash string // PHC argon2id; empty until the person sets one
	// TOTP (R-ID-8), sealed with the operator's secret key (secrets.go):
	// TOTPSealed once confirmed, TOTPPendingSealed between EnrollTotp and
	// ConfirmTotp; TOTPLastStep is the last accepted time step.
	TOTPSealed        []byte `json:",omitempty"`
	TOTPPendingSealed []byte `json:",omitempty"`
	TOTPLastStep      int64
	// TOTPSecret and TOTPPendingSecret are the clear secrets of files written
	// before secrets were sealed: read once at start, sealed, and cleared.
	TOTPSecret        []byte `json:",omitempty"`
	TOTPPendingSecret []byte `json:",omitempty"`
	// EmailUndeliverable is the SMTP answer of the last permanent failure
	// to mail Email (notify reports it), since EmailUndeliverableTime;
	// cleared when the person uses an e-mailed link.
	EmailUndeliverable     string    `json:",omitempty"`
	EmailUndeliverableTime time.Time `json:",omitzero"`
	// EmailProvenTime is when the person last used a link e-mailed to
	// Email (an invitation, a password reset): it holds the address. A
	// sign-up alone proves nothing of the e-mail it gives; rights granted
	// by e-mail address (R-ID-11's platform administrators) wait for it.
	EmailProvenTime time.Time `json:",omitzero"`
	LastCompany     string    // {company} of the last session
	CreateTime      time.Time
	UpdateTime      time.Time
}

// TwoFactor reports whether a confirmed authenticator is enrolled.
func (l *Login) TwoFactor() bool { return len(l.TOTPSealed) > 0 || len(l.TOTPSecret) > 0 }

// linkUsed records that a link e-mailed to l reached its owner at now: the
// address is proven and deliverable.
func (l *Login) linkUsed(now time.Time) {
	l.EmailUndeliverable, l.EmailUndeliverableTime = "", time.Time{}
	l.EmailProvenTime = now
}

// Membership is a login's role, state and details in one company.
type Membership struct {
	Company string // {company}
	User    string // {user}
	Role    Role
	State   State
	// Profile is the person as this company shows it (R-ID-10): set when
	// the person is added, edited by the company's Administrators and by
	// the person's own changes while active. Records written before it
	// existed have no names; the login's profile stands in for them.
	Profile
	// ActiveSince is when the membership last became active (joined or
	// reactivated): a session that began before it never acts in the
	// company (issue 7 point 4). Zero in records written before it existed.
	ActiveSince time.Time `json:",omitzero"`
	// InvitedBy is the customer ({company}) whose contact brought the
	// person in (R-DIR-5, AddMember); empty for a member the company added
	// itself. Only that customer may add the same contact again (a retry).
	InvitedBy  string `json:",omitempty"`
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
	return names.Company.Format(c.ID)
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

// RevocationEvent is one entry of the revocation log (R-ID-7), as every
// verifier applies it; the store assigns its Sequence.
type RevocationEvent = auth.Revocation

// SigningKey is one Ed25519 token-signing key.
type SigningKey struct {
	ID string
	// SealedSeed is the ed25519 seed, sealed with the operator's secret key.
	SealedSeed []byte `json:",omitempty"`
	// Seed is the clear seed of files written before seeds were sealed:
	// sealed at start, then cleared.
	Seed       []byte `json:",omitempty"`
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

// PendingSignUp is a sign-up in flight (issue 7 point 6): written before
// directory is asked to create the company, deleted in the transaction
// that creates its Administrator. One left behind (a crash, a failed
// compensation) is recovered once it expires: its company is deleted from
// directory, so that sign-up is all-or-nothing across the two services.
type PendingSignUp struct {
	ID         string // the request id directory dedups CreateCompany on
	Draft      CompanyDraft
	CreateTime time.Time
	ExpireTime time.Time
	// Abandoned is set by the recovery before it deletes the company: the
	// sign-up can then no longer complete.
	Abandoned bool `json:",omitempty"`
}
